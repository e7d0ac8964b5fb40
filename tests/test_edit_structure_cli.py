"""`python -m core edit --mode structure`: the edit, its bit-identical reproduction, refused knobs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.edit.export import read_edit


@pytest.mark.slow
def test_structure_edit_then_reproduce_bit_identically(edit_files, samples, capsys):
    first = edit_files / "out.png"
    args = ["edit", "--image", str(edit_files / "p.png"), "--mask", str(edit_files / "m.png"), "--mode", "structure"]
    args += ["--denoise", "0.6", "--feature-injection", "0.5", "--attention-injection", "0.25", "--steps", "8"]
    args += ["--audio", str(samples["rain"]), "--prompt", "a street", "--models", "tiny", "--seed", "3"]
    assert main(args + ["--out", str(first), "--quiet"]) == 0
    stored = read_edit(first)
    assert stored.edit.edit_mode == "structure" and stored.edit.feature_injection == 0.5
    assert stored.edit.attention_injection == 0.25 and stored.generation.scheduler == "ddim"
    assert "Edit: structure denoise 0.6, features 0.5, attention 0.25" in Image.open(first).text["parameters"]

    again = edit_files / "again.png"
    redo = ["edit", "--from", str(first), "--image", str(edit_files / "p.png"), "--mask", str(edit_files / "m.png")]
    assert main(redo + ["--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))

    other = edit_files / "other.png"
    assert main(redo + ["--feature-injection", "0", "--out", str(other), "--quiet"]) == 0
    assert not np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(other)))


@pytest.mark.parametrize(("flag", "field"), [("--feature-injection", "feature_injection"),
                                             ("--attention-injection", "attention_injection")])  # fmt: skip
def test_bad_injection_flag_is_one_line_naming_the_field_and_exit_2(edit_files, capsys, flag, field):
    out = edit_files / "o.png"
    args = ["edit", "--image", str(edit_files / "p.png"), "--mode", "structure", flag, "1.5", "--models", "tiny"]
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {field}: must be between 0 and 1 (got 1.5)"
    assert not out.exists()
