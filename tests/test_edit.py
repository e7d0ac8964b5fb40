"""Editing a photo (core/edit/): variation is diffusers' img2img, masked edits keep the photo."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from core.edit import EditParams
from core.edit.run import EditError, edit_photo
from core.params import GenerationParams
from core.tiny import tiny_sd_pipeline
from core.trace import Trace


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    y, x = np.mgrid[0:64, 0:96]
    rgb = np.stack([x * 2, y * 3, (x * y) % 256], -1).astype(np.uint8)
    path = tmp_path_factory.mktemp("photo") / "street.png"
    Image.fromarray(rgb, "RGB").save(path)
    return path


@pytest.fixture(scope="module")
def mask_path(tmp_path_factory):
    region = np.zeros((64, 96), np.uint8)
    region[16:48, 40:80] = 255
    path = tmp_path_factory.mktemp("mask") / "mask.png"
    Image.fromarray(region, "L").save(path)
    return path


def edit_params(photo_path, samples, **changes) -> EditParams:
    gen = GenerationParams(prompt="a city", audio_path=str(samples["thunder"]), steps=10, models="tiny", seed=7)
    return EditParams(gen).replace(image_path=str(photo_path), **changes)


def test_denoise_below_one_step_returns_the_photo_itself_and_says_why(tiny_engine, photo_path, samples):
    """No step re-drawn: the photo as it was (a VAE round trip is not the photo), with a note that
    says which Denoise would change it. The latents are still the photo's, as img2img encodes them."""
    photo = pixels(Image.open(photo_path).convert("RGB"))
    result = edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=0.0))
    assert np.array_equal(pixels(result.image), photo)
    assert result.trace.steps == 0 and result.params.generation.width == 96
    kept = Trace.from_dict(json.loads(json.dumps(result.trace.to_dict())))  # as a gallery on disk reads it back
    assert kept.ratios.shape == result.trace.ratios.shape == (0, len(result.trace.layer_names))
    assert kept.to_dict() == result.trace.to_dict()
    assert "denoise 0 keeps the photo as it was" in result.notes
    assert result.params.edit.image_sha256 and result.params.generation.audio_sha256
    pipe = tiny_engine.pipe
    with torch.inference_mode():
        x = pipe.image_processor.preprocess(Image.open(photo_path).convert("RGB"))
        z = (
            pipe.vae.encode(x).latent_dist.sample(torch.Generator("cpu").manual_seed(7))
            * pipe.vae.config.scaling_factor
        )
    assert torch.allclose(result.latents, z, atol=1e-6)

    low = edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=0.05))  # 10 steps x 0.05: no step
    assert np.array_equal(pixels(low.image), photo) and low.trace.steps == 0
    assert any("less than one step" in n and "raise Denoise to 0.10 or more" in n for n in low.notes), low.notes
    one = edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=0.1))
    assert one.trace.steps == 1 and not np.array_equal(pixels(one.image), photo)


@pytest.mark.parametrize("denoise", [0.3, 0.75, 1.0])
def test_variation_without_audio_strength_is_diffusers_img2img_pixel_for_pixel(
    tiny_engine, photo_path, samples, denoise
):
    from diffusers import StableDiffusionImg2ImgPipeline

    params = edit_params(photo_path, samples, denoise=denoise, audio_strength=0.0)
    ours = edit_photo(tiny_engine, params)
    reference = StableDiffusionImg2ImgPipeline(**tiny_sd_pipeline().components, requires_safety_checker=False)
    reference.scheduler = type(tiny_engine.pipe.scheduler).from_config(tiny_engine.pipe.scheduler.config)
    expected = reference(
        prompt="a city",
        image=Image.open(photo_path).convert("RGB"),
        strength=denoise,
        num_inference_steps=10,
        guidance_scale=7.5,
        generator=torch.Generator("cpu").manual_seed(7),
    ).images[0]
    assert np.array_equal(pixels(ours.image), pixels(expected))
    assert ours.trace.steps == int(10 * denoise) and not ours.trace.ratios.any()
    with_audio = edit_photo(tiny_engine, params.replace(audio_strength=1.0))
    assert np.abs(pixels(with_audio.image) - pixels(expected)).mean() > 0.5
    assert with_audio.trace.ratios.any()


