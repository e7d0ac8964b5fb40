"""The engine on tiny models: adapters, trace, pixels against plain diffusers, caches, cancel."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from core.attention import block_group
from core.audio import AudioError
from core.cancel import Cancelled
from core.events import Waiting
from core.tiny import tiny_sd_pipeline
from core.trace import Trace


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_trace_shows_the_seed_schedule_for_50_and_20_steps(tiny_engine, tiny_params):
    r50 = tiny_engine.generate(tiny_params.replace(steps=50))
    levels = r50.trace.dominant_levels()
    assert levels[:20] == ["ambience"] * 20
    assert levels[20:35] == ["background"] * 15
    assert levels[35:] == ["foreground"] * 15
    r20 = tiny_engine.generate(tiny_params.replace(steps=20))
    assert r20.trace.dominant_levels() == ["ambience"] * 8 + ["background"] * 6 + ["foreground"] * 6


def test_strength_zero_is_exactly_the_plain_diffusers_pipeline(tiny_engine, tiny_params):
    params = tiny_params.replace(audio_strength=0.0)
    ours = tiny_engine.generate(params)
    plain = tiny_sd_pipeline()  # a fresh pipeline: same weights (fixed seed), diffusers' own processors
    reference = plain(
        prompt=params.prompt,
        num_inference_steps=params.steps,
        guidance_scale=params.guidance,
        height=params.height,
        width=params.width,
        generator=torch.Generator("cpu").manual_seed(params.seed),
    ).images[0]
    assert np.array_equal(pixels(ours.image), pixels(reference))
    assert not ours.trace.ratios.any()  # the audio branch never ran
    assert all(not d for d in ours.trace.step_levels)

    with_audio = tiny_engine.generate(params.replace(audio_strength=1.0))
    assert np.abs(pixels(with_audio.image) - pixels(reference)).mean() > 1.0


def test_processors_sit_only_in_chosen_groups(tiny_engine, tiny_params):
    result = tiny_engine.generate(tiny_params.replace(gate_scales=(0.0, 1.0, 0.5)))
    trace = result.trace
    groups = np.array(trace.layer_groups)
    gates = np.array(trace.gates)
    assert set(groups) == {"down", "mid", "up"}
    assert np.all(gates[groups == "down"] == 0.0)
    assert np.all(gates[groups == "mid"] == 1.0)
    assert np.all(gates[groups == "up"] == 0.5)
    ratios = trace.ratios
    assert ratios.shape == (tiny_params.steps, len(trace.layer_names))
    assert np.all(ratios[:, groups == "down"] == 0.0)
    assert np.all(ratios[:, groups != "down"] > 0.0)  # every step, every adapted layer
    # after the generation the UNet is back to diffusers' processors
    procs = tiny_engine.pipe.unet.attn_processors
    assert all(type(p).__name__ == "AttnProcessor2_0" for p in procs.values())
    assert tiny_engine.state.level_tokens == {}  # and the audio tokens are off the device


def test_install_records_the_layers_of_each_group(tiny_engine):
    installed = tiny_engine.adapters.install(["mid"])
    try:
        assert installed and all(block_group(n) == "mid" for n in installed)
        procs = tiny_engine.pipe.unet.attn_processors
        gated = {n for n, p in procs.items() if type(p).__name__ == "GatedAudioAttnProcessor"}
        assert gated == set(installed)
    finally:
        tiny_engine.adapters.remove()


def test_strength_scales_the_audio_to_text_ratio(tiny_engine, tiny_params):
    weak = tiny_engine.generate(tiny_params.replace(audio_strength=0.5)).trace.ratios
    strong = tiny_engine.generate(tiny_params.replace(audio_strength=1.0)).trace.ratios
    first = int(np.flatnonzero(strong[0] > 0)[0])
    # the first adapted layer of step 0 sees identical inputs: its ratio is exactly proportional
    assert weak[0, first] * 2 == pytest.approx(strong[0, first], rel=1e-5)
    # later layers and steps see a trajectory the audio already changed
    assert np.all((strong > 0) == (weak > 0))


def test_trained_adapters_start_at_the_seed_gate(tiny_engine, tiny_params, tmp_path):
    from core.projector import AudioProjector, ProjectorConfig, save_projector

    config = ProjectorConfig(
        input_dim=tiny_engine.clap.dim, hidden_dim=16, expand_dim=32, output_dim=32, layers=1, heads=4
    )
    torch.manual_seed(0)
    save_projector(AudioProjector(config), tmp_path / "ckpt")
    result = tiny_engine.generate(tiny_params.replace(mode="trained", checkpoint=str(tmp_path / "ckpt")))
    groups = np.array(result.trace.layer_groups)
    gates = np.array(result.trace.gates)
    np.testing.assert_allclose(gates[groups != "down"], np.tanh(0.1), rtol=1e-6)
    assert result.trace.heard == {}  # a trained projector has no labels to show
    assert result.trace.ratios.any()


def test_same_params_same_pixels_and_seed_matters(tiny_engine, tiny_params):
    a = tiny_engine.generate(tiny_params)
    b = tiny_engine.generate(tiny_params)
    assert np.array_equal(pixels(a.image), pixels(b.image))
    c = tiny_engine.generate(tiny_params.replace(seed=8))
    assert not np.array_equal(pixels(a.image), pixels(c.image))
    assert a.params.audio_sha256 and a.params.models == "tiny"


def test_hierarchy_knobs_reuse_clap_and_text_encoder(tiny_engine, tiny_params):
    first = tiny_engine.generate(tiny_params.replace(prompt="a cache test"))
    clap_calls, text_calls = tiny_engine.clap.audio_calls, tiny_engine.counters["text_encoder"]
    images = [first.image]
    for changes in (
        {"level_weights": (1.0, 0.2, 0.1)},
        {"norm_target": 20.0},
        {"norm_measure": "tensor"},
        {"split": (20, 27, 30)},
        {"switch_points": (0.2, 0.5)},
        {"switch_style": "smooth", "crossfade": 0.3},
        {"gate_scales": (1.0, 1.0, 1.0)},
        {"audio_strength": 2.0},
        {"seed": 99},
        {"scheduler": "ddim"},
    ):
        images.append(tiny_engine.generate(tiny_params.replace(prompt="a cache test", **changes)).image)
    assert tiny_engine.clap.audio_calls == clap_calls
    assert tiny_engine.counters["text_encoder"] == text_calls
    distinct = {pixels(im).tobytes() for im in images}
    assert len(distinct) == len(images)  # and every knob changed the image


def test_progress_reports_every_step_and_cancel_stops(tiny_engine, tiny_params):
    seen = []
    tiny_engine.generate(tiny_params, progress=seen.append)
    assert [s.step for s in seen] == list(range(1, tiny_params.steps + 1))
    elapsed = [s.elapsed for s in seen]  # seconds since the loop began, as the progress line says
    assert 0 < elapsed[0] and elapsed == sorted(elapsed) and elapsed[-1] > elapsed[0]
    assert seen[0].levels == {"ambience": 1.0} and seen[-1].levels == {"foreground": 1.0}

    cancel = threading.Event()
    steps = []

    def stop_after_three(info):
        steps.append(info.step)
        if info.step == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        tiny_engine.generate(tiny_params, progress=stop_after_three, cancel=cancel)
    assert steps == [1, 2, 3]
    assert not tiny_engine.lock._is_owned()  # the lock is released after a cancel
    tiny_engine.generate(tiny_params)  # and the engine still works


def test_a_trace_names_the_heaviest_level_per_step_and_keeps_its_ratios_through_a_file():
    trace = Trace(
        steps=3,
        step_levels=[{"ambience": 0.7, "background": 0.3}, {"background": 0.2, "foreground": 0.8}, {}],
        ratios=np.array([[0.0012345, 0.5], [1.25e-4, 0.0], [0.0, 0.0]], dtype=np.float32),
    )
    assert trace.dominant_levels() == ["ambience", "foreground", None]
    kept = Trace.from_dict(json.loads(json.dumps(trace.to_dict())))
    np.testing.assert_allclose(kept.ratios, trace.ratios, atol=1e-6, rtol=0)  # small ratios stay non-zero
    assert kept.ratios[1, 0] > 0 and kept.step_levels == trace.step_levels


def test_a_caller_that_must_wait_for_the_engine_hears_waiting_first(tiny_engine):
    heard, waiting = [], threading.Event()

    def on_status(event):
        heard.append(event)
        waiting.set()

    def other_caller():
        with tiny_engine.hold(on_status):
            heard.append("held")

    with tiny_engine.hold(on_status):  # the lock is free (and re-entrant): no Waiting
        assert heard == []
        caller = threading.Thread(target=other_caller)
        caller.start()
        assert waiting.wait(10)
    caller.join(10)
    assert heard == [Waiting(), "held"]


def test_text_only_generation_has_an_empty_trace(tiny_engine, tiny_params):
    params = tiny_params.replace(audio_path=None, norm_measure="tensor")
    result = tiny_engine.generate(params)
    assert result.trace.heard == {} and not result.trace.ratios.any()
    assert not any(result.trace.gates)  # no adapter installed: nothing to gate
    embeds = tiny_engine.encode_prompt(params.prompt, params.negative_prompt, params.guidance)[0]
    assert result.trace.text_norm == pytest.approx(float(torch.linalg.vector_norm(embeds)), rel=1e-5)  # its measure
    assert result.params.audio_sha256 is None


def test_a_zero_shot_image_records_no_checkpoint_it_did_not_use(tiny_engine, tiny_params):
    """The sidebar keeps a checkpoint folder typed while zero-shot is chosen: the image's params (and
    so its PNG) must not name a run that made nothing of it, nor reach pixels differently."""
    from core.export import png_bytes

    plain = tiny_engine.generate(tiny_params.replace(steps=2))
    with_folder = tiny_engine.generate(tiny_params.replace(steps=2, checkpoint="/srv/runs/quayside/final"))
    assert with_folder.params.checkpoint is None and with_folder.params.checkpoint_sha256 is None
    assert with_folder.params == plain.params and with_folder.image.tobytes() == plain.image.tobytes()
    assert b"quayside" not in png_bytes(with_folder.image, with_folder.params)


def test_changed_audio_is_caught_on_reproduce(tiny_engine, tiny_params):
    with pytest.raises(AudioError, match="not the clip"):
        tiny_engine.generate(tiny_params.replace(audio_sha256="0" * 64))


def test_the_prompt_cache_tells_negative_prompts_apart(tiny_engine):
    plain = tiny_engine.encode_prompt("a city", "", 7.5)[1]
    blurry = tiny_engine.encode_prompt("a city", "blurry", 7.5)[1]
    assert not torch.equal(plain, blurry)
    assert torch.equal(tiny_engine.encode_prompt("a city", "", 7.5)[1], plain)


def test_text_norm_reference(tiny_engine):
    norm = tiny_engine.prompt_norm("a city", "token")
    embeds = tiny_engine.encode_prompt("a city", "", 1.0)[0]
    assert norm == pytest.approx(float(torch.linalg.vector_norm(embeds[0], dim=-1).mean()), rel=1e-5)


def test_each_checkpoint_gets_its_own_adapters(tiny_engine, tiny_params, tmp_path):
    """Adapters loaded for one checkpoint never leak into the next, and a checkpoint re-saved in
    place is loaded again (caches key on the files, not the path)."""
    from safetensors.torch import save_file

    from core.projector import AudioProjector, ProjectorConfig, save_projector

    config = ProjectorConfig(
        input_dim=tiny_engine.clap.dim, hidden_dim=16, expand_dim=32, output_dim=32, layers=1, heads=4
    )
    torch.manual_seed(1)
    save_projector(AudioProjector(config), tmp_path / "a")
    state = {
        k: (torch.full_like(v, 2.0) if k.endswith(".gate") else v)
        for k, v in tiny_engine.adapters.trained_state().items()
    }
    save_file(state, str(tmp_path / "a" / "adapters.safetensors"))
    save_projector(AudioProjector(config), tmp_path / "b")  # no adapters file: the seed's init

    def gates(name):
        result = tiny_engine.generate(tiny_params.replace(mode="trained", checkpoint=str(tmp_path / name)))
        return result, np.array(result.trace.gates)[np.array(result.trace.layer_groups) != "down"]

    _, a = gates("a")
    np.testing.assert_allclose(a, np.tanh(2.0), rtol=1e-6)
    before, b = gates("b")
    np.testing.assert_allclose(b, np.tanh(0.1), rtol=1e-6)

    torch.manual_seed(2)
    save_projector(AudioProjector(config), tmp_path / "b")  # new weights, same path
    after, _ = gates("b")
    assert not np.array_equal(pixels(before.image), pixels(after.image))


def test_cancel_before_denoising_starts(tiny_engine, tiny_params):
    cancel = threading.Event()
    cancel.set()
    seen = []
    with pytest.raises(Cancelled):
        tiny_engine.generate(tiny_params, progress=seen.append, cancel=cancel)
    assert seen == []
