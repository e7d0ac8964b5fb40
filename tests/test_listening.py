"""`listening_key`: the params fields a listening (stages 1-4) depends on are named once, and the
engine's cache keys on exactly them."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from core.listening import LISTENING_FIELDS, ListeningKey, listening_key
from core.params import GenerationParams, knobs

# Another legal value for every field (the defaults' neighbours).
OTHER = {
    "prompt": "a harbour",
    "negative_prompt": "text",
    "seed": 1,
    "steps": 9,
    "guidance": 3.0,
    "width": 256,
    "height": 256,
    "scheduler": "ddim",
    "audio_path": "/elsewhere/clip.wav",
    "audio_sha256": "ab" * 32,
    "checkpoint_sha256": "cd" * 32,
    "window_start": 1.5,
    "mode": "trained",
    "checkpoint": "/ckpt",
    "top_k": 3,
    "temperature": 1.0,
    "audio_strength": 2.0,
    "gate_scales": (1.0, 1.0, 1.0),
    "norm_target": 30.0,
    "norm_measure": "tensor",
    "split": (25, 26, 26),
    "level_weights": (1.0, 1.0, 1.0),
    "switch_points": (0.2, 0.8),
    "switch_style": "smooth",
    "crossfade": 0.2,
    "sources": "stems",
    "crossovers": (100.0, 3000.0),
    "stem_map": (("drums", "foreground"), ("bass", "ambience"), ("other", "ambience"), ("vocals", "background")),
    "models": "tiny",
}
# Bases on which each listening field is in use (crossovers: bands; stem map: stems; checkpoint: trained).
BASES = {
    "bands": GenerationParams(sources="bands"),
    "stems": GenerationParams(sources="stems"),
    "trained": GenerationParams(mode="trained", checkpoint="/first"),
}


def test_the_key_has_exactly_the_declared_fields():
    assert tuple(f.name for f in dataclasses.fields(ListeningKey)) == LISTENING_FIELDS
    assert set(LISTENING_FIELDS) <= set(knobs())
    assert set(OTHER) == set(knobs())  # every field is exercised below


@pytest.mark.parametrize("name", list(knobs()))
def test_only_the_listening_fields_change_the_key(name):
    changed = {base_name: listening_key(base.replace(**{name: OTHER[name]})) != listening_key(base)
               for base_name, base in BASES.items()}  # fmt: skip
    if name in LISTENING_FIELDS:
        assert any(changed.values()), f"{name} is declared but never changes the key"
    else:
        assert not any(changed.values()), f"{name} changes the key but is not in LISTENING_FIELDS"


def test_fields_a_mode_does_not_use_leave_the_key_alone():
    mix = GenerationParams()
    assert listening_key(mix.replace(crossovers=(100.0, 3000.0))) == listening_key(mix)
    assert listening_key(mix.replace(stem_map=OTHER["stem_map"])) == listening_key(mix)
    assert listening_key(mix.replace(checkpoint="/ckpt")) == listening_key(mix)
    trained = BASES["trained"]
    assert listening_key(trained.replace(top_k=9, temperature=2.0)) == listening_key(trained)


def test_the_engine_caches_listenings_by_the_key(tiny_engine, tiny_params):
    first = tiny_engine.listen(tiny_params)
    for name in ("level_weights", "norm_target", "switch_points", "seed", "prompt", "gate_scales"):
        again = tiny_engine.listen(tiny_params.replace(**{name: OTHER[name]}))
        assert again.raw_tokens is first.raw_tokens, name  # a cache hit: the same tensors
        assert again.clip is first.clip and set(again.timings) == {"audio"}, name  # its clip, this call's time
    for name in ("window_start", "top_k", "temperature", "sources"):
        other = tiny_engine.listen(tiny_params.replace(**{name: OTHER[name]}))
        assert other.raw_tokens is not first.raw_tokens, name
    assert first.sources is not None and list(first.sources.parts) == ["mix"]  # mix mode has its part too


def test_the_listening_cache_is_bounded_by_the_bytes_it_holds(tiny_engine, tiny_params, monkeypatch):
    from core.listening import LISTENING_CACHE_BYTES, listening_nbytes

    cache = tiny_engine.listener._listenings
    assert cache.max_bytes == LISTENING_CACHE_BYTES
    bands = tiny_params.replace(sources="bands")
    first = tiny_engine.listen(bands)
    waves = {id(w): w for w in [*first.sources.levels.values(), *first.sources.parts.values()]}
    tokens = sum(t.numel() * t.element_size() for t in first.raw_tokens.values())
    assert listening_nbytes(first) == tokens + sum(w.nbytes for w in waves.values()) > tokens > 0
    monkeypatch.setattr(cache, "max_bytes", listening_nbytes(first) * 3 // 2)  # room for one and a half
    assert tiny_engine.listen(bands).raw_tokens is first.raw_tokens  # still cached
    tiny_engine.listen(bands.replace(window_start=OTHER["window_start"]))  # a second one: the first goes
    assert tiny_engine.listen(bands).raw_tokens is not first.raw_tokens
    assert cache.nbytes <= cache.max_bytes


def test_a_waveforms_clap_embedding_does_not_depend_on_what_was_heard_with_it():
    """The cache is keyed by the waveform alone, so its embedding must be the one it gets alone:
    a level heard earlier beside other levels (another stem map) gave other tokens, and an image
    other pixels, than the same settings on a fresh engine."""
    import numpy as np
    import torch

    from core.clap import ClapEncoder
    from core.tiny import tiny_clap

    model, extractor, tokenizer = tiny_clap()
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(48000 * 10) * 0.1).astype(np.float32) for _ in range(4)]
    alone = ClapEncoder(model.eval(), extractor, tokenizer, "cpu").embed_audio([waves[0]])[0]
    for n in (2, 3, 4):
        beside = ClapEncoder(model.eval(), extractor, tokenizer, "cpu").embed_audio(waves[n - 1 :: -1])
        assert torch.equal(beside[-1], alone), n


def _fresh_listener(engine, projector=None):
    """A Listener with the session engine's CLAP and vocabulary but an empty listening cache."""
    import torch

    from core.listening import Listener

    own = engine.listener
    return Listener(own.clap, own.zero_shot, projector or own.projector, own.separator, "cpu", torch.float32)


