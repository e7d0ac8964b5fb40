"""Decode, validate, window and resample audio.

Every path into the engine goes through `load_audio`, so a bad upload fails here with one sentence
a person can act on (`AudioError`), never deep inside CLAP or Demucs with a traceback.

The decoded clip keeps its original rate and channels (Demucs wants 44.1 kHz stereo, CLAP 48 kHz
mono: one resampling from the original each). `clap_input` derives CLAP's view with soxr; formats
libsndfile cannot read go through audioread/ffmpeg (librosa's first call JIT-compiles for ~20 s).
"""

from __future__ import annotations

import hashlib
import io
import math
import numbers
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from .audio_decode import (
    AUDIO_TYPES,
    FORMATS_TEXT,
    MAX_RATE,
    MAX_SECONDS,
    MIN_SECONDS,
    SILENCE_PEAK,
    AudioError,
    decode,
)

CLAP_RATE = 48000  # LAION-CLAP (seeds 000, 004)
CLAP_SECONDS = 10.0


@dataclass(frozen=True, eq=False)
class AudioClip:
    """Decoded audio at its original rate: `samples` is float32 (channels, n), read-only.

    `sha256` identifies the source (the file's bytes) and is kept by `window` and `resampled`, so
    it is what GenerationParams.audio_sha256 records. `start` is where samples[:, 0] lies in that
    source, in seconds. Caches that hold derived values must key on `key`, which also names the
    cut and the rate.
    """

    samples: np.ndarray
    sample_rate: int
    sha256: str
    name: str = "audio"
    start: float = 0.0

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[None, :]
        if samples.ndim != 2:
            raise ValueError(f"samples must be (channels, n), got shape {samples.shape}")
        view = np.ascontiguousarray(samples).view()
        view.flags.writeable = False  # clips are shared through caches; nobody may edit one
        object.__setattr__(self, "samples", view)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    # -- shape --------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if self.frames else 0.0

    @property
    def key(self) -> str:
        """Content key of exactly these samples: source hash + cut + rate + channels."""
        return f"{self.sha256}@{self.start:.6f}+{self.frames}/{self.sample_rate}x{self.channels}"

    # -- derived clips ------------------------------------------------------------------------
    def mono(self) -> np.ndarray:
        """The channel mean, float32 (n,). Read-only when the clip is already mono (no copy)."""
        if self.channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float64).astype(np.float32)

    def window(self, start_s: float, seconds: float = CLAP_SECONDS) -> AudioClip:
        """The cut [start_s, start_s + seconds), shorter at the end of the clip; never padded, and
        never shorter than MIN_SECONDS (what a whole clip must hold) when the clip is not."""
        if not (_is_real(start_s) and start_s >= 0):
            raise AudioError(f"The window start must be a number of seconds from 0 (got {start_s!r}).")
        if not (_is_real(seconds) and seconds > 0):
            raise AudioError(f"The window length must be a positive number of seconds (got {seconds!r}).")
        i0 = int(round(start_s * self.sample_rate))
        if i0 >= self.frames:
            raise AudioError(
                f"The window starts at {start_s:.2f} s but {self.name} is only {self.duration:.2f} s "
                f"long: choose a start below {self.duration:.2f} s."
            )
        i1 = min(self.frames, i0 + max(1, int(round(seconds * self.sample_rate))))
        if i1 - i0 < MIN_SECONDS * self.sample_rate <= min(self.frames, seconds * self.sample_rate):
            last = math.floor((self.duration - MIN_SECONDS) * 100) / 100
            raise AudioError(
                f"The window starting at {start_s:.2f} s holds only {(i1 - i0) / self.sample_rate * 1000:.0f} ms of "
                f"{self.name} ({self.duration:.2f} s long), less than the {MIN_SECONDS * 1000:.0f} ms a sound needs "
                f"(CLAP would repeat it into a buzz): choose a start of at most {last:.2f} s."
            )
        return AudioClip(
            np.array(self.samples[:, i0:i1]),
            self.sample_rate,
            self.sha256,
            self.name,
            start=self.start + i0 / self.sample_rate,
        )

    def resampled(self, rate: int) -> AudioClip:
        """The same clip at `rate` (soxr HQ: linear phase, ~-100 dB aliasing)."""
        rate = int(rate)
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if rate == self.sample_rate:
            return self
        out = resample(self.samples.T, self.sample_rate, rate).T
        return AudioClip(out, rate, self.sha256, self.name, start=self.start)

    def to_channels(self, channels: int) -> np.ndarray:
        """(channels, n) float32: mono is duplicated, anything else is downmixed to mono first.

        Demucs wants stereo; a 5.1 file has no canonical stereo fold-down, so we use the mean.
        """
        if channels == self.channels:
            return self.samples
        mono = self.mono()
        return np.ascontiguousarray(np.broadcast_to(mono, (channels, mono.shape[0])), dtype=np.float32)


