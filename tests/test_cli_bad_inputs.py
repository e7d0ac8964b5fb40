"""Bad input that used to end in a traceback (issue 9, finding 12/13): each is one line on stderr and
exit 2 now, and a killed write leaves no temp file behind."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from core.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, main
from core.export.atomic import STALE_AFTER_S, TEMP_PATTERN, atomic_write, sweep_stale_temps
from core.export.formats import METADATA_KEY
from core.export.metadata import png_encode
from core.params import GenerationParams

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--models", "tiny", "--steps", "1", "--size", "64x64", "--quiet"]


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _png_with_metadata(path: Path, text: str) -> Path:
    path.write_bytes(png_encode(Image.new("RGB", (8, 8)), [(METADATA_KEY, text, True)]))
    return path


def _metadata(**params) -> str:
    return json.dumps({"format": "clap2diff/params", "version": 1, "params": GenerationParams(**params).to_dict()})


def test_an_audio_symlink_loop_is_one_line(tmp_path, capsys):
    (tmp_path / "a.wav").symlink_to(tmp_path / "b.wav")
    (tmp_path / "b.wav").symlink_to(tmp_path / "a.wav")
    line = _one_line(capsys, main(["generate", "--audio", str(tmp_path / "a.wav"), *TINY]))
    assert "a.wav" in line and "cannot be opened" in line


def test_an_unreadable_audio_file_is_one_line(tmp_path, capsys, monkeypatch, samples):
    """Permissions, as a non-root user meets them (root reads anything: the open is made to fail)."""
    locked = tmp_path / "locked.wav"
    locked.write_bytes(samples["rain"].read_bytes())
    real_open = pathlib.Path.open

    def refuse(self, *args, **kwargs):
        if self.name == "locked.wav":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refuse)
    line = _one_line(capsys, main(["generate", "--audio", str(locked), *TINY]))
    assert line == "error: locked.wav cannot be read (Permission denied): check its permissions."


@pytest.mark.parametrize("device", ["meta", "mps", "nonsense"])
def test_devices_other_than_cpu_and_cuda_are_refused(device, capsys):
    line = _one_line(capsys, main(["generate", "--device", device, *TINY]))
    assert line == f"error: unknown device {device!r}: use cpu or cuda (or cuda:N)"


def test_deeply_nested_metadata_is_broken_metadata(tmp_path, capsys):
    nested = '{"format": "clap2diff/params", "version": 1, "params": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    png = _png_with_metadata(tmp_path / "deep.png", nested)
    line = _one_line(capsys, main(["params", str(png)]))
    assert "metadata is broken (JSON nested too deeply)" in line


def test_a_5000_digit_seed_is_broken_metadata(tmp_path, capsys):
    text = _metadata().replace('"seed": 0', '"seed": ' + "9" * 5000)
    png = _png_with_metadata(tmp_path / "seed.png", text)
    line = _one_line(capsys, main(["generate", "--from", str(png), *TINY]))
    assert "metadata is broken" in line and "digits" in line


def test_a_nul_byte_in_a_stored_path_is_refused_by_name(tmp_path, capsys):
    png = _png_with_metadata(tmp_path / "nul.png", _metadata(audio_path="a\x00b.wav"))
    line = _one_line(capsys, main(["generate", "--from", str(png), *TINY]))
    assert "audio_path" in line and "NUL character" in line
    png = _png_with_metadata(tmp_path / "nul2.png", _metadata(mode="trained", checkpoint="ck\x00pt"))
    assert "NUL character" in _one_line(capsys, main(["params", str(png)]))


def test_params_on_a_fifo_does_not_block(tmp_path, capsys):
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    line = _one_line(capsys, main(["params", str(fifo)]))
    assert "is not a regular file" in line


def test_a_write_sweeps_stale_temps_of_its_target_only(tmp_path):
    target = tmp_path / "a.png"
    old = tmp_path / ".a.png.0123456789ab.tmp"
    young = tmp_path / ".a.png.ba9876543210.tmp"
    other = tmp_path / ".b.png.0123456789ab.tmp"
    for p in (old, young, other):
        p.write_bytes(b"half")
    stale = time.time() - STALE_AFTER_S - 5
    os.utime(old, (stale, stale))
    os.utime(other, (stale, stale))
    atomic_write(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not old.exists() and young.exists() and other.exists()
    assert sweep_stale_temps(tmp_path / "b.png") == [other]


@pytest.mark.slow  # a subprocess that imports torch
def test_sigterm_during_a_png_write_leaves_no_temp_file(tmp_path):
    """The write is held inside fsync; SIGTERM then ends the CLI like Ctrl-C (exit 130), and the
    half-written temp file is gone."""
    out = tmp_path / "out.png"
    script = f"""
