"""core.sources: exact band split, level routing, tiny Demucs, the separation cache, offline errors.

Offline and fast: Demucs runs as the "tiny" spec (random weights, ~0.36 M parameters) on windows
of a few seconds; the pretrained loader is tested against fake local caches, never the network.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest tests/...` without `python -m`
    sys.path.insert(0, str(ROOT))

from core.audio import AudioClip, load_audio  # noqa: E402
from core.bands import BAND_TOLERANCE, band_split  # noqa: E402
from core.cancel import Cancelled  # noqa: E402
from core.params import DEFAULT_STEM_MAP, LEVELS, STEMS, GenerationParams  # noqa: E402
from core.samples import sample_paths  # noqa: E402
from core.separation import TINY_KWARGS, SeparationError, StemSeparator, build_random_htdemucs  # noqa: E402
from core.sources import (  # noqa: E402
    SILENT_DB,
    LevelSources,
    level_origin,
    save_stems,
    sources_for_params,
    split_sources,
)


def clip_of(x: np.ndarray, rate: int, name: str = "synthetic") -> AudioClip:
    x = np.asarray(x, dtype=np.float32)
    return AudioClip(x, rate, f"{abs(hash(x.tobytes())):064x}"[:64], name)


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5, fade: float = 0.02) -> np.ndarray:
    """A tone with 20 ms raised-cosine fades: switched on abruptly, a tone is a broadband click."""
    x = amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)
    n = int(fade * rate)
    if n:
        ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def energy(x: np.ndarray) -> float:
    return float(np.sum(np.square(x, dtype=np.float64)))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread while these tests run: on 2 cores shared with other processes, two
    OpenMP threads spinning against each other made the tiny model ~40x slower (5.5 s vs 0.13 s)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def street() -> AudioClip:
    return load_audio(sample_paths()["street"])


@pytest.fixture(scope="module")
def tiny() -> StemSeparator:
    """One tiny separator for read-only tests; cache tests build their own."""
    return StemSeparator("tiny", device="cpu")


# -- bands -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_bands_reconstruct_the_input(rate):
    x = np.random.default_rng(rate).standard_normal(3 * rate).astype(np.float32) * 0.3
    x[rate : rate + 50] += 0.9  # a click: transients are where non-complementary crossovers smear
    parts = band_split(x, rate)
    assert set(parts) == {"low", "mid", "high"}
    assert all(p.dtype == np.float32 and p.shape == x.shape for p in parts.values())
    error = np.max(np.abs(parts["low"] + parts["mid"] + parts["high"] - x))
    assert error <= BAND_TOLERANCE * np.max(np.abs(x))


@pytest.mark.parametrize("name", ["rain", "street", "thunder", "birdsong"])
def test_bands_reconstruct_the_samples(name):
    clip = load_audio(sample_paths()[name])
    sources = split_sources(clip, "bands", seconds=10.0)
    mono = clip.mono()
    total = sum(sources.parts.values())
    assert np.max(np.abs(total - mono)) <= BAND_TOLERANCE * np.max(np.abs(mono))


@pytest.mark.parametrize(
    "freq, level, silent",
    [
        (100.0, "ambience", ["foreground", "background"]),
        (1000.0, "background", ["foreground", "ambience"]),
        (6000.0, "foreground", ["ambience"]),  # 0.6 octave above 4 kHz: the mid band keeps -28 dB
    ],
)
@pytest.mark.parametrize("rate", [22050, 44100])
def test_a_tone_lands_in_its_band(freq, level, silent, rate):
    x = sine(freq, 3.0, rate)
    sources = split_sources(clip_of(x, rate), "bands")
    assert energy(sources.levels[level]) / energy(x) > 0.9
    assert sources.silent_levels == silent
    assert level in sources.levels and not set(silent) & set(sources.levels)


def test_a_window_cut_mid_tone_adds_no_click():
    rate = 22050
    clip = clip_of(sine(100.0, 6.0, rate), rate)
    sources = split_sources(clip, "bands", start_s=1.2345, seconds=3.0)  # cut at arbitrary phase
    assert sources.silent_levels == ["foreground", "background"]
    assert sources.part_db["mid"] < -60  # the filter's own leak (-64 dB), no edge transient
    window = clip.window(1.2345, 3.0).mono()
    assert np.max(np.abs(sum(sources.parts.values()) - window)) <= BAND_TOLERANCE * np.max(np.abs(window))


def test_tones_sample_splits_one_tone_per_level():
    clip = load_audio(sample_paths()["tones"])
    sources = split_sources(clip, "bands")
    assert sources.part_levels == {"low": "ambience", "mid": "background", "high": "foreground"}
    rate = sources.sample_rate
    for level, freq in (("ambience", 100.0), ("background", 1000.0), ("foreground", 6000.0)):
        wave = sources.levels[level]
        spectrum = np.abs(np.fft.rfft(wave))
        assert np.fft.rfftfreq(wave.size, 1 / rate)[np.argmax(spectrum)] == pytest.approx(freq, abs=1.0)
        assert sources.part_db[{"ambience": "low", "background": "mid", "foreground": "high"}[level]] == pytest.approx(
            -4.8, abs=0.3
        )  # each tone carries a third of the energy


def test_crossovers_move_the_band_edges():
    rate = 22050
    x = sine(1000.0, 2.0, rate)
    assert list(split_sources(clip_of(x, rate), "bands", crossovers=(3000.0, 6000.0)).levels) == ["ambience"]
    assert list(split_sources(clip_of(x, rate), "bands", crossovers=(100.0, 300.0)).levels) == ["foreground"]
    near = split_sources(clip_of(x, rate), "bands", crossovers=(1500.0, 3000.0))  # 0.6 octave: leaks
    assert energy(near.levels["ambience"]) > 0.9 * energy(x) and "background" in near.levels


def test_crossover_above_nyquist_leaves_that_band_empty():
    rate = 8000  # Nyquist 4 kHz: the 4 kHz crossover has nothing above it
    x = sine(100.0, 2.0, rate) + sine(1000.0, 2.0, rate)
    sources = split_sources(clip_of(x, rate), "bands")
    assert not np.any(sources.parts["high"])
    assert sources.silent_levels == ["foreground"]
    assert set(sources.levels) == {"background", "ambience"}


def test_engine_sample_has_no_foreground_band():
    sources = split_sources(load_audio(sample_paths()["engine"]), "bands")
    assert sources.silent_levels == ["foreground"]
    assert sources.part_db["high"] < SILENT_DB < sources.part_db["mid"]


def test_silent_window_reports_every_level_without_dividing_by_zero():
    rate = 22050
    x = np.concatenate([sine(440.0, 2.0, rate), np.zeros(3 * rate)])
    clip = clip_of(x, rate)
    with np.errstate(all="raise"):
        sources = split_sources(clip, "bands", start_s=2.5, seconds=2.0)
    assert sources.levels == {}
    assert sorted(sources.silent_levels) == sorted(LEVELS)
    assert all(db == float("-inf") for db in sources.part_db.values())


def test_bands_use_the_clap_window(street):
    sources = split_sources(street, "bands", start_s=2.0, seconds=3.0)
    assert sources.sample_rate == street.sample_rate
    assert sources.start == pytest.approx(2.0)
    assert all(p.shape == (3 * street.sample_rate,) for p in sources.parts.values())
    window = street.window(2.0, 3.0).mono()
    assert np.max(np.abs(sum(sources.parts.values()) - window)) <= BAND_TOLERANCE * np.max(np.abs(window))


def test_mix_mode_leaves_the_split_to_the_engine(street):
    sources = split_sources(street, "mix", start_s=1.0, seconds=4.0)
    assert sources.mode == "mix" and sources.positional
    assert sources.levels == {} and sources.part_levels == {} and sources.silent_levels == []
    np.testing.assert_array_equal(sources.parts["mix"], street.window(1.0, 4.0).mono())


def test_level_clip_is_content_hashed(street):
    sources = split_sources(street, "bands", seconds=3.0)
    amb, fg = sources.clip("ambience"), sources.clip("foreground")
    assert amb.sample_rate == street.sample_rate and amb.channels == 1
    np.testing.assert_array_equal(amb.mono(), sources.levels["ambience"])
    assert amb.key != fg.key
    assert split_sources(street, "bands", seconds=3.0).clip("ambience").key == amb.key
    assert sources.clip("low").key == amb.key  # a part and its level: same samples, same key
    with pytest.raises(KeyError):
        sources.clip("vocals")


def test_bad_mode_is_refused(street):
    with pytest.raises(ValueError, match="mix, bands, stems"):
        split_sources(street, "karaoke")


def test_sources_for_params(street):
    params = GenerationParams(sources="bands", crossovers=(300.0, 3000.0), window_start=1.0)
    sources = sources_for_params(street, params)
    assert sources.mode == "bands" and sources.start == pytest.approx(1.0)
    expected = split_sources(street, "bands", crossovers=(300.0, 3000.0), start_s=1.0)
    np.testing.assert_array_equal(sources.parts["mid"], expected.parts["mid"])
    alone = band_split(street.window(1.0).mono(), street.sample_rate, (300.0, 3000.0))  # no context
    inner = slice(street.sample_rate // 10, -street.sample_rate // 10)  # the edges differ, by design
    np.testing.assert_allclose(sources.parts["mid"][inner], alone["mid"][inner], atol=1e-3)


# -- stems (tiny Demucs) -------------------------------------------------------------------------
def test_tiny_demucs_returns_four_stereo_stems(street, tiny):
    sources = split_sources(street, "stems", separator=tiny, start_s=1.0, seconds=1.5)
    assert sources.mode == "stems" and sources.sample_rate == 44100
    assert list(sources.stems_stereo) == list(STEMS)
    for stem, wave in sources.stems_stereo.items():
        assert wave.shape == (2, int(1.5 * 44100)) and wave.dtype == np.float32, stem
        assert np.all(np.isfinite(wave)) and np.any(wave), stem
        np.testing.assert_allclose(sources.parts[stem], wave.mean(axis=0), atol=1e-6)
    assert sources.part_levels == dict(DEFAULT_STEM_MAP)
    np.testing.assert_allclose(sources.levels["background"], sources.parts["drums"] + sources.parts["other"], atol=1e-6)
    np.testing.assert_array_equal(sources.levels["ambience"], sources.parts["bass"])
    np.testing.assert_array_equal(sources.levels["foreground"], sources.parts["vocals"])
    assert "torchaudio" not in sys.modules and "torchvision" not in sys.modules


def test_tiny_demucs_is_deterministic(street, tiny):
    other = StemSeparator("tiny", device="cpu")
    window = street.window(1.0, 1.5)
    a, b = tiny.separate(window), other.separate(window)
    for stem in STEMS:
        np.testing.assert_array_equal(a[stem], b[stem])


def test_stem_map_routes_stems_to_levels(street, tiny):
    routing = dict(DEFAULT_STEM_MAP) | {"vocals": "ambience"}
    sources = split_sources(street, "stems", separator=tiny, start_s=1.0, seconds=1.5, stem_map=routing)
    assert sources.part_levels["vocals"] == "ambience"
    np.testing.assert_allclose(sources.levels["ambience"], sources.parts["bass"] + sources.parts["vocals"], atol=1e-6)
    assert "foreground" not in sources.levels and "foreground" not in sources.silent_levels  # no source
    everything = split_sources(
        street, "stems", separator=tiny, start_s=1.0, seconds=1.5, stem_map={s: "background" for s in STEMS}
    )
    assert list(everything.levels) == ["background"]
    np.testing.assert_allclose(everything.levels["background"], sum(everything.parts.values()), atol=1e-5)
    with pytest.raises(ValueError, match="guitar"):
        split_sources(street, "stems", separator=tiny, start_s=1.0, seconds=1.5, stem_map={"guitar": "foreground"})


def test_separation_is_cached_per_window(street):
    separator = StemSeparator("tiny", device="cpu")
    first = split_sources(street, "stems", separator=separator, start_s=0.0, seconds=1.0)
    assert separator.calls == 1
    again = split_sources(
        street, "stems", separator=separator, start_s=0.0, seconds=1.0, stem_map={"vocals": "ambience"}
    )
    assert separator.calls == 1  # a different routing is not a different separation
    assert again.stems_stereo["vocals"] is first.stems_stereo["vocals"]
    split_sources(street, "stems", separator=separator, start_s=0.5, seconds=1.0)
    assert separator.calls == 2
    split_sources(street, "stems", separator=separator, start_s=0.0, seconds=1.2)
    assert separator.calls == 3
    with pytest.raises(ValueError):
        first.stems_stereo["drums"][0, 0] = 1.0  # cached arrays are read-only


def test_cache_is_lru_and_bounded(street):
    separator = StemSeparator("tiny", device="cpu", cache_size=1)
    for start in (0.0, 0.5, 0.0):
        split_sources(street, "stems", separator=separator, start_s=start, seconds=0.5)
    assert separator.calls == 3
    lru = StemSeparator("tiny", device="cpu", cache_size=2)
    for start in (0.0, 0.5, 0.0, 1.0):  # the hit on 0.0 makes 0.5 the least recently used: 1.0 evicts it
        split_sources(street, "stems", separator=lru, start_s=start, seconds=0.5)
    assert lru.calls == 3
    split_sources(street, "stems", separator=lru, start_s=0.0, seconds=0.5)
    assert lru.calls == 3  # still cached
    split_sources(street, "stems", separator=lru, start_s=0.5, seconds=0.5)
    assert lru.calls == 4  # evicted


def test_progress_reports_every_chunk(street):
    separator = StemSeparator("tiny", device="cpu")
    seen: list[tuple[int, int]] = []
    split_sources(street, "stems", separator=separator, seconds=3.5, progress=lambda d, t: seen.append((d, t)))
    # 3.5 s at 44.1 kHz, 2 s tiny segment, 25 % overlap -> stride 1.5 s -> chunks at 0, 1.5, 3 s
    assert seen == [(1, 3), (2, 3), (3, 3)]
    seen.clear()
    split_sources(street, "stems", separator=separator, seconds=3.5, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 1)]  # a cache hit finishes at once


def test_cancel_between_chunks(street):
    separator = StemSeparator("tiny", device="cpu")
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        cancel.set()  # the user presses "stop" during the first chunk

    with pytest.raises(Cancelled):
        split_sources(street, "stems", separator=separator, seconds=3.5, progress=progress, cancel=cancel)
    assert seen == [1]  # the second chunk never ran
    assert separator.calls == 0 and separator.cached(street.window(0.0, 3.5)) is None
    cancel.clear()
    split_sources(street, "stems", separator=separator, seconds=1.0, cancel=cancel)
    assert separator.calls == 1


def test_mono_and_multichannel_input_become_stereo(tiny):
    rate = 22050
    for channels in (1, 6):
        x = np.stack([sine(220.0 * (k + 1), 0.5, rate) for k in range(channels)])
        stems = tiny.separate(clip_of(x, rate))
        assert all(wave.shape == (2, 22050) for wave in stems.values())


def test_stems_of_a_perfect_splitter_sum_back_to_the_mix_and_progress_ends_full(monkeypatch):
    """The normalisation around apply_model (as demucs.api.Separator) is undone exactly: a model that
    gives every stem a quarter of its (normalised) input must give back stems that sum to the mix,
    DC offset and loudness included; and the progress bar ends at total/total even when demucs
    reports fewer chunks than counted."""
    import demucs.apply

    def perfect_split(model, mix, **kwargs):  # (1, channels, n) -> (1, sources, channels, n)
        n = len(model.sources)
        return (mix[:, None] / n).expand(-1, n, -1, -1).clone()

    monkeypatch.setattr(demucs.apply, "apply_model", perfect_split)
    rate = 44100
    x = 0.3 + 2.0 * sine(330.0, 3.5, rate, amp=1.0)  # mean 0.3, std far from 1
    seen: list[tuple[int, int]] = []
    stems = StemSeparator("tiny", device="cpu").separate(clip_of(x, rate), progress=lambda d, t: seen.append((d, t)))
    total = sum(stems[s].astype(np.float64) for s in STEMS)
    np.testing.assert_allclose(total, np.stack([x, x]), atol=1e-5)
    np.testing.assert_allclose(stems["drums"], np.stack([x, x]) / 4, atol=1e-5)
    assert seen == [(3, 3)]  # 3.5 s -> 3 chunks (see test_progress_reports_every_chunk)


def test_save_stems_writes_wavs_atomically(street, tiny, tmp_path):
    sources = split_sources(street, "stems", separator=tiny, start_s=1.0, seconds=1.5)  # cached above
    paths = save_stems(sources, tmp_path / "stems")
    assert [p.name for p in paths] == [f"{s}.wav" for s in STEMS]
    for path in paths:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        assert rate == 44100
        np.testing.assert_array_equal(data.T, sources.stems_stereo[path.stem])
    bands = split_sources(street, "bands", seconds=2.0)
    band_paths = save_stems(bands, tmp_path / "bands", subtype="PCM_16")
    assert sorted(p.stem for p in band_paths) == ["high", "low", "mid"]
    data, rate = sf.read(band_paths[0], dtype="float32")
    assert rate == street.sample_rate and data.ndim == 1
    np.testing.assert_allclose(data, bands.parts["low"], atol=1 / 32768 + 1e-6)
    leftovers = [p for p in (tmp_path / "stems").iterdir() if p.name.startswith(".")]
    assert leftovers == []


# -- pretrained loading, offline -------------------------------------------------------------------
@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Empty HF and torch hub caches, hub offline: exactly the state of these machines."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "hf").mkdir()
    return tmp_path


def test_the_default_demucs_model_is_the_seeds_htdemucs():
    """DESIGN's default (seed 000's "improvement"): htdemucs, 4 stems at 44.1 kHz; nothing loads here."""
    assert StemSeparator().spec == "htdemucs"


def test_htdemucs_offline_is_a_clear_error(empty_caches, street):
    started = time.monotonic()
    with pytest.raises(SeparationError) as info:
        StemSeparator("htdemucs").load()
    assert time.monotonic() - started < 5.0  # no network wait
    message = str(info.value)
    assert "'htdemucs' is not available offline" in message
    assert "network" in message and "955717e8-8726e21a.th" in message and str(empty_caches / "torch") in message
    assert "\n" not in message and "Traceback" not in message
    with pytest.raises(SeparationError):
        split_sources(street, "stems", separator=StemSeparator("htdemucs"), seconds=1.0)


def test_download_can_be_refused_explicitly(empty_caches, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(SeparationError, match="not available offline"):
        StemSeparator("htdemucs", allow_download=False).load()


def test_damaged_torch_hub_checkpoint_is_refused_before_unpickling(empty_caches):
    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "955717e8-8726e21a.th").write_bytes(b"not a checkpoint")
    with pytest.raises(SeparationError, match="damaged"):
        StemSeparator("htdemucs").load()


def _export_to_hf_cache(model, cache: Path, name: str = "htdemucs", sig: str = "0123abcd") -> None:
    """Lay the model out as demucs' export_hf does, inside a Hugging Face cache folder."""
    from fractions import Fraction

    from safetensors.torch import save_file

    def encode(value):
        if isinstance(value, Fraction):
            return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
        return value

    args, kwargs = model._init_args_kwargs
    snapshot = cache / "models--adefossez--HTDemucs" / "snapshots" / "c0ffee"
    snapshot.mkdir(parents=True)
    (cache / "models--adefossez--HTDemucs" / "refs").mkdir()
    (cache / "models--adefossez--HTDemucs" / "refs" / "main").write_text("c0ffee")
    (snapshot / f"{name}.yaml").write_text(f"models: ['{sig}']\n")
    metadata = {
        "klass": "demucs.htdemucs.HTDemucs",
        "args": json.dumps(list(args)),
        "kwargs": json.dumps({k: encode(v) for k, v in kwargs.items()}),
    }
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(snapshot / f"{sig}.safetensors"), metadata=metadata)


