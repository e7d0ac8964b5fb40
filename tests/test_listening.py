"""`listening_key`: the params fields a listening (stages 1-4) depends on are named once, and the
engine's cache keys on exactly them."""

from __future__ import annotations

import dataclasses

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
