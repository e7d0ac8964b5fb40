"""Mel spectrograms and waveform envelopes for display (the studio's Spectrogram page draws them).

Pure librosa/numpy, no UI. librosa's first call JIT-compiles with numba (~20 s cold, ~2 s with a
warm cache): set NUMBA_CACHE_DIR so that happens once per machine, not once per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_MELS = 128
DEFAULT_FMIN = 20.0  # Hz: the bottom of hearing; also keeps a log-frequency axis above 0
MAX_FRAMES = 2000  # a browser heatmap wider than this only costs time: long clips get a larger hop
MIN_DB = -80.0  # floor of the dB scale, relative to the loudest bin


@dataclass(frozen=True)
class MelSpectrogram:
    """`db` is (n_mels, frames) in dB relative to `ref_power` (0 dB = the loudest bin unless a
    shared reference was given); `freqs` are the mel band centres in Hz, `times` the frame centres
    in seconds from the start of the wave."""

    db: np.ndarray
    freqs: np.ndarray
    times: np.ndarray
    ref_power: float

    def __iter__(self):  # (S_db, freqs, times), as `S_db, freqs, times = mel_spectrogram(...)`
        return iter((self.db, self.freqs, self.times))


def _hop(frames: int, n_fft: int, max_frames: int) -> int:
    hop = max(n_fft // 4, int(np.ceil(frames / max(1, max_frames))))
    return int(hop)


def mel_spectrogram(
    wave: np.ndarray,
    sr: int,
    n_mels: int = DEFAULT_MELS,
    fmin: float = DEFAULT_FMIN,
    fmax: float | None = None,
    n_fft: int | None = None,
    max_frames: int = MAX_FRAMES,
    ref_power: float | None = None,
    top_db: float = -MIN_DB,
) -> MelSpectrogram:
    """Mel power spectrogram of a mono wave, in dB.

    `n_fft` defaults to ~43 ms (2048 at 48 kHz); the hop grows for long clips so there are at most
    `max_frames` frames. Pass `ref_power` (e.g. the mix's) to draw several sources on one dB scale.
    """
    import librosa

    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    sr = int(sr)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if n_fft is None:
        n_fft = int(2 ** np.round(np.log2(sr * 0.043)))
    fmax = float(fmax or sr / 2)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    hop = _hop(x.size, n_fft, max_frames)
    power = librosa.feature.melspectrogram(
        y=x, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmin=fmin, fmax=fmax, power=2.0
    )
    ref = float(ref_power) if ref_power else float(power.max()) if power.size and power.max() > 0 else 1.0
    db = librosa.power_to_db(power, ref=ref, amin=1e-10, top_db=None)
    db = np.maximum(db, -abs(top_db)).astype(np.float32)
    freqs = librosa.mel_frequencies(n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=sr, hop_length=hop).astype(np.float32)
    return MelSpectrogram(db, freqs, times, ref)


def shared_spectrograms(
    waves: Mapping[str, np.ndarray],
    sr: int,
    reference: np.ndarray | None = None,
    max_frames: int = MAX_FRAMES,
    **kwargs: Any,
) -> dict[str, MelSpectrogram]:
    """Mel spectrograms of several waves (the parts of one clip) on ONE dB scale, so a quiet part
    looks quiet: 0 dB is the loudest bin of `reference` (the mix they were split from, at the same
    rate `sr`) or, without one, of the loudest wave. Same `sr`, same analysis for every wave."""
    if reference is not None:
        ref = mel_spectrogram(reference, sr, max_frames=max_frames, **kwargs).ref_power
    else:
        ref = max(
            (mel_spectrogram(w, sr, max_frames=max_frames, **kwargs).ref_power for w in waves.values()), default=1.0
        )
    return {name: mel_spectrogram(w, sr, max_frames=max_frames, ref_power=ref, **kwargs) for name, w in waves.items()}


def waveform_envelope(wave: np.ndarray, sr: int, points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, low, high): min/max of the wave in `points` equal slices, for drawing a long waveform
    without sending every sample to the browser. Short waves come back sample by sample."""
    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    if x.size == 0:
        z = np.zeros(0, dtype=np.float32)
        return z, z, z
    if x.size <= points:
        t = np.arange(x.size, dtype=np.float32) / sr
        return t, x.copy(), x.copy()
    edges = np.linspace(0, x.size, points + 1).astype(np.int64)
    low = np.minimum.reduceat(x, edges[:-1])
    high = np.maximum.reduceat(x, edges[:-1])
    t = ((edges[:-1] + edges[1:]) / 2 / sr).astype(np.float32)
    return t, low.astype(np.float32), high.astype(np.float32)


def warm_up() -> None:
    """Compile librosa's numba kernels into NUMBA_CACHE_DIR (scripts/setup.sh runs this once per
    install): a fresh machine's first spectrogram then loads them (~2 s) instead of compiling (~25 s)."""
    tone = np.sin(np.linspace(0, 2000 * np.pi, 48000)).astype(np.float32)
    mel_spectrogram(tone, 48000)


__all__ = ["MelSpectrogram", "mel_spectrogram", "shared_spectrograms", "waveform_envelope", "warm_up"]