def test_variation_reports_progress_per_step_run(tiny_engine, photo_path, samples):
    seen = []
    edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=0.5), progress=seen.append)
    assert [s.step for s in seen] == [1, 2, 3, 4, 5] and {s.total for s in seen} == {5}


def outside_beyond_feather(mask_path, feather: int) -> np.ndarray:
    from scipy.ndimage import distance_transform_edt

    region = np.asarray(Image.open(mask_path)) >= 128
    return ~region & (distance_transform_edt(~region) > feather + 1)


def inside_of(mask_path) -> np.ndarray:
    return np.asarray(Image.open(mask_path)) >= 128


def test_masked_edit_keeps_the_photo_outside_and_changes_the_inside(tiny_engine, photo_path, mask_path, samples):
    params = edit_params(photo_path, samples, denoise=0.8, mask_path=str(mask_path), feather=4)
    result = edit_photo(tiny_engine, params)
    photo = pixels(Image.open(photo_path).convert("RGB"))
    out = pixels(result.image)
    outside = outside_beyond_feather(mask_path, 4)
    assert outside.sum() > 2000
    assert np.array_equal(out[outside], photo[outside])
    inside = np.asarray(Image.open(mask_path)) >= 128
    assert np.abs(out[inside] - photo[inside]).mean() > 2.0
    assert result.params.edit.mask_sha256
    # the feather asked for: just outside the edge the edit blends in (a hard edge keeps the photo there)
    from scipy.ndimage import distance_transform_edt

    ring = ~inside & (distance_transform_edt(~inside) <= 2)
    assert (np.abs(out[ring] - photo[ring]).sum(-1) > 0).mean() > 0.5
    # in latent space too: every latent cell the mask does not touch is the photo's own latent
    round_trip = edit_photo(tiny_engine, params.replace(denoise=0.0, mask_path=None)).latents
    untouched = torch.nn.functional.max_pool2d(torch.from_numpy(inside_of(mask_path)).float()[None, None], 8) == 0
    untouched = untouched.expand_as(round_trip)
    assert untouched.sum() > 40 and torch.equal(result.latents[untouched], round_trip[untouched])
    assert not torch.equal(result.latents[~untouched], round_trip[~untouched])

    quiet = edit_photo(tiny_engine, params.replace(audio_strength=0.0))
    differs = np.abs(pixels(quiet.image) - out).sum(-1) > 0
    assert differs.any() and not differs[outside].any()


def recorded_steps(monkeypatch) -> list[tuple]:
    """Every EditCallback step as it ends: (callback, scheduler, timestep denoised, latents handed on)."""
    from core.edit.run import EditCallback

    seen, step = [], EditCallback.callback_fn

    def recording(self, pipeline, step_index, timestep, callback_kwargs):
        out = step(self, pipeline, step_index, timestep, callback_kwargs)
        seen.append((self, pipeline.scheduler, int(timestep), out["latents"].clone()))
        return out

    monkeypatch.setattr(EditCallback, "callback_fn", recording)
    return seen


def untouched_cells(mask_path, like: torch.Tensor) -> torch.Tensor:
    inside = torch.from_numpy(inside_of(mask_path)).float()[None, None]
    return (torch.nn.functional.max_pool2d(inside, 8) == 0).expand_as(like)