def test_pretrained_loads_offline_from_the_hf_cache(empty_caches, street, tiny):
    _export_to_hf_cache(build_random_htdemucs(TINY_KWARGS), empty_caches / "hf")
    separator = StemSeparator("htdemucs", device="cpu")
    window = street.window(1.0, 1.5)
    stems = separator.separate(window)
    assert separator.sources == list(STEMS) and separator.samplerate == 44100
    expected = tiny.separate(window)  # same weights: the loader restored them exactly
    for stem in STEMS:
        np.testing.assert_allclose(stems[stem], expected[stem], atol=1e-5)


def test_level_sources_is_a_plain_dataclass(street):
    sources = split_sources(street, "bands", seconds=1.0)
    assert isinstance(sources, LevelSources)
    assert sources.duration == pytest.approx(1.0)
    assert sources.stems_stereo is None


class ScaledSeparator:
    """A stand-in for Demucs at the clip's rate: each stem is the window times its own factor, so
    which stem went to which level, and each stem's loudness, are known exactly."""

    def __init__(self, factors: dict[str, float], samplerate: int = 22050):
        self.factors, self.samplerate, self.calls = factors, samplerate, 0

    @property
    def sources(self) -> list[str]:
        return list(self.factors)

    def separate(self, clip, progress=None, cancel=None):
        self.calls += 1
        stereo = clip.resampled(self.samplerate).to_channels(2)
        return {stem: np.ascontiguousarray(stereo * k, dtype=np.float32) for stem, k in self.factors.items()}


