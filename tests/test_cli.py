"""`python -m core`: generate, reproduce with --from, print params; bad input is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.export import read_params

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # two CLI subprocesses, each importing torch and building the tiny models
def test_generate_reproduce_and_params(tmp_path, samples, monkeypatch):
    # awkward floats (17 significant digits, 1e-7) and a non-square size: --from must give them back
    # bit for bit, and --size is width x height
    out = tmp_path / "a.png"
    done = run_cli(
        "generate",
        "--audio",
        str(samples["rain"]),
        "--prompt",
        "a city",
        "--models",
        "tiny",
        "--seed",
        "5",
        "--steps",
        "6",
        "--size",
        "96x64",
        "--weights",
        "0.1,0.30000000000000004,0.6666666666666666",
        "--switch",
        "0.3333333333333333,0.6666666666666666",
        "--switch-style",
        "smooth",
        "--crossfade",
        "0.30000000000000004",
        "--guidance",
        "0.30000000000000004",
        "--strength",
        "0.3333333333333333",
        "--window-start",
        "1e-07",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "seed=5" in done.stdout
    params = read_params(out)
    assert (params.seed, params.steps, params.level_weights, params.switch_points) == (
        5,
        6,
        (0.1, 0.1 + 0.2, 2 / 3),
        (1 / 3, 2 / 3),
    )
    assert params.crossfade == params.guidance == 0.1 + 0.2  # float ==: the same bits
    assert (params.audio_strength, params.window_start) == (1 / 3, 1e-7)
    assert (params.width, params.height) == (96, 64) and Image.open(out).size == (96, 64)  # PIL: (w, h)
    assert params.audio_sha256 and params.models == "tiny"

    # reproduce in-process (same code path as the subprocess) from another folder
    again = tmp_path / "sub" / "b.png"
    again.parent.mkdir()
    monkeypatch.chdir(again.parent)
    assert main(["generate", "--from", str(out), "--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    assert read_params(again) == params  # float ==: the same bits (no -0.0 here)

    shown = run_cli("params", str(out), cwd=tmp_path)
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == params.to_dict()


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--audio", "/no/such.wav", "--models", "tiny"], "does not exist"),
        (["generate", "--steps", "0", "--models", "tiny"], "steps: must be between 1 and 500"),
        (["generate", "--weights", "1,2", "--models", "tiny"], "expected 3 comma-separated numbers"),
        (["generate", "--weights", "1,2,3,4", "--models", "tiny"], "expected 3 comma-separated numbers"),
        (["generate", "--switch", "0.9,0.1", "--models", "tiny"], "switch_points: must be in order"),
        (["generate", "--models", "no-such-model"], "Unknown model"),
        (["params", "pyproject.toml"], "not a PNG"),
        (["frobnicate"], "invalid choice"),
        (["generate", "--models", "tiny", "--device", "toaster"], "unknown device"),
        (["generate", "--models", "tiny", "--device", "cuda"], "CUDA is not available"),
        (["generate", "--models", "tiny", "--out", "tests"], "is a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert message in err


def test_silent_audio_is_refused(tmp_path, capsys):
    import soundfile as sf

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(48000, dtype=np.float32), 48000)
    assert (
        main(
            [
                "generate",
                "--audio",
                str(silent),
                "--models",
                "tiny",
                "--steps",
                "2",
                "--size",
                "64x64",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "silent" in capsys.readouterr().err.lower()
    assert not (tmp_path / "x.png").exists()


def test_from_with_another_clip_makes_a_new_image(tmp_path, samples, capsys):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    common = ["--models", "tiny", "--steps", "3", "--size", "64x64", "--seed", "2", "--quiet"]
    assert main(["generate", "--audio", str(samples["rain"]), *common, "--out", str(first)]) == 0
    capsys.readouterr()
    assert (
        main(["generate", "--from", str(first), "--audio", str(samples["birdsong"]), "--out", str(second), "--quiet"])
        == 0
    )
    assert capsys.readouterr().err == (
        f"note: --audio replaces the clip {first} was made from (rain.wav): a new image, not a reproduction\n"
    )
    a, b = read_params(first), read_params(second)
    assert b.audio_path.endswith("birdsong.wav") and b.audio_sha256 != a.audio_sha256
    assert b.replace(audio_path=a.audio_path, audio_sha256=a.audio_sha256) == a


def test_a_checkpoint_named_without_models_runs_with_the_models_it_was_trained_with(tmp_path, capsys):
    """A run trained on `tiny`, used as the README shows (no --models): not a long sd15 load error."""
    from core.cli import build_parser
    from core.cli.generate import params_from_args

    final = tmp_path / "city" / "final"
    final.mkdir(parents=True)
    (final / "training.json").write_text(json.dumps({"config": {"models": "tiny", "stage": 2}}))
    step = tmp_path / "city" / "checkpoints" / "step-0000500"
    step.mkdir(parents=True)
    (tmp_path / "city" / "train_config.json").write_text(json.dumps({"models": "tiny"}))
    unmarked = tmp_path / "town" / "final"  # a final/ whose training.json is gone: its run's config says
    unmarked.mkdir(parents=True)
    (tmp_path / "town" / "train_config.json").write_text(json.dumps({"models": "tiny"}))
    for folder in (final, step, unmarked):
        args = build_parser().parse_args(["generate", "--mode", "trained", "--checkpoint", str(folder)])
        assert params_from_args(args).models == "tiny"
        assert capsys.readouterr().err == (
            f"note: using the models {folder} was trained with, tiny (--models to choose)\n"
        )
    chosen = ["generate", "--mode", "trained", "--checkpoint", str(final), "--models", "sd15"]
    assert params_from_args(build_parser().parse_args(chosen)).models == "sd15"  # --models wins, silently
    assert capsys.readouterr().err == ""


def test_from_a_png_made_on_another_device_says_the_pixels_can_differ(tmp_path, capsys):
    """fp16 on a GPU and fp32 on a CPU draw the same picture, not the same pixels: `--from` says so
    before the run, and says nothing when the device and precision match."""
    import types

    from PIL import Image

    from core.cli.generate import note_other_device
    from core.export.formats import METADATA_KEY
    from core.export.metadata import params_metadata, png_encode
    from core.params import GenerationParams

    here = types.SimpleNamespace(device="cpu", dtype="torch.float32")
    for device, dtype, said in (("cuda:0", "float16", True), ("cpu", "float32", False), (None, None, False)):
        meta = params_metadata(GenerationParams(), {"device": device, "dtype": dtype} if device else {})
        png = tmp_path / f"{device}.png"
        png.write_bytes(png_encode(Image.new("RGB", (8, 8)), [(METADATA_KEY, json.dumps(meta), True)]))
        note_other_device(str(png), here)
        err = capsys.readouterr().err
        expected = f"note: {png.name} was made on cuda in float16, this run is on cpu in float32: the same picture"
        assert (expected in err) is said and (err == "") is not said, err
    note_other_device(None, here)
    assert capsys.readouterr().err == ""
    for extra, said in (({"device": "cuda"}, "was made on cuda, this run is on cpu: the same picture"),
                        ({"dtype": "float16"}, "was made in float16, this run is in float32: the same picture"),
                        ({"device": "cpu"}, ""), ({"dtype": "float32", "device": None}, "")):  # fmt: skip
        png = tmp_path / "partial.png"  # a PNG recording only one of the two is compared on what it records
        meta = params_metadata(GenerationParams(), extra)
        png.write_bytes(png_encode(Image.new("RGB", (8, 8)), [(METADATA_KEY, json.dumps(meta), True)]))
        note_other_device(str(png), here)
        err = capsys.readouterr().err
        assert (said in err) if said else err == "", (extra, err)


def test_generate_and_edit_from_say_the_device_differs_before_they_run(tmp_path, edit_files, monkeypatch, capsys):
    import core.engine
    from core.cli import CliError
    from core.edit.params import EditParams
    from core.export.formats import METADATA_KEY
    from core.export.metadata import params_metadata, png_encode
    from core.params import GenerationParams

    class Stop:  # the engine on a CPU; running it is not needed to see the note
        device, dtype = "cpu", "torch.float32"

        def __init__(self, *args, **kwargs):
            pass

        def generate(self, *args, **kwargs):
            raise CliError("stopped")

    monkeypatch.setattr(core.engine, "Engine", Stop)
    monkeypatch.setattr("core.edit.run.edit_photo", lambda *a, **k: Stop().generate(), raising=False)
    params = GenerationParams(models="tiny", steps=2, width=64, height=64)
    for command in ("generate", "edit"):
        meta = params_metadata(params, {"device": "cuda:0", "dtype": "float16"})
        if command == "edit":
            meta["edit"] = EditParams(generation=params).replace(image_path="p.png").to_dict()
        png = edit_files / f"{command}.png"
        png.write_bytes(png_encode(Image.new("RGB", (64, 64)), [(METADATA_KEY, json.dumps(meta), True)]))
        assert main([command, "--from", str(png), "--out", str(tmp_path / "x.png"), "--quiet"]) == 2
        assert "was made on cuda in float16, this run is on cpu in float32" in capsys.readouterr().err, command