@pytest.mark.parametrize("scheduler", ["ddim", "dpmpp", "euler"])  # DDIM: by the timestep; the others: own index
def test_masked_variation_re_noises_the_photo_outside_to_the_timestep_the_next_step_denoises(
    tiny_engine, photo_path, mask_path, samples, monkeypatch, scheduler
):
    """After each step the latents outside the mask are the photo's own noised to the timestep the
    pipeline denoises next (a fresh scheduler's add_noise at that timestep), the photo itself after
    the last: noised one step off, the untouched region would not match what the model expects."""
    seen = recorded_steps(monkeypatch)
    params = edit_params(photo_path, samples, denoise=0.6, mask_path=str(mask_path), scheduler=scheduler)
    edit_photo(tiny_engine, params)
    assert len(seen) == 6
    callback, used = seen[0][0], seen[0][1]
    fresh = type(used).from_config(used.config)  # no step index of its own: it noises by the timestep
    fresh.set_timesteps(10)
    keep = untouched_cells(mask_path, callback.known)
    assert keep.sum() > 40 and torch.equal(callback.keep, keep)
    for (_, _, _, latents), (_, _, following, _) in zip(seen, seen[1:], strict=False):
        expected = fresh.add_noise(callback.known, callback.noise, torch.tensor([following]))
        assert torch.allclose(latents[keep], expected[keep], atol=1e-5), following
    assert torch.equal(seen[-1][3][keep], callback.known[keep])  # after the last step: the photo's own latents


def test_keep_structure_masked_takes_the_inversions_latent_at_the_next_timestep_outside(
    tiny_engine, photo_path, mask_path, samples, monkeypatch
):
    """Keep structure, masked: after each step the latents outside the mask are the photo's
    inversion at the timestep denoised next, and the photo's latents after the last."""
    seen = recorded_steps(monkeypatch)
    params = edit_params(photo_path, samples, denoise=0.6, mask_path=str(mask_path), edit_mode="structure")
    edit_photo(tiny_engine, params)
    assert len(seen) == 6
    callback = seen[0][0]
    keep = untouched_cells(mask_path, callback.known)
    for (_, _, _, latents), (_, _, following, _) in zip(seen, seen[1:], strict=False):
        assert torch.equal(latents[keep], callback.trajectory[following][keep].to(latents.dtype)), following
    assert torch.equal(seen[-1][3][keep], callback.known[keep])


def test_an_edit_preview_takes_the_fast_paths_and_an_edit_never_does(tiny_engine, photo_path, mask_path, samples):
    from core.fastpaths import FastSettings

    params = edit_params(photo_path, samples, denoise=0.6, mask_path=str(mask_path), feather=2)
    full = torch.get_num_threads()
    threads: list[int] = []

    def during(_info) -> None:
        threads.append(torch.get_num_threads())

    before = edit_photo(tiny_engine, params, progress=during)
    assert set(threads) == {full}
    decoded = {"taesd": 0, "vae": 0}
    hooks = [
        module.decoder.register_forward_hook(lambda *_, name=name: decoded.__setitem__(name, decoded[name] + 1))
        for name, module in (("taesd", tiny_engine.bundle.preview_vae), ("vae", tiny_engine.pipe.vae))
    ]
    try:
        threads.clear()
        fast = FastSettings(spare_core=True, channels_last=True, tiny_decoder=True)
        preview = edit_photo(tiny_engine, params, progress=during, fast=fast)
        assert decoded == {"taesd": 1, "vae": 0} and tiny_engine.fast.channels_last
        assert set(threads) == {max(1, full - 1)}
        threads.clear()
        after = edit_photo(tiny_engine, params, progress=during)
        assert decoded == {"taesd": 1, "vae": 1} and not tiny_engine.fast.channels_last
        assert set(threads) == {full}
    finally:
        for hook in hooks:
            hook.remove()
    assert np.array_equal(pixels(after.image), pixels(before.image))  # the edit: as if no preview had run
    photo, outside = pixels(Image.open(photo_path).convert("RGB")), outside_beyond_feather(mask_path, 2)
    assert np.array_equal(pixels(preview.image)[outside], photo[outside])  # the preview keeps the photo too
    inside = inside_of(mask_path)
    assert np.abs(pixels(preview.image)[inside] - pixels(before.image)[inside]).mean() > 5  # TAESD's picture