import os, signal, sys
def held(fd):
    print("writing", flush=True)
    signal.pause()  # held until the test's SIGTERM arrives
os.fsync = held
from core.cli import main
sys.exit(main(["generate", "--out", {str(out)!r}, *{TINY!r}]))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"writing"
    assert [p.name for p in tmp_path.iterdir() if TEMP_PATTERN.match(p.name)]  # the temp file exists now
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == EXIT_INTERRUPTED, proc.stderr.read().decode()
    assert list(tmp_path.iterdir()) == []  # no temp file, no half image


def test_params_into_a_closed_pipe_ends_quietly(tmp_path):
    """`params X.png | head`: the reader gone before the JSON is written is not a traceback."""
    png = _png_with_metadata(tmp_path / "a.png", _metadata(seed=5))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "core", "params", str(png)], stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0 and b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr


def test_an_error_after_progress_starts_on_its_own_line(capsys):
    """A run that fails (or is interrupted) mid-way ends its progress line first: never
    "step   5/30  ambience  2.8serror: interrupted"."""
    from core.cli import main, progress

    progress.show("step   5/30  ambience     2.8s")
    assert main(["generate", "--models", "tiny", "--steps", "0", "--out", "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("\rstep   5/30  ambience     2.8s\nerror: ") and err.count("\n") == 2, repr(err)
    assert main(["generate", "--models", "tiny", "--steps", "0", "--out", "x.png"]) == 2
    assert capsys.readouterr().err.startswith("error: ")  # no progress line open: no blank line


@pytest.mark.parametrize("command", ["generate", "edit", "compare", "sweep"])
def test_a_clip_that_cannot_be_used_is_said_before_the_models_load(command, tmp_path, capsys, monkeypatch):
    """A typo in --audio, or a silent file, costs no model load (seconds to a minute with SD 1.5)."""
    import numpy as np
    import soundfile as sf

    import core.engine

    def no_models(*args, **kwargs):
        raise AssertionError("the models were loaded before the clip was checked")

    monkeypatch.setattr(core.engine, "Engine", no_models)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(8000, np.float32), 8000)
    extra = {
        "generate": ["--out", str(tmp_path / "a.png")],
        "edit": ["--image", str(_photo(tmp_path)), "--out", str(tmp_path / "a.png")],
        "compare": ["--out", str(tmp_path / "cmp")],
        "sweep": ["--x", "seed=1,2", "--out", str(tmp_path / "sweep")],
    }[command]
    tiny = [f for f in TINY if f not in ("--size", "64x64")] if command == "edit" else TINY  # an edit: the photo's
    line = _one_line(capsys, main([command, "--audio", str(tmp_path / "typo.wav"), *extra, *tiny]))
    assert "typo.wav does not exist" in line
    line = _one_line(capsys, main([command, "--audio", str(silent), *extra, *tiny]))
    assert "silent.wav is silent (all zeros)" in line


def test_a_typo_in_audio_costs_no_torch_import(tmp_path):
    """The check above, seen from a shell: the error comes before torch (about 5 s on 2 cores) or
    scipy's filters (0.8 s) are imported, for every command that takes --audio."""
    code = (
        "import sys\n"
        "from core.cli import main\n"
        f"tmp = {str(tmp_path)!r}\n"
        "for extra in (['generate', '--out', tmp + '/a.png'], ['compare', '--out', tmp + '/cmp'],\n"
        "              ['sweep', '--x', 'seed=1,2', '--out', tmp + '/sweep'],\n"
        "              ['edit', '--image', tmp + '/photo.png', '--out', tmp + '/b.png']):\n"
        "    assert main([*extra, '--audio', tmp + '/typo.wav', '--models', 'tiny']) == 2, extra\n"
        "    heavy = {'torch', 'scipy.signal'} & set(sys.modules)  # ~5 s and ~0.8 s on 2 cores\n"
        "    assert not heavy, f'{extra[0]} imported {heavy} before its clip check'\n"
    )
    _photo(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("typo.wav does not exist") == 4, done.stderr


def _photo(tmp_path: Path) -> Path:
    Image.new("RGB", (64, 64), (40, 90, 160)).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def test_a_typo_in_evaluates_data_costs_no_torch_import(tmp_path):
    """evaluate's --data is its input: a folder that is not there is said before torch is imported
    (about 5 s on 2 cores), as the other commands say a typo in --audio."""
    code = (
        "import sys\n"
        "from core.cli import main\n"
        f"tmp = {str(tmp_path)!r}\n"
        "assert main(['evaluate', '--data', tmp + '/typo', '--out', tmp + '/ev', '--models', 'tiny']) == 2\n"
        "heavy = {'torch', 'scipy.signal'} & set(sys.modules)\n"
        "assert not heavy, f'evaluate imported {heavy} before its --data check'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dataset folder" in done.stderr and "typo does not exist" in done.stderr, done.stderr


def test_a_sweep_axis_given_twice_is_refused_not_the_first_dropped(tmp_path, capsys):
    """argparse keeps the last of a repeated flag: `--x seed=1,2 --x norm_target=40,60` swept the
    norm target only, and the seeds asked for silently went."""
    out = tmp_path / "sweep"
    code = main(["sweep", *TINY, "--x", "seed=1,2", "--x", "norm_target=40,60", "--out", str(out)])
    assert _one_line(capsys, code) == ("error: --x given twice: an axis sweeps one knob (--y and --z sweep others)")
    assert not out.exists()


def test_a_cancel_ends_like_ctrl_c(monkeypatch, capsys):
    """A Cancelled from inside a run is exit 130 with one line, as Ctrl-C, never a traceback."""
    import core.cli.generate as generate
    from core.cancel import Cancelled

    def cancelled(args):
        raise Cancelled("generation cancelled")

    monkeypatch.setattr(generate, "run", cancelled)  # register() reads it when the parser is built
    assert main(["generate", "--models", "tiny"]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "error: interrupted\n"


def test_an_upper_case_png_suffix_is_a_png(tmp_path):
    """`--out shot.PNG` is written as asked; only another suffix is refused with the name to use."""
    import argparse

    from core.cli import CliError
    from core.cli.generate import check_output

    out = check_output(argparse.Namespace(out=str(tmp_path / "shot.PNG"), force=False), "x.png")
    assert out.name == "shot.PNG"
    with pytest.raises(CliError, match="name it shot.png"):
        check_output(argparse.Namespace(out=str(tmp_path / "shot.jpg"), force=False), "x.png")


def test_audio_is_recorded_as_an_absolute_path(tmp_path, monkeypatch, samples):
    """`--audio clip.wav` or a quoted `~/clip.wav` names the file from here: the run (and --from,
    from any folder) finds it, not a path relative to wherever it runs next."""
    import argparse
    import shutil

    from core.cli.generate import params_from_args, register

    shutil.copy(samples["rain"], tmp_path / "rain.wav")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for typed in ("rain.wav", "~/rain.wav", "./sub/../rain.wav"):
        params = params_from_args(parser.parse_args(["generate", "--audio", typed, "--models", "tiny"]))
        assert params.audio_path == str(tmp_path.resolve() / "rain.wav"), typed


def test_a_whole_number_list_flag_takes_whole_numbers_only(capsys):
    """--split is token counts: 30,25,22 arrive as ints (stored so in the PNG), 30.5 is refused by name."""
    import argparse

    from core.cli.generate import params_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    split = params_from_args(parser.parse_args(["generate", "--split", "30,25,22", "--models", "tiny"])).split
    assert split == (30, 25, 22) and all(type(n) is int for n in split)
    assert main(["generate", "--split", "30.5,25,22", "--models", "tiny"]) == EXIT_BAD_INPUT
    assert "expected 3 comma-separated whole numbers, got '30.5,25,22'" in capsys.readouterr().err


def test_a_half_typed_size_is_refused_not_made_square(capsys):
    """--size 64x lost its height while typing: refused by name, where it was read as 64x64; 96 alone is a square."""
    import argparse

    from core.cli.generate import params_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    params = params_from_args(parser.parse_args(["generate", "--size", "96", "--models", "tiny"]))
    assert (params.width, params.height) == (96, 96)
    params = params_from_args(parser.parse_args(["generate", "--size", "64X128", "--models", "tiny"]))
    assert (params.width, params.height) == (64, 128)
    for typed in ("64x", "x64", "64x64x64"):
        with pytest.raises(SystemExit):
            parser.parse_args(["generate", "--size", typed, "--models", "tiny"])
        assert f"expected WIDTHxHEIGHT like 512x512, got '{typed}'" in capsys.readouterr().err