def test_clap_hears_every_source_at_48_khz_whatever_the_clips_rate(tiny_engine, tiny_params, tmp_path, monkeypatch):
    """A 22.05 kHz clip: each band (and each part, for the captions) reaches CLAP resampled to its
    48 kHz, 1.5 s long, not 22.05 kHz samples that it would hear an octave up and twice as fast."""
    import numpy as np
    import soundfile as sf

    rate = 22050
    t = np.arange(int(1.5 * rate)) / rate
    path = tmp_path / "low_rate.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32), rate)
    listener = _fresh_listener(tiny_engine)
    heard: list[int] = []
    embed = listener.clap.embed_audio
    monkeypatch.setattr(listener.clap, "embed_audio", lambda waves: heard.extend(len(w) for w in waves) or embed(waves))
    params = tiny_params.replace(audio_path=str(path), audio_sha256=None, sources="bands")
    listening = listener.listen(params, None, lambda event: None)
    assert listening.sources.sample_rate == rate and len(listening.raw_tokens) >= 2
    assert heard == [72000] * len(listening.raw_tokens)
    heard.clear()
    listener.hear_parts(params, listening)
    assert heard == [72000, 72000, 72000]


def test_a_checkpoint_saved_again_in_place_is_heard_again(tiny_engine, tiny_params, tmp_path):
    """Trained mode keys a listening on the checkpoint's files, not only its folder's name: a run
    retrained into the same folder gives new tokens, not the old run's from the cache."""
    import torch

    from core.projector import CONFIG_FILE

    folder = tmp_path / "city" / "final"
    folder.mkdir(parents=True)
    (folder / CONFIG_FILE).write_text("1")

    class Constant(torch.nn.Module):
        def __init__(self, value: float):
            super().__init__()
            self.value = value

        def forward(self, embedding: torch.Tensor) -> torch.Tensor:
            return torch.full((1, 77, 8), self.value)

    listener = _fresh_listener(tiny_engine, lambda ckpt: Constant(float((folder / CONFIG_FILE).read_text())))
    params = tiny_params.replace(mode="trained", checkpoint=str(folder))
    first = listener.listen(params, None, lambda event: None)
    assert float(first.raw_tokens["mix"][0, 0, 0]) == 1.0
    assert listener.listen(params, None, lambda event: None).raw_tokens is first.raw_tokens  # cached
    (folder / CONFIG_FILE).write_text("22")
    assert float(listener.listen(params, None, lambda event: None).raw_tokens["mix"][0, 0, 0]) == 22.0


