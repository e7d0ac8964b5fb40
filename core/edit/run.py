"""Running an edit on the engine's loaded models (no second UNet, VAE or text encoder).

Variation is diffusers' own `StableDiffusionImg2ImgPipeline`, built from the engine's pipeline's
components (the same modules, shared), with the audio adapters installed as for a generation: the
photo's latents are noised to `denoise` of the trajectory and denoised with the prompt and sound.
We encode the photo ourselves, with the seeded generator exactly as the pipeline would, and hand
the pipeline those latents: that is the same computation, and it gives us the photo's latents and
the noise for the masked mode. Masked: after every step the latents outside the mask are replaced
by the photo's own noised to the next step (as diffusers' inpainting does for a 4-channel UNet);
after decoding, the photo's pixels are composited back outside the mask with a feathered edge.
Keep structure (core/edit/structure.py): the photo's DDIM inversion, then diffusers' own text-to-image
loop started at the inverted latent, with the photo's features and self-attention injected; masked,
the latents outside the mask are the inversion's own at each step.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..callbacks import LevelScheduleCallback
from ..cancel import Cancelled
from ..events import ProgressCallback, Stage, StatusCallback, ignore
from ..fastpaths import FastSettings
from ..images import Mask, Photo
from ..knobs import knob_of
from ..trace import Trace
from .inputs import EditError, load_inputs
from .params import EditKnobs, EditParams
from .structure import InjectionRecord, Injector, invert, tail_scheduler


@dataclass
class EditResult:
    """One finished edit. `params` is complete (hashes, working size): it reproduces `image`."""

    image: Image.Image
    photo: Image.Image  # the photo at the working size: the "before"
    params: EditParams
    trace: Trace
    timings: dict[str, float]
    notes: tuple[str, ...] = field(default_factory=tuple)  # what was done to the photo and mask
    device: str = "cpu"
    dtype: str = "float32"
    latents: torch.Tensor | None = None  # the final latents, before decoding
    injected: InjectionRecord | None = None  # keep structure: which steps took the photo's layout


def run_steps(steps: int, denoise: float) -> int:
    """The steps img2img runs for `denoise` (diffusers' own arithmetic in `get_timesteps`)."""
    return min(int(steps * denoise), steps)


def no_step_note(steps: int, denoise: float) -> str:
    """Why an edit returned the photo unchanged, and what would change it."""
    if denoise <= 0:
        return "denoise 0 keeps the photo as it was"
    step = knob_of(EditKnobs.__dataclass_fields__["denoise"]).step  # the Denoise slider's step: a value it can set
    need = round(math.ceil(1 / steps / step - 1e-9) * step, 2)  # the smallest such with int(steps * need) >= 1
    return (f"denoise {denoise:g} of {steps} steps is less than one step, so the photo is returned as it was: "
            f"raise Denoise to {need:.2f} or more (or the steps) to change it")  # fmt: skip


class EditCallback(LevelScheduleCallback):
    """The level schedule, progress and cancel of a generation, plus (masked mode) the photo's own
    latents outside the mask after every step."""

    tensor_inputs: list[str] = ["latents"]

    def __init__(
        self,
        *args: Any,
        known: torch.Tensor,
        noise: torch.Tensor | None,
        keep: torch.Tensor | None,
        trajectory: dict[int, torch.Tensor] | None = None,
        **kw: Any,
    ):
        super().__init__(*args, **kw)
        self.known, self.noise, self.keep = known, noise, keep
        self.trajectory = trajectory  # keep structure: the photo's own latent per timestep (its inversion)

    def callback_fn(self, pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict) -> dict:
        callback_kwargs = super().callback_fn(pipeline, step_index, timestep, callback_kwargs)
        if self.keep is None:
            return callback_kwargs
        timesteps = pipeline.scheduler.timesteps
        index = len(timesteps) - len(self.schedule) + step_index + 1  # the step the latents are now at
        if index < len(timesteps) and self.trajectory is not None:
            known = self.trajectory[int(timesteps[index])]
        elif index < len(timesteps):
            known = pipeline.scheduler.add_noise(self.known, self.noise, timesteps[index : index + 1])
        else:
            known = self.known  # after the last step: the photo itself
        latents = callback_kwargs["latents"]
        callback_kwargs["latents"] = torch.where(self.keep, known.to(latents.dtype), latents)
        return callback_kwargs


def feathered(region: np.ndarray, feather: int) -> np.ndarray:
    """Blend weight of the edit per pixel: 1 inside beyond the feather, 0 outside beyond it,
    a linear ramp over `feather` px on either side of the mask's edge."""
    if feather <= 0:
        return region.astype(np.float64)
    from scipy.ndimage import distance_transform_edt

    signed = np.where(region, distance_transform_edt(region) - 0.5, 0.5 - distance_transform_edt(~region))
    return np.clip((signed + feather) / (2 * feather), 0.0, 1.0)


def composite(photo: Image.Image, edited: Image.Image, region: np.ndarray, feather: int) -> Image.Image:
    """The photo's own pixels where the weight is 0, the edit's where it is 1, blended between."""
    alpha = feathered(region, feather)[..., None]
    before = np.asarray(photo, dtype=np.float64)
    after = np.asarray(edited, dtype=np.float64)
    mixed = np.rint(before * (1 - alpha) + after * alpha).astype(np.uint8)
    mixed = np.where(alpha == 0, np.asarray(photo), np.where(alpha == 1, np.asarray(edited), mixed))
    return Image.fromarray(mixed, "RGB")


def edit_photo(
    engine: Any,
    params: EditParams,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_status: StatusCallback | None = None,
    fast: FastSettings | None = None,
) -> EditResult:
    """Edit the photo as `params` says. Raises ImageError, EditError, ParamsError, AudioError,
    EngineError, Cancelled; `progress` and `on_status` hear what a generation's would. `fast`: a
    preview's fast paths (core/fastpaths.py), as for a generation; None (an edit) runs the exact
    path. Keep structure's loop never runs the compiled UNet: its injection hooks into the UNet's
    layers, which a compiled graph would not call."""
    from diffusers import StableDiffusionImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
    from diffusers.utils.torch_utils import randn_tensor

    params = params.validate()
    status = on_status or ignore
    status(Stage("image", "Reading the photo"))
    photo, mask = load_inputs(params)
    width, height = photo.size
    gen = params.generation.replace(models=engine.spec.name, width=width, height=height).validate()
    steps = run_steps(gen.steps, params.edit.denoise)
    structure = params.edit.edit_mode == "structure"
    notes = photo.notes + (mask.notes if mask else ())
    if structure and gen.scheduler != "ddim":
        notes += (f"keep structure denoises with DDIM, the sampler its inversion mirrors (not {gen.scheduler})",)
        gen = gen.replace(scheduler="ddim")
    injected, traced = None, False
    with engine.running(on_status, fast):
        cond = engine.condition(gen, max(steps, 1), cancel, status)
        gen, timings = cond.params, cond.timings
        generator = torch.Generator("cpu").manual_seed(gen.seed)
        status(Stage("denoise", "Denoising"))
        t = time.perf_counter()
        with torch.inference_mode():
            pixels = engine.pipe.image_processor.preprocess(photo.image)
            pixels = pixels.to(device=engine.device, dtype=cond.prompt_embeds.dtype)
            vae = engine.pipe.vae
            if structure:  # the posterior's mean: the inversion depends on the photo alone, and is cached
                latents = retrieve_latents(vae.encode(pixels), sample_mode="argmax") * vae.config.scaling_factor
            else:
                latents = retrieve_latents(vae.encode(pixels), generator=generator) * vae.config.scaling_factor
            keep = None if mask is None else outside(mask, latents, engine.pipe.vae_scale_factor)
            if steps > 0 and structure:
                latents, injected = keep_structure(
                    engine, cond, params, photo, latents, keep, steps, generator, progress, cancel, status
                )
                notes += (injected.describe(),)
            elif steps > 0:
                noise_generator = torch.Generator("cpu").set_state(generator.get_state())
                noise = randn_tensor(
                    latents.shape, generator=noise_generator, device=latents.device, dtype=latents.dtype
                )
                callback = EditCallback(
                    engine.state, cond.schedule, progress, cancel, known=latents, noise=noise, keep=keep
                )
                with engine.fast.unet_for(fast, gen, status):  # the pipeline's components: its UNet now
                    img2img = StableDiffusionImg2ImgPipeline(**engine.pipe.components, requires_safety_checker=False)
                    img2img.set_progress_bar_config(disable=True)
                    loop = loop_arguments(cond, generator, callback)
                    latents = img2img(image=latents, strength=params.edit.denoise, **loop).images
                    traced = engine.fast.tracing
            if cancel is not None and cancel.is_set():
                raise Cancelled("edit cancelled")
            timings["denoise"] = time.perf_counter() - t
            if traced:  # mostly the one-time compile (as Engine.generate says)
                timings["compile"] = timings["denoise"]
            t = time.perf_counter()
            if steps > 0:
                image = engine.decode(latents, generator, cancel, engine.fast.decoder(fast))  # a Cancel stops it too
            else:  # nothing re-drawn: the photo itself, not its trip through the VAE (which is not the photo)
                image = photo.image.copy()
                notes += (no_step_note(gen.steps, params.edit.denoise),)
            timings["decode"] = time.perf_counter() - t
        if mask is not None:
            image = composite(photo.image, image, mask.region, params.edit.feather)
        timings["total"] = time.perf_counter() - cond.started
        trace = engine.trace(cond, steps)
    edit = replace(params.edit, image_sha256=photo.sha256, mask_sha256=mask.sha256 if mask else None)
    dtype = str(engine.dtype).removeprefix("torch.")
    return EditResult(
        image, photo.image, EditParams(gen, edit), trace, timings, notes, engine.device, dtype, latents, injected
    )


def outside(mask: Mask, latents: torch.Tensor, scale: int) -> torch.Tensor:
    """True on the latent cells the mask leaves untouched (no pixel of the cell is painted)."""
    region = torch.from_numpy(mask.region).to(torch.float32)[None, None]
    inside = torch.nn.functional.max_pool2d(region, scale)
    return (inside == 0).to(latents.device).expand_as(latents)


def keep_structure(
    engine: Any,
    cond: Any,
    params: EditParams,
    photo: Photo,
    latents: torch.Tensor,
    keep: torch.Tensor | None,
    steps: int,
    generator: torch.Generator,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    status: StatusCallback = ignore,
) -> tuple[torch.Tensor, InjectionRecord]:
    """The photo's inversion (cached), then the last `steps` DDIM steps from its latent with the prompt,
    the sound and the photo's layout injected for the first part of them."""
    from diffusers import StableDiffusionPipeline

    gen, edit = cond.params, params.edit
    # What the inversion's numbers depend on besides the photo: a preview's channels_last weights
    # and its spared core give other float sums, which an exact edit must not reuse.
    numerics = (engine.fast.channels_last, torch.get_num_threads())
    key = (photo.sha256, photo.size, gen.prompt, gen.steps, engine.spec.name, numerics)
    started = time.perf_counter()

    def inverting(done: int, total: int) -> None:
        status(Stage("denoise", "Inverting the photo (DDIM)", done, total))

    inversion = invert(engine, latents, cond.prompt_embeds, key, gen.steps, steps, cancel, inverting)
    status(Stage("denoise", "Denoising"))
    cond.timings["inversion"] = time.perf_counter() - started  # ~0 when the engine had it cached
    timesteps = inversion.timesteps[:steps][::-1]
    scheduler = tail_scheduler(engine.pipe.scheduler.config, steps)
    pipe = StableDiffusionPipeline(**{**engine.pipe.components, "scheduler": scheduler}, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    callback = EditCallback(
        engine.state,
        cond.schedule,
        progress,
        cancel,
        known=latents,
        noise=None,
        keep=keep,
        trajectory=inversion.latents,
    )
    features, attention = int(steps * edit.feature_injection), int(steps * edit.attention_injection)
    injector = Injector(engine, inversion, cond.prompt_embeds, timesteps, features, attention)
    with injector.installed():
        start = inversion.latents[timesteps[0]]
        loop = loop_arguments(cond, generator, callback)
        latents = pipe(latents=start, height=gen.height, width=gen.width, **loop).images
    return latents, injector.record


def loop_arguments(cond: Any, generator: torch.Generator, callback: EditCallback) -> dict[str, Any]:
    """What both edit loops hand diffusers' pipeline: the conditioning, guidance, seed and callback."""
    return {
        "prompt_embeds": cond.prompt_embeds,
        "negative_prompt_embeds": cond.negative_embeds,
        "num_inference_steps": cond.params.steps,
        "guidance_scale": cond.params.guidance,
        "generator": generator,
        "output_type": "latent",
        "callback_on_step_end": callback,
    }


__all__ = [
    "EditError",
    "EditResult",
    "composite",
    "edit_photo",
    "feathered",
    "keep_structure",
    "no_step_note",
    "run_steps",
]