def test_stems_the_map_does_not_name_follow_other_and_are_measured_against_the_window():
    """htdemucs_6s's guitar and piano follow "other" (here ambience, not the background default);
    each stem's dB is its loudness against the window's mix, not against another stem."""
    rate = 22050
    factors = {"drums": 0.5, "bass": 0.25, "other": 0.1, "vocals": 0.1, "guitar": 0.03, "piano": 0.02}
    separator = ScaledSeparator(factors, rate)
    routing = {"drums": "foreground", "bass": "background", "other": "ambience", "vocals": "foreground"}
    clip = clip_of(np.stack([sine(440.0, 2.0, rate), sine(660.0, 2.0, rate)]), rate)
    sources = split_sources(clip, "stems", separator=separator, stem_map=routing)
    assert sources.part_levels == routing | {"guitar": "ambience", "piano": "ambience"}
    np.testing.assert_allclose(sources.levels["ambience"], clip.mono() * 0.15, atol=1e-6)
    np.testing.assert_allclose(sources.levels["foreground"], clip.mono() * 0.6, atol=1e-6)
    for stem, k in factors.items():
        assert sources.part_db[stem] == pytest.approx(20 * np.log10(k), abs=1e-3), stem


def test_a_cancel_before_the_split_stops_every_mode(street):
    cancel = threading.Event()
    cancel.set()
    separator = ScaledSeparator(dict.fromkeys(STEMS, 0.25))
    for mode in ("mix", "bands", "stems"):
        with pytest.raises(Cancelled):
            split_sources(street, mode, separator=separator, seconds=1.0, cancel=cancel)
    assert separator.calls == 0


