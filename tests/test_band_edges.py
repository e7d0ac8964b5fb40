"""The band split's two edge guards, each on its own: the 0.1 s of real audio around a window, and
the long odd padding at a clip's own ends. Either one alone would pass a test that only looks at
a tone cut mid-clip (the odd extension of a tone is nearly the tone), so each is checked where
the other cannot help: noise cut mid-clip (context only), a tone that fills the clip (padding only).
"""

from __future__ import annotations

import numpy as np

from core.audio import AudioClip
from core.bands import BAND_TOLERANCE, band_split
from core.sources import split_sources

RATE = 22050


def clip_of(x: np.ndarray, name: str) -> AudioClip:
    x = np.asarray(x, dtype=np.float32)
    return AudioClip(x[None, :], RATE, f"{abs(hash(x.tobytes())):064x}"[:64], name)


def test_a_window_inside_a_clip_is_split_as_the_whole_clip_is():
    """With 0.1 s of the real audio either side, the filters have settled before the window starts:
    its bands are the whole clip's bands, sliced. Filtered alone, noise cut at both ends is not."""
    noise = (np.random.default_rng(0).standard_normal(6 * RATE) * 0.3).astype(np.float32)
    sources = split_sources(clip_of(noise, "noise"), "bands", start_s=2.0, seconds=2.0)
    whole = band_split(noise, RATE)
    window = slice(2 * RATE, 4 * RATE)
    for band, part in sources.parts.items():
        assert part.shape == (2 * RATE,)
        error = np.max(np.abs(part - whole[band][window]))
        assert error <= BAND_TOLERANCE * np.max(np.abs(noise)), (band, error)  # 0.35 without the context


def test_a_clip_with_no_audio_around_it_gets_no_click_at_its_ends():
    """A 100 Hz tone filling its clip (the default window_start 0 meets the clip's start): no context
    exists, so only the filters' padding keeps the cut ends out of the mid band (-64 dB is the
    filter's own leak; scipy's default 15-sample padding gives -40 dB, one period of the
    cutoff -62.7 dB)."""
    tone = 0.5 * np.sin(2 * np.pi * 100.0 * np.arange(3 * RATE) / RATE)
    sources = split_sources(clip_of(tone, "tone"), "bands", start_s=0.0, seconds=3.0)
    assert sources.silent_levels == ["foreground", "background"]
    mid = sources.parts["mid"].astype(np.float64)
    middle = slice(RATE, 2 * RATE)  # a second away from both ends: the filter's own leak only
    own_leak_db = 10 * np.log10(np.mean(mid[middle] ** 2) / np.mean(tone[middle] ** 2))
    whole_db = 10 * np.log10(np.mean(mid**2) / np.mean(tone**2))
    assert own_leak_db < -60.0
    assert whole_db < own_leak_db + 0.1, (whole_db, own_leak_db)  # the ends add nothing measurable
