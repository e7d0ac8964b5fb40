"""Keep structure (core/edit/structure.py): DDIM inversion, its cache, Plug-and-Play injection.

Tolerances, and why: the tiny UNet has random weights, so its noise prediction is not the noise
and a DDIM inversion does not retrace exactly (it does not for SD either, only more closely).
Two checks stand in for "comes back to the photo":
- exact machinery: with the UNet's output pinned to one fixed noise, DDIM inversion followed by the
  DDIM denoise is the identity; the photo's latents come back within 1e-4 (float32 rounding; measured
  ~2e-6). A timestep off by one, a wrong start latent or a wrong tail of the schedule breaks this.
- the real tiny UNet: the no-audio, guidance-1 reconstruction lands within 0.15x the distance a
  plain variation at the same denoise lands from the photo's latents (measured 0.05-0.11).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.edit import EditParams
from core.edit.run import edit_photo
from core.edit.structure import attention_layers, feature_layers
from core.knobs import ParamsError
from core.params import GenerationParams

STEPS = 10


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    """A real photo: scikit-learn's sample 'china.jpg' (installed with librosa, which needs it)."""
    from sklearn.datasets import load_sample_image

    path = tmp_path_factory.mktemp("photo") / "china.png"
    Image.fromarray(load_sample_image("china.jpg")).save(path)
    return path


@pytest.fixture(scope="module")
def mask_path(tmp_path_factory):
    region = np.zeros((64, 96), np.uint8)
    region[8:40, 24:72] = 255
    path = tmp_path_factory.mktemp("mask") / "mask.png"
    Image.fromarray(region, "L").resize((640, 427), Image.NEAREST).save(path)
    return path


def params_for(photo_path, samples, **changes) -> EditParams:
    gen = GenerationParams(prompt="a temple in the rain", audio_path=str(samples["rain"]), steps=STEPS, models="tiny")
    base = EditParams(gen.replace(seed=7)).replace(image_path=str(photo_path), max_side=96, edit_mode="structure")
    return base.replace(**changes)


def photo_latents(engine, photo: Image.Image) -> torch.Tensor:
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

    with torch.inference_mode():
        pixels = engine.pipe.image_processor.preprocess(photo)
        return retrieve_latents(engine.pipe.vae.encode(pixels), sample_mode="argmax") * 0.18215


def distance(result, x0: torch.Tensor) -> float:
    return float((result.latents - x0).norm())


@pytest.mark.parametrize("denoise", [1.0, 0.5])
def test_inversion_then_denoise_is_the_identity_when_the_noise_prediction_is_fixed(
    tiny_engine, photo_path, samples, denoise
):
    fixed = torch.randn(1, 4, 8, 12, generator=torch.Generator().manual_seed(0))
    hook = tiny_engine.pipe.unet.register_forward_hook(lambda m, i, out: (fixed.expand_as(out[0]).clone(),))
    try:
        params = params_for(photo_path, samples, denoise=denoise, guidance=1.0, audio_strength=0.0, prompt="fixed")
        result = edit_photo(tiny_engine, params)
    finally:
        hook.remove()
    x0 = photo_latents(tiny_engine, result.photo)
    assert result.trace.steps == int(STEPS * denoise)
    assert float((result.latents - x0).abs().max()) < 1e-4
    assert float(x0.abs().max()) > 0.05  # not a trivially small target


def test_inversion_then_reconstruction_without_audio_comes_back_to_the_photos_latents(tiny_engine, photo_path, samples):
    params = params_for(photo_path, samples, denoise=1.0, guidance=1.0, audio_strength=0.0, prompt="reconstruct")
    none = params.replace(feature_injection=0.0, attention_injection=0.0)
    reconstructed = edit_photo(tiny_engine, none)
    variation = edit_photo(tiny_engine, none.replace(edit_mode="variation"))
    x0 = photo_latents(tiny_engine, reconstructed.photo)
    assert distance(reconstructed, x0) <= 0.15 * distance(variation, x0)
    assert reconstructed.params.generation.scheduler == "ddim"
    assert any("denoises with DDIM" in note for note in reconstructed.notes)


