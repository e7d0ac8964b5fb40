"""Parts as files and pictures: WAV bytes of stems and bands, the mix they came from at their rate,
spectrograms on one shared dB scale, and ZIPs that carry WAVs beside the PNGs."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
import soundfile as sf

from core.audio import AudioClip, load_audio
from core.export import png_bytes, read_params, wav_bytes, zip_bytes
from core.params import GenerationParams
from core.separation import StemSeparator
from core.sources import (
    part_audio,
    part_filename,
    part_wav_bytes,
    parts_wav_items,
    player_wav_bytes,
    save_stems,
    split_sources,
    window_mix,
)
from core.spectrum import mel_spectrogram, shared_spectrograms


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def street(samples):
    return load_audio(samples["street"])


@pytest.fixture(scope="module")
def stems(street):
    return split_sources(street, "stems", separator=StemSeparator("tiny"), seconds=3.0)


@pytest.fixture(scope="module")
def bands(street):
    return split_sources(street, "bands", start_s=1.0, seconds=3.0)


def test_wav_bytes_round_trip_float_exactly():
    x = np.linspace(-1.5, 1.5, 1000, dtype=np.float32)  # beyond full scale: float keeps it
    back, rate = sf.read(io.BytesIO(wav_bytes(x, 22050)), dtype="float32")
    assert rate == 22050 and np.array_equal(back, x)
    stereo = np.stack([x, -x])
    back, _ = sf.read(io.BytesIO(wav_bytes(stereo, 8000)), dtype="float32")
    assert back.shape == (1000, 2) and np.array_equal(back.T, stereo)


def test_the_same_samples_make_the_same_file_whenever_they_are_written():
    x = np.linspace(-0.5, 0.5, 64, dtype=np.float32)
    data = wav_bytes(np.stack([x, -x]), 8000)
    peak = data.index(b"PEAK")  # libsndfile's chunk for float WAVs: size, version, timestamp, peaks
    assert data[peak + 12 : peak + 16] == bytes(4)  # no wall-clock second in the file
    assert struct.unpack("<f", data[peak + 16 : peak + 20])[0] == pytest.approx(0.5)  # the peaks stay
    assert sf.read(io.BytesIO(data), dtype="float32")[0].T.tolist() == np.stack([x, -x]).tolist()
    spelled = np.frombuffer(b"PEAK" * 4, dtype=np.float32)  # samples (and so the peak) spell the chunk name
    body = wav_bytes(spelled, 8000)
    assert body.count(b"PEAK") == 6 and np.array_equal(sf.read(io.BytesIO(body), dtype="float32")[0], spelled)


def test_pcm_wav_bytes_clip_instead_of_wrapping():
    x = np.array([0.0, 0.5, 2.0, -3.0], dtype=np.float32)
    back, _ = sf.read(io.BytesIO(wav_bytes(x, 8000, "PCM_16")), dtype="float32")
    assert back[2] == pytest.approx(1.0, abs=1e-4) and back[3] == pytest.approx(-1.0, abs=1e-4)
    assert back[1] == pytest.approx(0.5, abs=1e-4)
    with pytest.raises(ValueError):
        wav_bytes(np.zeros((1, 2, 3)), 8000)


def test_stem_wavs_are_what_save_stems_writes(stems, tmp_path):
    paths = {p.name: p for p in save_stems(stems, tmp_path)}
    for name in stems.parts:
        data = part_wav_bytes(stems, name)
        assert data == paths[part_filename(stems, name)].read_bytes()
        wave, rate = sf.read(io.BytesIO(data), dtype="float32")
        assert rate == stems.sample_rate == 44100 and wave.shape == part_audio(stems, name).T.shape
        assert wave.shape[1] == 2  # Demucs stems stay stereo


def test_parts_wav_items_name_each_part_for_a_zip(stems, bands):
    assert [n for n, _ in parts_wav_items(stems, prefix="stems")] == [
        "stems-drums.wav",
        "stems-bass.wav",
        "stems-other.wav",
        "stems-vocals.wav",
    ]
    items = dict(parts_wav_items(bands, prefix="bands"))
    assert list(items) == ["bands-low.wav", "bands-mid.wav", "bands-high.wav"]
    low, rate = sf.read(io.BytesIO(items["bands-low.wav"]), dtype="float32")
    assert low.ndim == 1 and rate == bands.sample_rate and np.array_equal(low, bands.parts["low"])


def test_player_wav_is_mono_16_bit_and_keeps_relative_loudness(bands):
    info = sf.info(io.BytesIO(player_wav_bytes(bands, "mid")))
    assert info.channels == 1 and info.subtype == "PCM_16" and info.samplerate == bands.sample_rate
    rms = {}
    for name in bands.parts:
        wave, _ = sf.read(io.BytesIO(player_wav_bytes(bands, name)), dtype="float32")
        rms[name] = float(np.sqrt(np.mean(wave**2)))
        expected = float(np.sqrt(np.mean(np.clip(bands.parts[name], -1, 1) ** 2)))
        assert rms[name] == pytest.approx(expected, rel=1e-2, abs=1e-4)  # not normalised per part


def test_window_mix_is_the_window_at_the_parts_rate(street, stems, bands):
    mix = window_mix(street, bands)  # same rate: exactly the window the bands were cut from
    assert np.allclose(mix, street.window(1.0, 3.0).mono())
    assert np.allclose(sum(bands.parts.values()), mix, atol=1e-3)  # the bands sum back to it
    mix44 = window_mix(street, stems)  # Demucs runs at 44.1 kHz whatever the clip's rate
    assert mix44.shape[-1] == stems.parts["drums"].shape[-1]
    # A clip that starts inside its file (a cut): the parts' start is in the file, not in the cut.
    cut = street.window(0.5, 5.0)
    assert cut.start == 0.5 and np.allclose(window_mix(cut, bands), mix)


def test_shared_spectrograms_use_one_reference():
    sr = 16000
    t = np.arange(sr) / sr
    loud = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    quiet = (0.01 * loud).astype(np.float32)  # the same tone, 40 dB down
    mels = shared_spectrograms({"loud": loud, "quiet": quiet}, sr, reference=loud, n_mels=64)
    assert mels["loud"].ref_power == mels["quiet"].ref_power
    # The quiet part is 40 dB down on the shared scale (on its own scale it would peak at 0 dB).
    assert mels["loud"].db.max() == pytest.approx(0.0, abs=1e-3)
    assert mels["quiet"].db.max() == pytest.approx(-40.0, abs=0.01)
    assert mel_spectrogram(quiet, sr, n_mels=64).db.max() == pytest.approx(0.0, abs=1e-3)
    # Without a reference, the loudest part sets the scale.
    alone = shared_spectrograms({"loud": loud, "quiet": quiet}, sr, n_mels=64)
    assert alone["quiet"].db.max() == pytest.approx(-40.0, abs=0.01)


def test_zip_carries_wavs_beside_pngs_without_errors(bands):
    from PIL import Image

    params = GenerationParams(prompt="zip", seed=9, width=64, height=64)
    png = png_bytes(Image.new("RGB", (64, 64)), params)
    data = zip_bytes([("01_mix.png", png), *parts_wav_items(bands, prefix="bands")])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("params.json"))
        assert read_params(zf.read("01_mix.png")) == params
        assert sf.read(io.BytesIO(zf.read("bands-high.wav")))[1] == bands.sample_rate
    entries = {e["file"]: e for e in manifest["files"]}
    assert entries["bands-low.wav"]["metadata"] is None and "error" not in entries["bands-low.wav"]
    assert entries["01_mix.png"]["metadata"]["params"]["seed"] == 9
    # A file named .png that is not one is still reported.
    bad = zip_bytes([("fake.png", b"not a png")])
    with zipfile.ZipFile(io.BytesIO(bad)) as zf:
        (entry,) = json.loads(zf.read("params.json"))["files"]
    assert entry["metadata"] is None and "error" in entry


def test_part_audio_names_a_missing_part(bands):
    with pytest.raises(KeyError, match="drums"):
        part_audio(bands, "drums")
    mono = split_sources(AudioClip(np.zeros((1, 800), np.float32) + 0.1, 8000, "0" * 64, "dc"), "mix")
    assert part_audio(mono, "mix").shape == (800,)