# -- loading ----------------------------------------------------------------------------------------
def audio_hash(data: bytes) -> str:
    """sha256 hex digest of the raw bytes: the content key every cache downstream starts from."""
    return hashlib.sha256(data).hexdigest()


def load_audio(source: str | os.PathLike | bytes, name: str | None = None) -> AudioClip:
    """Decode a file path or raw bytes (wav/flac/ogg/mp3 via soundfile; m4a/aac/... via audioread/ffmpeg).

    Raises AudioError for a missing file, an empty or corrupt file, something that is not audio,
    a clip longer than MAX_SECONDS (checked from the header when possible, before decoding),
    NaN/Inf samples and digital silence.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "the uploaded audio"
        if not data:
            raise AudioError(f"{label} is empty (0 bytes): choose a file that contains audio.")
        samples, rate = decode(io.BytesIO(data), data[:64], label, raw=data, suffix=_suffix(name))
        return AudioClip(samples, rate, audio_hash(data), label)

    path = Path(source).expanduser()
    label = name or path.name
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AudioError(f"{path} does not exist: check the path or pick another file.") from None
    except OSError as exc:  # a symlink loop, a folder without permission, a name too long...
        raise AudioError(f"{path} cannot be opened ({exc.strerror or exc}): check the path.") from None
    if not stat.S_ISREG(info.st_mode):  # a folder, a pipe that would block forever, a device
        raise AudioError(f"{path} is not a file: pick an audio file ({FORMATS_TEXT}).")
    if info.st_size == 0:
        raise AudioError(f"{label} is empty (0 bytes): choose a file that contains audio.")
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
        sha = file_sha256(path)
    except OSError as exc:
        raise AudioError(f"{label} cannot be read ({exc.strerror or exc}): check its permissions.") from None
    samples, rate = decode(path, head, label, path=path)
    return AudioClip(samples, rate, sha, label)


def clap_input(
    clip: AudioClip, start_s: float = 0.0, seconds: float = CLAP_SECONDS, rate: int = CLAP_RATE
) -> np.ndarray:
    """What CLAP hears: mono float32 at `rate`, the window [start_s, start_s + seconds).

    The window is cut at the original rate first (cheaper), then downmixed and resampled. It is
    not padded: the CLAP feature extractor pads short clips its own way (repeat-pad).
    """
    mono = clip.window(start_s, seconds).mono()
    if clip.sample_rate != rate:
        mono = resample(mono, clip.sample_rate, rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


# -- internals --------------------------------------------------------------------------------------
def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr on (n,) or (n, channels) float32; length round(n * rate_out / rate_in)."""
    if rate_in == rate_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    y = soxr.resample(np.ascontiguousarray(x, dtype=np.float32), rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(y, dtype=np.float32)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (clips and model checkpoints can be large)."""
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _suffix(name: str | None) -> str:
    suffix = Path(name).suffix if name else ""
    return suffix if 1 < len(suffix) <= 6 else ".bin"


__all__ = [
    "AUDIO_TYPES",
    "FORMATS_TEXT",
    "AudioClip",
    "AudioError",
    "CLAP_RATE",
    "CLAP_SECONDS",
    "MAX_RATE",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "SILENCE_PEAK",
    "audio_hash",
    "clap_input",
    "file_sha256",
    "load_audio",
    "resample",
]
