"""A 3-band crossover that sums back to the waveform: low -> ambience, mid -> background, high -> foreground.

Seed 000 maps low / mid / high frequencies to ambience / background / foreground; this is that
split, done so that the three bands add back to the input exactly (see `band_split`).
"""

from __future__ import annotations

import numpy as np

from core.audio import AudioClip
from core.params import default

DEFAULT_CROSSOVERS: tuple[float, float] = default("crossovers")  # why 250 Hz and 4 kHz: see core/params.py
BAND_ORDER = 4  # Butterworth order per pass; forward-backward doubles it: 48 dB/octave, -6 dB at fc
BAND_LEVELS: dict[str, str] = {"low": "ambience", "mid": "background", "high": "foreground"}
BAND_CONTEXT_S = 0.1  # audio either side of the window the band filters see (>> a 250 Hz ring)
BAND_TOLERANCE = 1e-6  # max |low + mid + high - x| relative to max |x| (float32 rounding of 3 parts)


def band_ranges(crossovers: tuple[float, float] = DEFAULT_CROSSOVERS) -> dict[str, str]:
    """Each band's frequency range in words, for captions: {"low": "< 250 Hz", "mid": "250–4000 Hz", ...}."""
    lo, hi = crossovers
    return {"low": f"< {lo:g} Hz", "mid": f"{lo:g}–{hi:g} Hz", "high": f"> {hi:g} Hz"}


def band_split(
    x: np.ndarray, rate: int, crossovers: tuple[float, float] = DEFAULT_CROSSOVERS, order: int = BAND_ORDER
) -> dict[str, np.ndarray]:
    """Split mono ``x`` into low/mid/high so that low + mid + high == x (float32 rounding only).

    low = LP(f1)(x), mid = LP(f2)(x) - low, high = x - LP(f2)(x), with each LP a Butterworth run
    forwards and backwards (sosfiltfilt): zero phase, so the differences are true band-passes and
    the sum is exact by construction. A Linkwitz-Riley crossover is only allpass-summing (flat
    magnitude, shifted phase): its bands do not add back to the waveform. Computed in float64;
    max |sum - x| <= BAND_TOLERANCE * max|x| (tested). Each band edge is -6 dB, 48 dB/octave.
    A crossover at or above Nyquist leaves the band above it empty (e.g. 4 kHz on an 8 kHz file).
    """
    f1, f2 = float(crossovers[0]), float(crossovers[1])
    if not 0 < f1 < f2:
        raise ValueError(f"crossovers must satisfy 0 < low < high, got {crossovers}")
    xd = np.asarray(x, dtype=np.float64)
    low = _lowpass(xd, rate, f1, order)
    low_mid = _lowpass(xd, rate, f2, order)
    return {
        "low": low.astype(np.float32),
        "mid": (low_mid - low).astype(np.float32),
        "high": (xd - low_mid).astype(np.float32),
    }


def band_split_in_context(clip: AudioClip, window: AudioClip, crossovers: tuple[float, float]) -> dict[str, np.ndarray]:
    """band_split of the window, filtered with up to BAND_CONTEXT_S of the clip on either side.

    A window cut in mid-sound starts and ends with a step; filtered alone, that step would put a
    click into every band. With the real audio around it, the filters settle before the window.
    The parts still sum exactly to the window (slices of an exact sum).
    """
    rate = clip.sample_rate
    first = int(round((window.start - clip.start) * rate))
    margin = int(round(BAND_CONTEXT_S * rate))
    lo, hi = max(0, first - margin), min(clip.frames, first + window.frames + margin)
    if (lo, hi) == (first, first + window.frames):
        return band_split(window.mono(), rate, crossovers)
    context = AudioClip(clip.samples[:, lo:hi], rate, clip.sha256, clip.name).mono()
    parts = band_split(context, rate, crossovers)
    cut = slice(first - lo, first - lo + window.frames)
    return {name: np.ascontiguousarray(part[cut]) for name, part in parts.items()}


def _lowpass(x: np.ndarray, rate: int, cutoff: float, order: int) -> np.ndarray:
    from scipy import signal  # 0.8 s to import: paid by the first band split, not by every import of core

    if cutoff >= 0.49 * rate:  # at (or within 2 % of) Nyquist: scipy's filter needs cutoff < rate/2; pass everything
        return x.copy()
    sos = signal.butter(order, cutoff, btype="lowpass", fs=rate, output="sos")
    if x.shape[-1] < 2:
        return x.copy()
    # Odd (point-symmetric) extension over 4 periods of the cutoff: scipy's default pads ~15
    # samples, far shorter than a 250 Hz filter's ring, and the cut edges of the window then leak
    # a click into the upper bands (-40 dB instead of the filter's own -64 dB for a 100 Hz tone).
    padlen = min(x.shape[-1] - 1, int(4 * rate / cutoff))
    return signal.sosfiltfilt(sos, x, padtype="odd", padlen=padlen)
