"""Two guards of issue 14 (finding 2 and 8): a clip whose decoded samples would exceed the memory
budget is refused from its header before decoding, and a list flag's negative first number reaches
validation (the real range message) instead of argparse's "expected one argument"."""

from __future__ import annotations

import io
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
        "cut it or mix it down to stereo, then upload that."
    )
    assert int(grown_mb) < 50, out.stdout


def test_a_clip_within_the_budget_still_decodes():
    t = np.linspace(0, 300, 4800)
    buf = io.BytesIO()
    sf.write(buf, (np.stack([np.sin(t), np.cos(t)], axis=1) * 0.5).astype(np.float32), 48000, format="WAV")
    clip = load_audio(buf.getvalue(), name="ok.wav")
    assert (clip.channels, clip.frames) == (2, 4800)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weights", "-1,0,0"], "level_weights: value 1 must be a number between 0 and 10 (got -1.0)"),
        (["--weights", "-.5,1,1"], "level_weights: value 1 must be a number between 0 and 10 (got -0.5)"),
        (["--steps", "-3"], "steps: must be between 1 and 500"),
    ],
)
def test_negative_numbers_get_the_range_message(argv, message, capsys):
    assert main(["generate", "--models", "tiny", *argv]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err
    assert "expected one argument" not in err
