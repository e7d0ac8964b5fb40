"""Two guards of issue 14 (finding 2 and 8): a clip whose decoded samples would exceed the memory
budget is refused from its header before decoding, and a list flag's negative first number reaches
validation (the real range message) instead of argparse's "expected one argument"."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import load_audio
from core.audio_budget import MAX_DECODED_BYTES
from core.cli import EXIT_BAD_INPUT, main

ROOT = Path(__file__).resolve().parent.parent


def _sparse_u8_wav(path: Path, channels: int, rate: int, seconds: float) -> Path:
    """A real 8-bit WAV whose data is a hole in the file: its header's length is true, its disk use ~0."""
    size = int(rate * seconds) * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels, channels, 8)
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<I", 16) + fmt)
        fh.write(b"data" + struct.pack("<I", size))
        fh.truncate(44 + size)
    return path


def test_a_clip_beyond_the_decode_budget_is_refused_from_its_header(tmp_path):
    """16 channels at 192 kHz for 120 s: a 369 MB file, 1.47 GB decoded. Refused before decoding:
    the peak RSS of a fresh process grows by a few MB, not by the 1.47 GB."""
    path = _sparse_u8_wav(tmp_path / "wide.wav", 16, 192_000, 120.0)
    assert MAX_DECODED_BYTES == 1_382_400_000  # an hour of 48 kHz stereo as float32
    code = (
        "import resource, sys; from core.audio import AudioError, load_audio\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    load_audio(sys.argv[1])\nexcept AudioError as exc:\n    print(exc)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, check=True)
    message, grown_mb = out.stdout.strip().splitlines()
    assert message == (
        "wide.wav would take 1.5 GB of memory decoded (16 channels), more than the 1.38 GB one clip may use: "
        "cut it shorter or mix it down to stereo, then use that."
    )
    assert int(grown_mb) < 50, out.stdout


@pytest.mark.slow
def test_a_2_gb_wav_header_is_one_line_and_exit_2_within_a_small_peak(tmp_path):
    """Issue 9's case, which once drove `generate` to a 15.7 GB peak: a 2 GB 8-bit WAV at 1 MHz (a
    sparse file: its header is true, its disk use ~0) gets one line and exit 2, and the whole
    process's peak memory stays far below the 8 GB it would decode to."""
    path = _sparse_u8_wav(tmp_path / "long.wav", 1, 1_000_000, 33.3 * 60)
    assert path.stat().st_size > 1.99e9
    code = (
        "import json, resource, subprocess, sys\n"
        "run = subprocess.run([sys.executable, '-m', 'core', 'generate', '--models', 'tiny', '--audio', sys.argv[1],"
        " '--prompt', 'x', '--steps', '1', '--size', '64x64', '--out', sys.argv[2]], capture_output=True, text=True)\n"
        "print(run.returncode); print(json.dumps(run.stderr))\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)"
    )
    argv = [sys.executable, "-c", code, str(path), str(tmp_path / "out.png")]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True, timeout=110)
    returncode, stderr, peak_mb = out.stdout.strip().splitlines()
    stderr = json.loads(stderr)
    assert int(returncode) == EXIT_BAD_INPUT
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and "Traceback" not in stderr, stderr
    assert "sample rate of 1000000 Hz" in stderr and "long.wav" in stderr, stderr
    assert int(peak_mb) < 1500, f"peak {peak_mb} MB"
    assert not (tmp_path / "out.png").exists()


def test_a_clip_within_the_budget_still_decodes():
    t = np.linspace(0, 300, 4800)
    buf = io.BytesIO()
    sf.write(buf, (np.stack([np.sin(t), np.cos(t)], axis=1) * 0.5).astype(np.float32), 48000, format="WAV")
    clip = load_audio(buf.getvalue(), name="ok.wav")
    assert (clip.channels, clip.frames) == (2, 4800)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weights", "-1,0,0"], "level_weights: value 1 must be a number between 0 and 10 (got -1)"),
        (["--weights", "-.5,1,1"], "level_weights: value 1 must be a number between 0 and 10 (got -0.5)"),
        (["--steps", "-3"], "steps: must be between 1 and 500"),
    ],
)
def test_negative_numbers_get_the_range_message(argv, message, capsys):
    assert main(["generate", "--models", "tiny", *argv]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err
    assert "expected one argument" not in err


def test_a_stereo_clip_over_the_budget_is_not_told_to_mix_down_to_stereo():
    from core.audio_budget import decoded_size_problem

    stereo = decoded_size_problem(3700 * 48000, 2, "long.wav")
    assert stereo is not None and stereo.endswith("one clip may use: cut it shorter, then use that.")
    assert "mix it down to stereo" in (decoded_size_problem(3000 * 48000, 6, "surround.wav") or "")


def test_exactly_an_hour_of_48_khz_stereo_is_within_the_budget_and_one_frame_more_is_not():
    from core.audio_budget import decoded_size_problem

    assert decoded_size_problem(3600 * 48000, 2, "hour.wav") is None
    assert decoded_size_problem(3600 * 48000 + 1, 2, "hour.wav") is not None
    assert decoded_size_problem(2 * 3600 * 48000, 0, "odd.wav") is None  # no channel count: read as mono
