"""The band split's two edge guards, each on its own: the 0.1 s of real audio around a window, and
the long odd padding at a clip's own ends. Either one alone would pass a test that only looks at
a tone cut mid-clip (the odd extension of a tone is nearly the tone), so each is checked where
the other cannot help: noise cut mid-clip (context only), a tone that fills the clip (padding only).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import AudioClip
from core.bands import BAND_TOLERANCE, band_ranges, band_split
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


def test_a_window_starting_between_float_seconds_is_cut_at_its_own_frame():
    """The window's start in frames is rounded, not truncated: 22055 / 22050 * 22050 is
    22054.999..., and truncating it would take the context's bands one sample early."""
    i0 = 22055
    assert (i0 / RATE) * RATE < i0  # the float start lies just below its frame
    noise = (np.random.default_rng(1).standard_normal(3 * RATE) * 0.3).astype(np.float32)
    sources = split_sources(clip_of(noise, "noise"), "bands", start_s=i0 / RATE, seconds=1.0)
    whole = band_split(noise, RATE)
    for band, part in sources.parts.items():
        error = np.max(np.abs(part - whole[band][i0 : i0 + RATE]))
        assert error <= BAND_TOLERANCE * np.max(np.abs(noise)), (band, error)


def test_the_shortest_clip_splits_with_the_lowest_crossover():
    """A 0.1 s clip (MIN_SECONDS) at 48 kHz is 4800 samples; four periods of a 20 Hz crossover
    are 9600: the padding is cut to the clip, and the bands still add up to it."""
    x = np.random.default_rng(2).standard_normal(4800).astype(np.float32)
    parts = band_split(x, 48000, (20.0, 4000.0))
    assert sorted(parts) == ["high", "low", "mid"]
    assert all(p.shape == (4800,) for p in parts.values())
    assert np.max(np.abs(parts["low"] + parts["mid"] + parts["high"] - x)) <= BAND_TOLERANCE * np.max(np.abs(x))


def test_a_crossover_just_below_the_pass_everything_limit_is_a_real_filter():
    """Only a crossover at 0.49 of the rate or above passes everything (its band above is empty):
    3700 Hz at 8 kHz (0.46) is still filtered, so white noise leaves energy above it."""
    x = np.random.default_rng(3).standard_normal(8000).astype(np.float32)
    below = band_split(x, 8000, (250.0, 3700.0))
    assert float(np.sqrt(np.mean(below["high"].astype(np.float64) ** 2))) > 0.2  # 0.254 measured
    at = band_split(x, 8000, (250.0, 3920.0))  # 0.49 of the rate
    assert not np.any(at["high"])


@pytest.mark.parametrize("crossovers", [(0.0, 4000.0), (-10.0, 4000.0), (1000.0, 1000.0), (4000.0, 250.0)])
def test_band_split_refuses_crossovers_out_of_order(crossovers):
    x = np.random.default_rng(4).standard_normal(RATE).astype(np.float32)
    with pytest.raises(ValueError) as err:
        band_split(x, RATE, crossovers)
    assert str(err.value) == f"crossovers must satisfy 0 < low < high, got {crossovers}"


def test_band_ranges_name_each_band_by_its_own_edges():
    assert band_ranges((250.0, 4000.0)) == {"low": "< 250 Hz", "mid": "250–4000 Hz", "high": "> 4000 Hz"}
    assert band_ranges((312.5, 2500.0)) == {"low": "< 312.5 Hz", "mid": "312.5–2500 Hz", "high": "> 2500 Hz"}


def test_a_clip_that_starts_inside_its_file_is_cut_at_its_own_frames():
    """A clip that is itself a cut (start 1 s into its file): the window from 0.5 s is its own
    0.5 s, not the file's, so the bands still sum to exactly that window."""
    noise = (np.random.default_rng(1).standard_normal(4 * RATE) * 0.3).astype(np.float32)
    clip = clip_of(noise, "noise").window(1.0, 2.5)
    sources = split_sources(clip, "bands", start_s=0.5, seconds=1.0)
    window = clip.window(0.5, 1.0).mono()
    np.testing.assert_array_equal(window, noise[int(1.5 * RATE) : int(2.5 * RATE)])
    assert np.max(np.abs(sum(sources.parts.values()) - window)) <= BAND_TOLERANCE * np.max(np.abs(window))