def test_a_different_photo_or_mask_is_refused(tiny_engine, photo_path, mask_path, samples, tmp_path):
    done = edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=0.2, mask_path=str(mask_path)))
    other = tmp_path / "other.png"
    Image.new("RGB", (96, 64), (9, 9, 9)).save(other)
    with pytest.raises(EditError, match="other.png is not the photo this image was edited from"):
        edit_photo(tiny_engine, done.params.replace(image_path=str(other)))
    with pytest.raises(EditError, match="no mask was given"):
        edit_photo(tiny_engine, done.params.replace(mask_path=None))


def test_a_cancel_stops_the_edit_and_the_adapters_come_down(tiny_engine, photo_path, samples):
    import threading

    from core.cancel import Cancelled

    cancel = threading.Event()
    seen = []

    def progress(info) -> None:
        seen.append(info.step)
        cancel.set()

    with pytest.raises(Cancelled):
        edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=1.0), progress=progress, cancel=cancel)
    from core.attention import GatedAudioAttnProcessor

    assert seen == [1] and not tiny_engine.adapters.installed
    assert not any(isinstance(p, GatedAudioAttnProcessor) for p in tiny_engine.pipe.unet.attn_processors.values())


def test_the_feather_ramps_linearly_across_the_edge():
    from core.edit.run import feathered

    region = np.zeros((1, 40), bool)
    region[:, 20:] = True
    alpha = feathered(region, 4)[0]
    assert np.array_equal(alpha[:16], np.zeros(16)) and np.array_equal(alpha[24:], np.ones(16))
    assert np.allclose(alpha[16:24], (np.arange(16, 24) - 19.5 + 4) / 8)
    assert np.array_equal(feathered(region, 0)[0], region[0].astype(float))


def test_the_composite_blends_the_edit_over_the_photo_by_the_feathers_weight():
    """Across the feather each pixel is photo x (1 - w) + edit x w: near the outside mostly photo."""
    from core.edit.run import composite, feathered

    region = np.zeros((4, 40), bool)
    region[:, 20:] = True
    photo, edited = Image.new("RGB", (40, 4), (0, 0, 0)), Image.new("RGB", (40, 4), (200, 100, 40))
    out = np.asarray(composite(photo, edited, region, 4))
    weight = feathered(region, 4)[..., None]
    assert np.array_equal(out, np.rint(weight * np.array([200, 100, 40])).astype(np.uint8))
    assert out[0, 16].tolist() == [12, 6, 2] and out[0, 23].tolist() == [188, 94, 38]  # w = 1/16, 15/16


def test_a_latent_cell_with_one_painted_pixel_is_edited_not_kept():
    """`outside` keeps only the latent cells with no painted pixel: a cell the mask touches at all is re-drawn."""
    from core.edit.run import outside
    from core.images import Mask

    region = np.zeros((16, 16), bool)
    region[9, 3] = True  # one pixel, in the 8x8 cell at row 1, column 0
    keep = outside(Mask(region, "0" * 64, "mask"), torch.zeros(1, 4, 2, 2), 8)
    assert keep.shape == (1, 4, 2, 2) and bool(keep.all(dim=1).eq(keep.any(dim=1)).all())
    assert keep[0, 0].tolist() == [[True, True], [False, True]]


def test_a_keep_structure_preview_never_lends_its_inversion_to_an_exact_edit(tiny_engine, photo_path, samples):
    """The photo's inversion is cached; one a preview made (channels_last weights, a core spared:
    other float sums) must not be what an exact edit starts from."""
    from core.edit.structure import inversion_cache
    from core.fastpaths import FastSettings

    params = edit_params(photo_path, samples, denoise=0.6, edit_mode="structure", prompt="a harbour, inverted")
    cache = inversion_cache(tiny_engine)
    cache.clear()
    exact = edit_photo(tiny_engine, params)
    cache.clear()
    edit_photo(tiny_engine, params, fast=FastSettings(spare_core=True, channels_last=True))
    assert len(cache) == 1  # the preview's inversion, cached
    again = edit_photo(tiny_engine, params)
    assert len(cache) == 2  # the edit inverted the photo itself
    assert torch.equal(again.latents, exact.latents) and np.array_equal(pixels(again.image), pixels(exact.image))


