"""What a sweep tile pays outside its denoising loop, pinned by call counters (bench/sweep.py has
the timings): the adapters swap only the cross-attention layers they change, diffusers'
execution-device lookup (a walk over every module) is answered once per engine, not per tile, and
a scored sweep generates one strength-0 twin per distinct twin image, not one per tile. None of
them changes a pixel or a score."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import DiffusionPipeline
from diffusers.hooks import group_offloading

from core.attention import AudioAdapters, GatedAudioAttnProcessor, block_group
from core.params import BLOCK_GROUPS
from core.scoring import Scorer
from core.sweep import SweepPlan, heard_overall, parse_axis, run_sweep
from core.sweep.run import AUDIO_ONLY_FIELDS, twin_key


def _plan(tiny_params, tiles: int = 3) -> SweepPlan:
    base = tiny_params.replace(steps=2, width=64, height=64, gate_scales=(0.0, 1.0, 0.5))
    values = ",".join(str(0.2 + 0.5 * i) for i in range(tiles))
    return SweepPlan(base, (parse_axis("x", f"level_weights.0={values}", base),))


def test_each_tile_swaps_only_its_adapted_layers_in_and_out(tiny_engine, tiny_params):
    adapters = tiny_engine.adapters
    adapted = [n for n in adapters.layers if block_group(n) in ("mid", "up")]
    seen = []

    def during_loop(info) -> None:  # the UNet's processors while a tile denoises
        procs = tiny_engine.pipe.unet.attn_processors
        seen.append({n for n, p in procs.items() if isinstance(p, GatedAudioAttnProcessor)})
        assert all(procs[n] is adapters.original[n] for n in procs if n not in adapted)

    before = adapters.swaps
    run = run_sweep(tiny_engine, _plan(tiny_params), progress=during_loop)
    assert len(run.tiles) == 3 and seen == [set(adapted)] * 6  # 3 tiles x 2 steps
    assert adapters.swaps - before == 3 * 2 * len(adapted)  # in and out once a tile, nothing else
    procs = tiny_engine.pipe.unet.attn_processors
    assert all(procs[n] is adapters.original[n] for n in procs)  # every layer back to diffusers'


def test_install_sets_only_the_layers_that_change(tiny_engine):
    adapters = tiny_engine.adapters
    by_group = {g: [n for n in adapters.layers if block_group(n) == g] for g in BLOCK_GROUPS}
    start = adapters.swaps
    try:
        adapters.install(["mid"])
        assert adapters.swaps - start == len(by_group["mid"])
        adapters.install(["mid"])  # already there: nothing to set
        assert adapters.swaps - start == len(by_group["mid"])
        adapters.install(["mid", "up"])
        assert adapters.swaps - start == len(by_group["mid"]) + len(by_group["up"])
        procs = tiny_engine.pipe.unet.attn_processors
        for name, proc in procs.items():
            gated = name in by_group["mid"] + by_group["up"]
            assert (proc is adapters.processor(name, False)) if gated else (proc is adapters.original[name])
    finally:
        adapters.remove()
    assert adapters.swaps - start == 2 * (len(by_group["mid"]) + len(by_group["up"]))


def test_the_execution_device_is_looked_up_once_per_engine(tiny_engine, tiny_params, monkeypatch):
    calls = []
    real = group_offloading._get_group_onload_device

    def counted(module):
        calls.append(type(module).__name__)
        return real(module)

    monkeypatch.setattr(group_offloading, "_get_group_onload_device", counted)
    run_sweep(tiny_engine, _plan(tiny_params, tiles=2))
    assert calls == []  # no walk over the modules for any tile
    unpinned = DiffusionPipeline._execution_device.fget(tiny_engine.pipe)  # diffusers' own lookup
    assert calls and unpinned == tiny_engine.pipe._execution_device  # it walks, and agrees


def test_the_pixels_are_those_of_diffusers_own_setting_and_lookup(tiny_engine, tiny_params, monkeypatch):
    plan = _plan(tiny_params, tiles=2)
    fast = [np.asarray(t.result.image) for t in run_sweep(tiny_engine, plan).tiles]

    def set_all(self: AudioAdapters, processors: dict) -> None:  # what install/remove did before
        self.unet.set_attn_processor({**self.unet.attn_processors, **processors})

    monkeypatch.setattr(AudioAdapters, "_swap", set_all)
    monkeypatch.setattr(type(tiny_engine.pipe), "_execution_device", DiffusionPipeline._execution_device)
    slow = [np.asarray(t.result.image) for t in run_sweep(tiny_engine, plan).tiles]
    assert len(fast) == 2 and not np.array_equal(fast[0], fast[1])  # the axis changes the image
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("groups", [[], ["down", "mid", "up"]])
def test_remove_restores_every_layer_whatever_was_installed(tiny_engine, groups):
    adapters = tiny_engine.adapters
    adapters.install(groups)
    adapters.remove()
    procs = tiny_engine.pipe.unet.attn_processors
    assert all(procs[n] is adapters.original[n] for n in procs) and adapters.installed == []


def test_tiles_that_differ_only_in_audio_knobs_share_one_twin_with_the_same_scores(
    tiny_engine, tiny_params, monkeypatch
):
    scorer = Scorer("tiny")
    base = tiny_params.replace(steps=2, width=64, height=64)
    axes = ("x", "level_weights.0=0.2,1.4"), ("y", "switch_points=0.3,0.6;0.5,0.9"), ("z", "seed=3,4")
    plan = SweepPlan(base, tuple(parse_axis(n, a, base) for n, a in axes))
    real, strengths = tiny_engine.generate, []

    def counted(params, **kwargs):
        strengths.append(params.audio_strength)
        return real(params, **kwargs)

    monkeypatch.setattr(tiny_engine, "generate", counted)
    run = run_sweep(tiny_engine, plan, scorer)
    assert len(run.tiles) == 8 and strengths.count(0.0) == 2 and len(strengths) == 10  # a twin per seed
    twins = {}
    for tile in run.tiles:  # each tile's own twin: the same pixels as its seed's, the same scores
        p = tile.result.params
        own = real(p.replace(audio_strength=0.0)).image
        assert np.array_equal(np.asarray(own), np.asarray(twins.setdefault(p.seed, own)))
        again = scorer.score(tile.result.image, p.prompt, heard_overall(tile.result.trace.heard),
                             tiny_engine.vocabulary, twin=own)  # fmt: skip
        assert again == tile.scores and tile.scores.audio_effect_pixels > 0


def test_a_twin_key_keeps_every_field_but_the_audio_only_ones(tiny_params):
    key = twin_key(tiny_params)
    assert key == twin_key(tiny_params.replace(level_weights=(1.5, 0.1, 0.0), norm_target=90.0, top_k=2))
    for change in ({"seed": 8}, {"prompt": "a forest"}, {"steps": 3}, {"guidance": 2.0}, {"scheduler": "ddim"}):
        assert twin_key(tiny_params.replace(**change)) != key, change
    assert "audio_strength" not in AUDIO_ONLY_FIELDS and {"prompt", "seed", "models"}.isdisjoint(AUDIO_ONLY_FIELDS)