def test_the_inversion_is_cached_per_photo_prompt_and_steps(tiny_engine, photo_path, samples):
    counters = tiny_engine.counters
    params = params_for(photo_path, samples, denoise=0.5, prompt="cached")
    before_steps, before_hits = counters["inversion_steps"], counters["inversion_hit"]
    heard: list = []
    first = edit_photo(tiny_engine, params, on_status=heard.append)
    assert counters["inversion_steps"] - before_steps == 5 and counters["inversion_hit"] == before_hits
    inverting = [(e.done, e.total) for e in heard if str(e).startswith("Inverting the photo")]
    assert inverting == [(i, 5) for i in range(1, 6)] and str(heard[-1]) == "Denoising"
    heard.clear()
    second = edit_photo(tiny_engine, params.replace(seed=99, audio_strength=0.5), on_status=heard.append)
    assert counters["inversion_hit"] == before_hits + 1 and counters["inversion_steps"] - before_steps == 5
    assert not any(str(e).startswith("Inverting") for e in heard)
    assert second.timings["inversion"] < first.timings["inversion"]
    edit_photo(tiny_engine, params.replace(denoise=0.8))  # more of the trajectory: only the 3 new steps
    assert counters["inversion_steps"] - before_steps == 8
    edit_photo(tiny_engine, params.replace(prompt="cached, another prompt"))
    assert counters["inversion_steps"] - before_steps == 13


def test_the_inversion_hears_no_sound(tiny_engine, photo_path, samples, monkeypatch):
    """The photo's DDIM inversion runs with the audio adapters muted: the same photo and prompt
    invert to the same latents whatever the sound's strength (each run here inverts afresh)."""
    import weakref

    import core.edit.run
    from core.edit import structure

    inversions = []

    def spy(*args, **kwargs):
        inversions.append(structure.invert(*args, **kwargs))
        return inversions[-1]

    monkeypatch.setattr(core.edit.run, "invert", spy)
    params = params_for(photo_path, samples, denoise=0.5, prompt="an inversion without sound")
    for strength in (0.0, 3.0):
        monkeypatch.setattr(structure, "_caches", weakref.WeakKeyDictionary())
        edit_photo(tiny_engine, params.replace(audio_strength=strength, feature_injection=0.0, attention_injection=0.0))
    silent, loud = inversions
    assert silent.timesteps == loud.timesteps and len(silent.timesteps) == 5
    for t in silent.timesteps:
        assert torch.equal(silent.latents[t], loud.latents[t]), t


def test_an_inversion_extended_from_the_cache_is_the_one_computed_afresh(tiny_engine, photo_path, samples, monkeypatch):
    """A larger denoise continues the cached trajectory from its last latent: the edit is exactly
    the one an empty cache gives."""
    import weakref

    from core.edit import structure

    params = params_for(photo_path, samples, prompt="an inversion extended")
    monkeypatch.setattr(structure, "_caches", weakref.WeakKeyDictionary())
    edit_photo(tiny_engine, params.replace(denoise=0.5))
    extended = edit_photo(tiny_engine, params.replace(denoise=0.8))
    monkeypatch.setattr(structure, "_caches", weakref.WeakKeyDictionary())
    fresh = edit_photo(tiny_engine, params.replace(denoise=0.8))
    assert torch.equal(extended.latents, fresh.latents)