def test_an_edits_download_name_tells_edits_of_one_seed_apart_and_names_no_folder():
    from core.edit.export import edit_filename
    from core.edit.params import EditKnobs, EditParams
    from core.params import GenerationParams

    base = EditParams(GenerationParams(seed=7), EditKnobs(image_path="/srv/uploads/ab12/My Street (2).JPG"))
    name = edit_filename(base)
    assert name.startswith("clap2diff_edit_7_my-street-2_") and name.endswith(".png") and "srv" not in name
    assert edit_filename(base) == name  # the same edit: the same name
    others = {edit_filename(base.replace(denoise=0.3)), edit_filename(base.replace(edit_mode="structure")),
              edit_filename(base.replace(mask_path="/srv/uploads/cd34/mask.png"))}  # fmt: skip
    assert name not in others and len(others) == 3
    elsewhere = EditParams(GenerationParams(seed=7), EditKnobs(image_path="/home/me/My Street (2).JPG"))
    assert edit_filename(elsewhere) == name  # the photo by name: the same edit on another machine


def test_an_edits_png_summary_names_the_mode_and_the_injection_lengths_of_keep_structure():
    """The PNG's human-readable `parameters` text says how the photo was edited; keep structure adds
    its two injection lengths (which variation does not read)."""
    from types import SimpleNamespace

    from core.edit.export import edit_png_bytes
    from core.edit.params import EditKnobs, EditParams
    from core.params import GenerationParams

    def summary(**knobs) -> str:
        params = EditParams(GenerationParams(seed=7), EditKnobs(image_path="photo.png", **knobs))
        result = SimpleNamespace(image=Image.new("RGB", (8, 8)), params=params, device="cpu", dtype="float32", notes=())
        return Image.open(io.BytesIO(edit_png_bytes(result))).info["parameters"]

    structure = summary(edit_mode="structure", denoise=0.6, feature_injection=0.8, attention_injection=0.25)
    assert structure.endswith(", Edit: structure denoise 0.6, features 0.8, attention 0.25")
    assert summary(edit_mode="variation", denoise=0.45).endswith(", Edit: variation denoise 0.45")


def test_an_edit_without_a_photo_is_refused_blank_or_empty_and_the_defaults_are_the_documented_ones():
    from core.edit.params import EditKnobs, EditParams
    from core.knobs import ParamsError
    from core.params import GenerationParams

    for path in ("", "   "):
        with pytest.raises(ParamsError, match="an edit needs a photo"):
            EditParams(GenerationParams(), EditKnobs(image_path=path)).validate()
    knobs = EditKnobs()  # README: "--feature-injection, default 0.8, and --attention-injection, default 0.5"
    assert (knobs.edit_mode, knobs.feature_injection, knobs.attention_injection) == ("variation", 0.8, 0.5)


def test_the_no_step_note_names_the_smallest_denoise_on_the_slider_that_runs_a_step():
    """The Denoise it advises is one the slider can set (a multiple of its 0.05 step: 0.04 could not be set),
    runs at least one step, and one slider step less would run none, at every step count."""
    import re

    from core.edit.run import no_step_note, run_steps

    for steps in range(1, 1001):
        need = float(re.search(r"raise Denoise to (\d\.\d\d) or more", no_step_note(steps, 0.001))[1])
        assert round(need / 0.05, 9).is_integer() and run_steps(steps, need) >= 1, (steps, need)
        assert run_steps(steps, round(need - 0.05, 2)) == 0, (steps, need)
    assert "raise Denoise to 0.05 or more" in no_step_note(30, 0.01)  # 0.04 would do, but the slider has no 0.04