def test_listenings_are_keyed_by_the_clips_content_not_its_path(tiny_engine, tiny_params, tmp_path):
    """The same sound under two names is heard once; other sound saved under the old name is heard anew."""
    import shutil

    import numpy as np
    import soundfile as sf

    rate = 22050
    t = np.arange(rate) / rate
    first_path, copy = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(first_path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    shutil.copy(first_path, copy)
    listener = _fresh_listener(tiny_engine)
    params = tiny_params.replace(audio_path=str(first_path), audio_sha256=None)
    first = listener.listen(params, None, lambda event: None)
    assert (
        listener.listen(params.replace(audio_path=str(copy)), None, lambda event: None).raw_tokens is first.raw_tokens
    )
    sf.write(first_path, (0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32), rate)  # new sound, old name
    other = listener.listen(params, None, lambda event: None)
    assert other.raw_tokens is not first.raw_tokens and other.clip.sha256 != first.clip.sha256
    assert not np.array_equal(other.sources.parts["mix"], first.sources.parts["mix"])


def test_a_cancel_during_the_separation_stops_before_clap_listens(tiny_engine, tiny_params, monkeypatch):
    """The stop pressed while Demucs ends its last chunk: nothing is embedded (seconds of CLAP on a
    CPU for a listening nobody waits for), and the next listen reuses the separation."""
    from core.cancel import Cancelled
    from core.events import Stage

    listener = _fresh_listener(tiny_engine)
    embedded: list[int] = []
    embed = listener.clap.embed_audio
    monkeypatch.setattr(listener.clap, "embed_audio", lambda waves: embedded.append(len(waves)) or embed(waves))
    cancel = threading.Event()

    def status(event) -> None:
        if isinstance(event, Stage) and event.total and event.done == event.total:
            cancel.set()  # during the last chunk: demucs checks only before each chunk

    params = tiny_params.replace(sources="stems", window_start=0.375)
    with pytest.raises(Cancelled):
        listener.listen(params, cancel, status)
    assert embedded == []
    separator = listener.separator()
    calls = separator.calls
    assert listener.listen(params, None, lambda event: None).sources.mode == "stems"
    assert separator.calls == calls and embedded  # the separation was kept; CLAP listens now


def test_mode_view_does_not_ask_clap_about_the_parts_after_a_cancel(tiny_params):
    """The Spectrogram page's view: a stop pressed while CLAP heard the levels ends it there, without
    a second round of CLAP over every part for a view nobody waits for."""
    import contextlib

    import numpy as np
    import torch

    from core.audio import AudioClip
    from core.cancel import Cancelled
    from core.listening import Listening
    from core.parts import mode_view
    from core.sources import split_sources

    clip = AudioClip(np.sin(np.arange(8000, dtype=np.float32) / 5), 16000, "0" * 64, "tone.wav")
    asked: list[str] = []

    class Engine:
        def hold(self, status):
            return contextlib.nullcontext()

        def listen(self, params, cancel=None, on_status=None):
            cancel.set()  # pressed while the levels were heard
            return Listening(clip, {"mix": torch.zeros(1, 77, 8)}, sources=split_sources(clip, "mix"))

        def hear_parts(self, params):
            asked.append(params.sources)
            return {}

    with pytest.raises(Cancelled):
        mode_view(Engine(), tiny_params, cancel=threading.Event())
    assert asked == []


def test_a_mode_view_spans_the_chosen_ten_second_window_of_a_longer_clip(tiny_engine, tiny_params, tmp_path):
    import numpy as np
    import soundfile as sf

    from core.parts import mode_view

    rate = 16000
    t = np.arange(13 * rate) / rate
    path = tmp_path / "long.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    view = mode_view(tiny_engine, tiny_params.replace(audio_path=str(path), window_start=1.5))
    assert (view.start, view.end) == pytest.approx((1.5, 11.5))


def test_clap_hears_a_short_clip_repeated_whole_then_silence_and_gives_unit_vectors(tiny_engine):
    """The unfused checkpoints' "repeatpad": a 0.7 s clip is CLAP's 10 s window as 14 whole copies and
    zeros, not a 15th cut-off copy. Both sides are L2-normalised (a dot product is a cosine), and the
    temperature is exp of CLAP's learned log scale."""
    import math

    import numpy as np
    import torch

    clap = tiny_engine.clap
    short = (0.3 * np.random.default_rng(3).standard_normal(33600)).astype(np.float32)  # 0.7 s at 48 kHz
    padded = np.zeros(480000, np.float32)
    padded[: 14 * 33600] = np.tile(short, 14)
    audio = clap.embed_audio([short, padded])
    torch.testing.assert_close(audio[0], audio[1], atol=1e-5, rtol=0)
    calls = clap.audio_calls
    assert torch.equal(clap.embed_audio([padded])[0], audio[1]) and clap.audio_calls == calls  # cached by content
    text = clap.embed_text(["rain on a roof", "a dog barks"])
    for emb in (audio, text):
        torch.testing.assert_close(torch.linalg.vector_norm(emb, dim=-1), torch.ones(2), atol=1e-5, rtol=0)
    assert clap.logit_scale == pytest.approx(math.exp(float(clap.model.logit_scale_a.detach())), rel=1e-6)
