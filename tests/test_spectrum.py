"""core.spectrum's analysis settings as values: the window (43 ms), the hop, the mel bands
(128 from 20 Hz to Nyquist), the -80 dB floor, the shared scale and the envelope's slices."""

from __future__ import annotations

import numpy as np
import pytest

from core.spectrum import mel_spectrogram, shared_spectrograms, waveform_envelope


def tone(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_a_second_at_48_khz_has_128_mel_bands_from_20_hz_and_a_43_ms_window():
    """2048-sample window (43 ms) with a quarter-window hop: 1 + 48000 // 512 frames, 512 samples apart."""
    mel = mel_spectrogram(tone(1000.0, 1.0, 48000), 48000)
    assert mel.db.shape == (128, 1 + 48000 // 512)
    assert mel.freqs[0] == pytest.approx(20.0) and mel.freqs[-1] == pytest.approx(24000.0)
    np.testing.assert_allclose(np.diff(mel.times), 512 / 48000, atol=1e-5)
    assert mel.times[0] == 0.0


def test_silence_after_a_tone_sits_on_the_80_db_floor():
    sr = 16000
    x = np.concatenate([tone(1000.0, 1.0, sr), np.zeros(sr, np.float32)])
    mel = mel_spectrogram(x, sr)
    assert mel.db.max() == pytest.approx(0.0, abs=1e-3)
    assert mel.db.min() == pytest.approx(-80.0)
    assert mel_spectrogram(x, sr, top_db=60.0).db.min() == pytest.approx(-60.0)


def test_a_long_clip_gets_a_larger_hop_and_never_more_than_max_frames():
    sr = 16000
    x = np.zeros(sr * 100 + 7, np.float32)  # not a multiple of max_frames: the hop rounds up
    x[::500] = 1.0
    mel = mel_spectrogram(x, sr, max_frames=1000)
    hop = int(np.ceil(x.size / 1000))  # 1601 samples: about 0.1 s
    assert mel.db.shape[1] == 1 + x.size // hop <= 1001
    np.testing.assert_allclose(np.diff(mel.times), hop / sr, atol=1e-4)


def test_parts_drawn_with_the_mix_as_reference_sit_below_it():
    sr = 16000
    mix = tone(440.0, 1.0, sr)
    part = tone(440.0, 1.0, sr, amp=0.05)  # 20 dB down
    mels = shared_spectrograms({"part": part}, sr, reference=mix)
    assert mels["part"].db.max() == pytest.approx(-20.0, abs=0.01)


def test_the_envelope_gives_each_slices_min_and_max_at_its_centre():
    sr = 1000
    x = np.zeros(4000, np.float32)
    x[100], x[1900], x[3999] = 0.8, -0.6, 0.3
    times, low, high = waveform_envelope(x, sr, points=4)
    np.testing.assert_allclose(times, [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_array_equal(high, np.float32([0.8, 0.0, 0.0, 0.3]))
    np.testing.assert_array_equal(low, np.float32([0.0, -0.6, 0.0, 0.0]))
    short_t, short_low, short_high = waveform_envelope(x[:3], sr)
    np.testing.assert_allclose(short_t, [0.0, 0.001, 0.002])
    np.testing.assert_array_equal(short_low, x[:3])