def test_injection_lengths_change_the_edit_and_the_record_names_the_steps(tiny_engine, photo_path, samples):
    params = params_for(photo_path, samples, denoise=0.6)
    off = edit_photo(tiny_engine, params.replace(feature_injection=0.0, attention_injection=0.0))
    both = edit_photo(tiny_engine, params.replace(feature_injection=0.5, attention_injection=1.0))
    features = edit_photo(tiny_engine, params.replace(feature_injection=0.5, attention_injection=0.0))
    attention = edit_photo(tiny_engine, params.replace(feature_injection=0.0, attention_injection=0.5))
    assert off.injected.feature_steps == [] and off.injected.attention_steps == []
    assert both.injected.feature_steps == [0, 1, 2] and both.injected.attention_steps == [0, 1, 2, 3, 4, 5]
    assert features.injected.feature_steps == [0, 1, 2] and features.injected.attention_steps == []
    assert attention.injected.attention_steps == [0, 1, 2] and attention.injected.feature_steps == []
    assert "features injected in steps 1-3, its self-attention in steps 1-6" in both.notes[-1]
    latents = [r.latents for r in (off, both, features, attention)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert float((latents[i] - latents[j]).abs().max()) > 1e-3, (i, j)
    assert len(feature_layers(tiny_engine.pipe.unet)) == 1 and len(attention_layers(tiny_engine.pipe.unet)) == 1


def test_structure_keeps_more_of_the_photo_than_variation_at_the_same_denoise(tiny_engine, photo_path, samples):
    params = params_for(photo_path, samples, denoise=0.6)  # guidance 7.5, audio strength 1
    structure = edit_photo(tiny_engine, params)
    no_injection = edit_photo(tiny_engine, params.replace(feature_injection=0.0, attention_injection=0.0))
    variation = edit_photo(tiny_engine, params.replace(edit_mode="variation"))
    x0 = photo_latents(tiny_engine, structure.photo)
    # measured: structure 15.9, without injection 31.5, variation 64.8 (latent L2 distance to the photo's)
    assert distance(structure, x0) < 0.5 * distance(variation, x0)
    assert distance(structure, x0) < 0.75 * distance(no_injection, x0)
    assert structure.trace.ratios.any()  # the sound conditioned the structure edit too


def test_masked_structure_edit_keeps_the_outside_pixels_exactly(tiny_engine, photo_path, mask_path, samples):
    from core.edit.run import feathered

    params = params_for(photo_path, samples, denoise=0.8, mask_path=str(mask_path), feather=4)
    result = edit_photo(tiny_engine, params)
    photo, edited = np.asarray(result.photo, np.int16), np.asarray(result.image, np.int16)
    region = np.asarray(Image.open(mask_path).convert("L").resize(result.photo.size, Image.NEAREST)) > 127
    weight = feathered(region, 4)
    assert np.array_equal(edited[weight == 0], photo[weight == 0])
    assert np.abs(edited[weight == 1] - photo[weight == 1]).mean() > 5
    assert result.params.edit.mask_sha256 and result.injected.feature_steps == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(("field", "value"), [("feature_injection", 1.5), ("attention_injection", -0.1)])
def test_bad_injection_knobs_are_refused_naming_the_field(photo_path, samples, field, value):
    with pytest.raises(ParamsError) as caught:
        params_for(photo_path, samples, **{field: value}).validate()
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_cancel_during_the_inversion_or_the_denoise_leaves_no_hook_and_no_partial_inversion(
    tiny_engine, photo_path, samples
):
    import threading

    from core.cancel import Cancelled
    from core.edit.structure import inversion_cache

    unet = tiny_engine.pipe.unet
    params = params_for(photo_path, samples, denoise=0.6, prompt="cancelled")
    cancel = threading.Event()

    def stop_at_second_inversion_step(event) -> None:
        if str(event).startswith("Inverting") and event.done == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        edit_photo(tiny_engine, params, cancel=cancel, on_status=stop_at_second_inversion_step)
    assert not any(key[2] == "cancelled" for key in inversion_cache(tiny_engine))

    cancel.clear()
    steps: list[int] = []

    def stop_after_first_step(info) -> None:
        steps.append(info.step)
        cancel.set()

    with pytest.raises(Cancelled):
        edit_photo(tiny_engine, params, progress=stop_after_first_step, cancel=cancel)
    assert steps == [1]
    hooked = [unet, *feature_layers(unet)] + [m for a in attention_layers(unet) for m in (a.to_q, a.to_k)]
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in hooked)
    assert tiny_engine.state.strength == 0.0 and not tiny_engine.adapters.installed


def test_the_injection_note_counts_one_step_as_one():
    from core.edit.structure import InjectionRecord

    assert InjectionRecord([0], [0, 1, 2]).describe() == (
        "keep structure: the photo's features injected in step 1, its self-attention in steps 1-3"
    )


