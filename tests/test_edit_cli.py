"""`python -m core edit`: an edit, its bit-identical reproduction from the PNG, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.edit.export import read_edit
from core.export import read_params


@pytest.mark.slow
def test_edit_then_reproduce_bit_identically_and_refuse_another_photo_or_mask(edit_files, samples, capsys):
    common = ["--models", "tiny", "--steps", "6", "--quiet"]
    first = edit_files / "out.png"
    args = ["edit", "--image", str(edit_files / "p.png"), "--mask", str(edit_files / "m.png"), "--mode", "variation"]
    args += ["--denoise", "0.7", "--audio", str(samples["thunder"]), "--prompt", "a street", "--out", str(first)]
    assert main(args + common + ["--seed", "3"]) == 0
    stored = read_edit(first)
    assert stored.edit.denoise == 0.7 and stored.edit.image_sha256 and stored.edit.mask_sha256
    assert read_params(first).prompt == "a street"

    again = edit_files / "again.png"
    redo = ["edit", "--from", str(first), "--image", str(edit_files / "p.png"), "--mask", str(edit_files / "m.png")]
    assert main(redo + ["--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))

    capsys.readouterr()
    for command in (["generate"], ["sweep", "--x", "seed=1,2"], ["compare"]):
        assert main([*command, "--from", str(first), "--out", str(edit_files / "g/"), "--quiet"]) == 2
        assert "is an edited photo: reproduce it with `python -m core edit --from" in capsys.readouterr().err
    assert main(["params", str(first)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["prompt"] == "a street" and shown["edit"] == stored.to_dict() and shown["edit"]["denoise"] == 0.7

    alone = edit_files / "alone"
    alone.mkdir()
    (alone / "out.png").write_bytes(first.read_bytes())  # without its photo and mask
    assert main(["edit", "--from", str(alone / "out.png"), "--out", str(alone / "x.png")]) == 2
    assert "error: the photo p.png is neither beside out.png nor in this folder: put it there, or pass it with " \
        "--image FILE" in capsys.readouterr().err  # fmt: skip

    Image.new("RGB", (80, 64), (1, 2, 3)).save(edit_files / "other.png")
    other = ["edit", "--from", str(first), "--image", str(edit_files / "other.png"), "--out", str(edit_files / "x.png")]
    assert main(other) == 2
    assert "other.png is not the photo this image was edited from" in capsys.readouterr().err
    Image.fromarray(np.pad(np.full((8, 8), 255, np.uint8), 20), "L").resize((80, 64)).save(edit_files / "m2.png")
    assert main(redo[:-1] + [str(edit_files / "m2.png"), "--out", str(edit_files / "x.png")]) == 2
    assert "m2.png is not the mask it was made with" in capsys.readouterr().err
    assert not (edit_files / "x.png").exists()


def test_bad_photo_is_one_line_and_exit_2(edit_files, capsys):
    (edit_files / "bad.jpg").write_text("not an image")
    assert (
        main(["edit", "--image", str(edit_files / "bad.jpg"), "--models", "tiny", "--out", str(edit_files / "o.png")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bad.jpg is not an image file this studio reads") and "\n" not in err
    assert main(["edit", "--models", "tiny", "--out", str(edit_files / "o.png")]) == 2
    assert "an edit needs a photo (--image)" in capsys.readouterr().err


def test_an_edits_size_is_its_photos_so_size_flags_say_what_to_use(edit_files, capsys):
    for flag in (["--width", "128"], ["--height", "128"], ["--size", "128x128"]):
        args = [
            "edit",
            "--image",
            str(edit_files / "p.png"),
            *flag,
            "--models",
            "tiny",
            "--out",
            str(edit_files / "o.png"),
        ]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err == "error: an edit works at its photo's size: choose its longer side with --max-side N instead\n"
    assert not (edit_files / "o.png").exists()


def test_from_takes_the_photo_and_mask_beside_the_png_over_namesakes_in_the_working_folder(
    edit_files, tmp_path_factory, monkeypatch
):
    """`edit --from` run in a folder with another p.png and m.png: the files with the recorded
    content (beside the PNG) are used, not the namesakes (which would be refused as other files)."""
    import hashlib
    import types

    from core.cli import build_parser
    from core.cli.edit import edit_params_from_args
    from core.edit.export import save_edit
    from core.edit.params import EditParams

    def sha(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    photo, mask = edit_files / "p.png", edit_files / "m.png"
    stored = EditParams().replace(
        image_path=str(photo), image_sha256=sha(photo), mask_path=str(mask), mask_sha256=sha(mask)
    )
    made = types.SimpleNamespace(
        params=stored, image=Image.new("RGB", (80, 64)), device="cpu", dtype="float32", notes=()
    )
    save_edit(made, edit_files / "out.png")
    work = tmp_path_factory.mktemp("work")
    Image.new("RGB", (80, 64), (9, 9, 9)).save(work / "p.png")
    Image.new("L", (80, 64), 255).save(work / "m.png")
    monkeypatch.chdir(work)
    args = build_parser().parse_args(["edit", "--from", str(edit_files / "out.png")])
    edit = edit_params_from_args(args).edit
    assert (edit.image_path, edit.mask_path) == (str(photo.resolve()), str(mask.resolve()))