def test_a_level_clip_is_keyed_by_its_rate_as_well_as_its_samples():
    """The same samples at two rates are two sounds: CLAP's cache must not answer one for the other."""
    wave = sine(440.0, 0.5, 22050).astype(np.float32)
    a, b = (LevelSources("bands", rate, {"ambience": wave}, {"low": wave}, {}, []) for rate in (22050, 44100))
    assert a.clip("ambience").sha256 != b.clip("ambience").sha256


def test_level_origin_names_token_positions_bands_and_stems():
    mix = GenerationParams(split=(35, 21, 21))
    assert [level_origin(mix, lv) for lv in ("foreground", "background", "ambience")] == [
        "tokens 1–35",
        "tokens 36–56",
        "tokens 57–77",
    ]
    bands = GenerationParams(sources="bands", crossovers=(300.0, 3000.0))
    assert [level_origin(bands, lv) for lv in ("foreground", "background", "ambience")] == [
        "> 3000 Hz",
        "300–3000 Hz",
        "< 300 Hz",
    ]
    stems = GenerationParams(sources="stems", stem_map=DEFAULT_STEM_MAP)
    assert [level_origin(stems, lv) for lv in ("foreground", "background", "ambience")] == [
        "vocals",
        "drums+other",
        "bass",
    ]
    solo = GenerationParams(sources="stems", stem_map=tuple((s, "background") for s in STEMS))
    assert level_origin(solo, "foreground") == "no stem"


def test_each_stem_is_the_models_output_of_that_name(monkeypatch):
    """A model whose k-th source is the input times k+1: the stems come back under the names in
    the model's order (drums x1, bass x2, other x3, vocals x4), the normalisation undone."""
    import demucs.apply

    def scaled_split(model, mix, **kwargs):  # (1, channels, n) -> (1, sources, channels, n)
        import torch

        return torch.stack([mix[0] * (k + 1) for k in range(len(model.sources))])[None]

    monkeypatch.setattr(demucs.apply, "apply_model", scaled_split)
    rate = 44100
    x = sine(440.0, 1.0, rate)
    x -= x.mean()  # no offset: what comes back is the scaled input alone
    stems = StemSeparator("tiny", device="cpu").separate(clip_of(x, rate))
    assert list(stems) == list(STEMS)
    for k, stem in enumerate(STEMS):
        np.testing.assert_allclose(stems[stem], np.stack([x, x]) * (k + 1), atol=1e-4, err_msg=stem)
