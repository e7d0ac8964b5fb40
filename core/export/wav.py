"""WAV files: stems and bands as their own files, in memory (downloads, ZIPs) or on disk (atomically)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_write


def wav_bytes(data: np.ndarray, rate: int, subtype: str = "FLOAT") -> bytes:
    """A WAV file in memory: mono (n,) or (channels, n) float samples at `rate`.

    "FLOAT" keeps every sample as it is (stems may exceed full scale); integer subtypes
    ("PCM_16", "PCM_24") clip to [-1, 1] first instead of letting libsndfile wrap around.
    """
    import soundfile as sf

    x = np.asarray(data, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ValueError(f"expected mono (n,) or (channels, n) audio, got shape {x.shape}")
    if not subtype.upper().startswith("FLOAT") and not subtype.upper().startswith("DOUBLE"):
        x = np.clip(x, -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, x.T if x.ndim == 2 else x, int(rate), subtype=subtype, format="WAV")
    return _without_peak_time(buf.getvalue())


def _without_peak_time(wav: bytes) -> bytes:
    """`wav` with its PEAK chunk's timestamp set to 0. libsndfile stamps float WAVs with the second
    they were written, so the same samples gave different files (a download and the saved stem
    differed when written across a second boundary). The chunks are walked, never searched for, so
    sample data that happens to spell "PEAK" is left alone."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return wav
    out, pos = bytearray(wav), 12
    while pos + 8 <= len(out):
        chunk, size = bytes(out[pos : pos + 4]), int.from_bytes(out[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            break
        if chunk == b"PEAK" and size >= 8:  # version (uint32), then the timestamp (uint32)
            out[pos + 12 : pos + 16] = bytes(4)
            break
        pos += 8 + size + (size & 1)
    return bytes(out)


def write_wav(path: str | os.PathLike, data: np.ndarray, rate: int, subtype: str = "FLOAT") -> Path:
    """`wav_bytes` written atomically to `path` (parent folders created)."""
    return atomic_write(path, wav_bytes(data, rate, subtype))


__all__ = ["wav_bytes", "write_wav"]
