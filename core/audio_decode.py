"""Decoding audio files into samples, with every check a bad file needs.

libsndfile reads what it can (the header first: absurd lengths and rates are refused before a byte
is decoded); other containers go through audioread/ffmpeg. Whatever the path, the samples are then
checked for NaN/Inf and silence. Each refusal is an `AudioError` with one sentence that says what
to do. `core.audio.load_audio` is the entry point; this module is its decoder.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from . import audio_budget
from .audio_budget import decoded_size_problem
from .errors import UserError

MAX_SECONDS = 3600.0  # longer uploads are rejected from the header, before decoding
MIN_SECONDS = 0.1  # CLAP repeats a shorter clip over its 10 s window: a click becomes a buzz it "hears"
MIN_RATE = 1000  # below this it is not sound anyone recorded on purpose
MAX_RATE = 384_000  # the highest rate studio converters record; a header beyond it is broken or hostile
SILENCE_PEAK = 1e-5  # -100 dBFS: dither alone is louder, so a lower peak means digital silence

# What the decoder reads, declared once: libsndfile's containers always, ffmpeg's where it is
# installed (audioread finds it on PATH). Upload widgets accept exactly these; messages name them.
SNDFILE_TYPES = ("wav", "flac", "ogg", "oga", "opus", "mp3", "aiff", "aif")
FFMPEG_TYPES = ("m4a", "aac", "webm")
_FFMPEG = shutil.which("ffmpeg") is not None
AUDIO_TYPES = SNDFILE_TYPES + (FFMPEG_TYPES if _FFMPEG else ())
FORMATS_TEXT = "wav, flac, ogg/opus, mp3, aiff" + (", m4a/aac" if _FFMPEG else "")

# First bytes of common files that people rename to .wav by accident.
_NOT_AUDIO_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
)


class AudioError(UserError):
    """The audio cannot be used. The message says what is wrong and what to do, in one sentence."""


def _sniff_not_audio(head: bytes) -> str | None:
    """What the file is instead of audio, from its first bytes, or None if it may be audio."""
    for magic, kind in _NOT_AUDIO_MAGIC:
        if head.startswith(magic):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "a text file"
    return None


def _check_length(frames: int, rate: int, label: str) -> None:
    if frames <= 0:
        raise AudioError(f"{label} has no audio frames (zero length): choose a file that contains sound.")
    if rate <= 0:  # "is inf h long" said nothing useful of a header without a rate
        raise AudioError(f"{label} has no sample rate in its header (damaged?): re-export it at 44.1 or 48 kHz.")
    seconds = frames / rate
    if seconds > MAX_SECONDS:
        raise AudioError(
            f"{label} is {_fmt_duration(seconds)} long, more than the {_fmt_duration(MAX_SECONDS)} "
            "limit: cut the part you want and use that."
        )
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"{label} has a sample rate of {rate} Hz, outside the {MIN_RATE}-{MAX_RATE} Hz a recording can "
            "have (a damaged header?): re-export it at 44.1 or 48 kHz."
        )
    if seconds < MIN_SECONDS:  # after the rate: a broken rate makes any length look short
        raise AudioError(
            f"{label} is {seconds * 1000:.0f} ms long, shorter than the {MIN_SECONDS * 1000:.0f} ms a sound needs "
            "to be heard: choose a longer recording."
        )


def _check_budget(frames: int, channels: int, label: str) -> None:
    if problem := decoded_size_problem(frames, channels, label):
        raise AudioError(problem)


def _fmt_duration(seconds: float) -> str:
    """'61.7 min', not '1.0 h': a clip just over the hour's limit must not read as equal to it."""
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def decode(
    file: Path | BinaryIO,
    head: bytes,
    label: str,
    *,
    path: Path | None = None,
    raw: bytes | None = None,
    suffix: str = ".bin",
) -> tuple[np.ndarray, int]:
    """(samples (channels, n) float32, rate) of a file or an upload, or AudioError saying why not."""
    try:
        info = sf.info(file)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        info = None
    if info is not None:
        # The header is enough to refuse absurd files before decoding a byte of them.
        _check_length(int(info.frames), int(info.samplerate), label)
        _check_budget(int(info.frames), int(info.channels), label)
        try:
            if isinstance(file, io.BytesIO):
                file.seek(0)
            data, rate = sf.read(file, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioError(
                f"{label} could not be decoded ({_short(exc)}): the file may be truncated or corrupt, "
                "re-export it as WAV or FLAC."
            ) from None
        samples = data.T
    else:
        kind = _sniff_not_audio(head)
        if kind is not None:
            raise AudioError(
                f"{label} is not an audio file (it looks like {kind}): choose an audio file ({FORMATS_TEXT})."
            )
        samples, rate = _decode_fallback(path, raw, label, suffix)
    _validate(samples, int(rate), label)
    return samples, int(rate)


def fallback_seconds(path: Path) -> float | None:
    """The duration audioread (stdlib readers, then ffmpeg) reads from a file's header: what
    `decode` falls back to when libsndfile cannot read it; None when neither can (no decoding)."""
    try:
        import audioread

        with audioread.audio_open(str(path)) as reader:
            return float(reader.duration or 0.0)
    except Exception:  # noqa: BLE001 - audioread.NoBackendError, DecodeError, EOFError, ...: not readable
        return None


def _decode_fallback(path: Path | None, raw: bytes | None, label: str, suffix: str) -> tuple[np.ndarray, int]:
    """Formats libsndfile does not read (m4a/aac, wma, ...) through audioread -> ffmpeg, as librosa.load
    does, minus librosa. audioread yields 16-bit PCM blocks; the container's duration is checked
    before decoding and the decoded size is capped too."""
    tmp: str | None = None
    try:
        if path is None:
            fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="clap2diff-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw or b"")
            path = Path(tmp)
        try:
            import audioread  # a librosa dependency: stdlib readers, then ffmpeg

            with audioread.audio_open(str(path)) as reader:
                rate, channels = int(reader.samplerate), max(1, int(reader.channels))
                seconds = float(reader.duration or 0.0)
                if seconds > MAX_SECONDS or not MIN_RATE <= rate <= MAX_RATE:
                    _check_length(int(seconds * rate) + 1, rate, label)
                _check_budget(int(seconds * rate), channels, label)
                # 16-bit PCM is half its float32 size: stop at the hour (+1 s) or at the budget
                cap = min(int((MAX_SECONDS + 1) * rate) * channels * 2, audio_budget.MAX_DECODED_BYTES // 2)
                blocks, size = [], 0
                for block in reader:
                    blocks.append(block)
                    size += len(block)
                    if size > cap:
                        _check_length(size // (2 * channels), rate, label)
                        _check_budget(-(-size // (2 * channels)), channels, label)
        except AudioError:
            raise
        except Exception:  # audioread.NoBackendError, DecodeError, EOFError, ...
            raise AudioError(
                f"{label} could not be decoded: it may be corrupt or in a format this machine cannot "
                "read, convert it to WAV, FLAC, OGG or MP3."
            ) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    pcm = np.frombuffer(b"".join(blocks), dtype="<i2")
    pcm = pcm[: pcm.size - pcm.size % channels]
    samples = pcm.reshape(-1, channels).T.astype(np.float32) / 32768.0
    return samples, rate


def _validate(samples: np.ndarray, rate: int, label: str) -> None:
    _check_length(int(samples.shape[1]) if samples.ndim == 2 else 0, rate, label)
    if not np.all(np.isfinite(samples)):
        raise AudioError(
            f"{label} contains NaN or infinite sample values (a broken float export): re-export it as 16- or 24-bit PCM."
        )
    peak = float(np.max(np.abs(samples)))
    swing = float(np.max(samples.max(axis=1) - samples.min(axis=1))) / 2  # DC (8-bit zeros: -1.0) is no sound
    if peak < SILENCE_PEAK or swing < SILENCE_PEAK:
        level = "all zeros" if peak == 0 else f"peak {20 * math.log10(peak):.0f} dBFS"
        level = "a constant offset, no sound" if peak >= SILENCE_PEAK else level
        raise AudioError(f"{label} is silent ({level}): choose a recording with audible sound.")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


__all__ = [
    "AUDIO_TYPES",
    "SNDFILE_TYPES",
    "fallback_seconds",
    "FORMATS_TEXT",
    "MAX_RATE",
    "MAX_SECONDS",
    "MIN_RATE",
    "MIN_SECONDS",
    "SILENCE_PEAK",
    "AudioError",
    "decode",
]