def test_the_photos_own_features_and_attention_replace_the_edits_in_their_steps_only(
    tiny_engine, photo_path, samples, monkeypatch
):
    """What the UNet's layers hand on, observed after the injection's hooks: in the first
    `int(steps x fraction)` steps the decoder feature, and the self-attention's queries and keys (never
    its values: they are the source's only where they are computed from its injected feature), are
    the source pass's, which ran on the inversion's latent at that timestep with the sound muted;
    after them, the edit's own (no stale injection carried on)."""
    from contextlib import contextmanager

    from core.edit import structure

    unet, engine = tiny_engine.pipe.unet, tiny_engine
    attn = attention_layers(unet)[0]
    observed = {"feature": feature_layers(unet)[0], "q": attn.to_q, "k": attn.to_k, "v": attn.to_v}
    assert observed["feature"] is unet.up_blocks[1].resnets[1]  # Plug-and-Play's layer
    calls: list[dict] = []
    injectors = []
    installed = structure.Injector.installed

    @contextmanager
    def observing(self):
        with installed(self) as injector:
            injectors.append(injector)

            def enter(_module, args, _kwargs) -> None:
                calls.append({"t": int(args[1]), "source": self.recording, "sample": args[0].clone(),
                              "strength": engine.state.strength})  # fmt: skip

            handles = [unet.register_forward_pre_hook(enter, with_kwargs=True)]
            for name, module in observed.items():
                handles.append(
                    module.register_forward_hook(
                        lambda _m, _i, out, name=name: calls[-1].__setitem__(name, out.clone())
                    )
                )
            try:
                yield injector
            finally:
                for handle in handles:
                    handle.remove()

    monkeypatch.setattr(structure.Injector, "installed", observing)
    params = params_for(photo_path, samples, denoise=0.6, feature_injection=0.5, attention_injection=0.8)
    result = edit_photo(tiny_engine, params)  # 6 steps: features in int(3.0) = 3, attention in int(4.8) = 4
    assert result.injected.feature_steps == [0, 1, 2] and result.injected.attention_steps == [0, 1, 2, 3]
    edit = [c for c in calls if not c["source"]]
    sources = {c["t"]: c for c in calls if c["source"]}
    assert len(edit) == 6 and sorted(sources, reverse=True) == [c["t"] for c in edit[:4]]
    inversion = injectors[0].inversion
    for t, source in sources.items():
        assert source["strength"] == 0.0 and result.trace.ratios.any()  # muted there, heard in the edit
        assert torch.equal(source["sample"], inversion.latents[t])
    for step, call in enumerate(edit):
        source = sources.get(call["t"])
        for name, steps in (("feature", 3), ("q", 4), ("k", 4), ("v", 3)):
            took = source is not None and torch.equal(call[name], source[name].expand_as(call[name]))
            stale = any(torch.equal(call[name], s[name].expand_as(call[name])) for s in sources.values())
            assert took == (step < steps) and (step < steps or not stale), (step, name)


def test_the_inversion_cache_never_lends_one_photos_or_step_counts_trajectory_to_another(
    tiny_engine, photo_path, samples, tmp_path, monkeypatch
):
    """The cache is keyed by the photo's content and the step count too: another photo of the same
    size (and prompt), or the same photo at other steps, is inverted afresh and edits as with an
    empty cache."""
    import weakref

    from core.edit import structure

    other = tmp_path / "other.png"
    Image.open(photo_path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    params = params_for(photo_path, samples, denoise=0.5, prompt="one key per photo")
    changed = {"photo": params.replace(image_path=str(other)), "steps": params.replace(steps=STEPS - 2)}
    for what, then in changed.items():
        monkeypatch.setattr(structure, "_caches", weakref.WeakKeyDictionary())
        fresh = edit_photo(tiny_engine, then)
        monkeypatch.setattr(structure, "_caches", weakref.WeakKeyDictionary())
        edit_photo(tiny_engine, params)
        after = edit_photo(tiny_engine, then)
        assert torch.equal(after.latents, fresh.latents), what