def test_masked_variation_re_noises_the_outside_with_the_noise_img2img_started_from(
    tiny_engine, photo_path, mask_path, samples, monkeypatch
):
    """The UNet's first input is the photo's latents noised (by img2img) with the very noise the
    mask's outside is re-noised with after every step: another noise would seam the edge."""
    seen = recorded_steps(monkeypatch)
    first: list[tuple] = []
    hook = tiny_engine.pipe.unet.register_forward_pre_hook(
        lambda _m, args: first.append((args[0][:1].clone(), args[1])) if not first else None
    )
    try:
        edit_photo(tiny_engine, edit_params(photo_path, samples, denoise=0.6, mask_path=str(mask_path)))
    finally:
        hook.remove()
    callback, scheduler = seen[0][0], seen[0][1]
    sample, t = first[0]
    fresh = type(scheduler).from_config(scheduler.config)
    fresh.set_timesteps(10)
    expected = fresh.add_noise(callback.known, callback.noise, torch.as_tensor(t).reshape(1))
    assert torch.allclose(sample, expected, atol=1e-5)


def test_a_mask_made_at_a_panoramas_own_size_is_accepted_though_its_working_size_gave_the_aspect_up(tmp_path):
    """A 25:1 panorama works at 512x64 (8:1); its mask, painted on the panorama as it is, has the
    panorama's shape, not the working size's: it is taken (scaled), not refused as another shape."""
    from core.edit.inputs import load_inputs

    photo, mask = tmp_path / "panorama.png", tmp_path / "panorama_mask.png"
    Image.new("RGB", (2000, 80), (90, 120, 150)).save(photo)
    region = np.zeros((80, 2000), np.uint8)
    region[:, 1000:] = 255
    Image.fromarray(region, "L").save(mask)
    loaded, m = load_inputs(EditParams().replace(image_path=str(photo), mask_path=str(mask)))
    assert loaded.size == (512, 64) and m.region.shape == (64, 512)
    assert m.region[:, 260:].all() and not m.region[:, :252].any()


def test_reproducing_an_edit_from_a_generations_png_says_it_is_not_an_edit():
    from core.edit.export import read_edit
    from core.export.formats import ExportError
    from core.export.metadata import png_bytes

    png = png_bytes(Image.new("RGB", (8, 8)), GenerationParams(prompt="a city", seed=7))
    with pytest.raises(ExportError, match=r"is not an edited photo \(it has no edit settings\): use `generate --from`"):
        read_edit(png)


def test_reproducing_an_edit_made_in_another_precision_says_its_pixels_can_differ(tmp_path, capsys):
    """An edit's PNG records the device and the precision it was made in, as a generation's does:
    `edit --from` on a CPU of an fp16 GPU edit says why its pixels can differ."""
    from types import SimpleNamespace

    from core.cli.generate import note_other_device
    from core.edit.export import save_edit
    from core.export.metadata import read_metadata

    params = EditParams(GenerationParams(seed=7)).replace(image_path="photo.png")
    made = SimpleNamespace(image=Image.new("RGB", (8, 8)), params=params, device="cuda:0", dtype="float16",
                           notes=("a note",), timings={"denoise": 1.23456}, trace=SimpleNamespace(
                               heard={"mix": [("Rain", 0.5)]}, skipped_levels=["ambience"]))  # fmt: skip
    png = save_edit(made, tmp_path / "edit.png")
    # the information a generation's PNG carries too: what was heard, how long it took
    assert read_metadata(png)["extra"] == {"device": "cuda:0", "dtype": "float16", "notes": ["a note"],
                                           "timings": {"denoise": 1.2346}, "heard": {"mix": [["Rain", 0.5]]},
                                           "skipped_levels": ["ambience"]}  # fmt: skip
    note_other_device(str(png), SimpleNamespace(device="cpu", dtype=torch.float32))
    assert "edit.png was made on cuda in float16, this run is on cpu in float32" in capsys.readouterr().err
