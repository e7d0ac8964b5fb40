"""Keep structure: DDIM inversion of the photo, then Plug-and-Play feature and self-attention injection.

Plug-and-Play (Tumanyan et al. 2023), as SonicDiffusion uses it for audio edits: the photo is
DDIM-inverted, and while the edit is denoised with the prompt and the sound, a *source pass* of the
UNet on the inversion's own latents at the same timestep runs first; for the first part of the
steps its decoder features (the output of `up_blocks[1].resnets[1]`) and the queries/keys of the
decoder's self-attention (`up_blocks[1].attentions[1:]` and every later up block) replace the
edit's own. The layout comes from the photo; what fills it comes from the prompt and the sound.

Choices, and why:
- Inversion is conditioned on the prompt without classifier-free guidance: DDIM inversion with
  guidance drifts (null-text inversion exists to correct that), and with the prompt the no-audio,
  guidance-1 denoise retraces the inversion (tested: it comes back to the photo's latents).
- The photo's latents are the VAE posterior's mean: the inversion depends on the photo only, so it
  is cached per (photo, working size, prompt, steps, models) and reused whatever the seed. The
  trajectory of the first k steps is a prefix of a longer one, so a larger denoise extends it.
- The source pass runs with the audio adapters muted (strength 0): the features are the photo's.
- The injection uses forward hooks on the resnet and on the self-attention's `to_q`/`to_k`
  projections, not an attention processor: the audio processors sit on the cross-attention
  (`attn2`), the hooks on the self-attention (`attn1`), so the two compose with neither changed.
- The denoise is diffusers' own StableDiffusionPipeline loop with DDIM, started at the inversion's
  latent, on the tail of the schedule (`TailDDIMScheduler`, as img2img's `get_timesteps` slices it).
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

from ..cache import LRUCache
from ..cancel import Cancelled

INVERSION_CACHE_SIZE = 8  # ~3 MB each at 512x512 and 25 steps (one latent per step)
_caches: weakref.WeakKeyDictionary[Any, LRUCache] = weakref.WeakKeyDictionary()


@dataclass
class Inversion:
    """The photo's DDIM trajectory: `latents[t]` is the photo's latent at timestep t (ascending)."""

    start: torch.Tensor  # the photo's latents (t = 0)
    timesteps: list[int] = field(default_factory=list)
    latents: dict[int, torch.Tensor] = field(default_factory=dict)


def inversion_cache(engine: Any) -> LRUCache:
    """The engine's inversion LRU (the engine's lock guards it, as its other caches)."""
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = LRUCache(INVERSION_CACHE_SIZE)
    return cache


class TailDDIMScheduler(DDIMScheduler):
    """DDIM on the last `run_steps` of its schedule: the steps img2img would run for that denoise.
    The step arithmetic (the previous timestep) still follows the full `num_inference_steps`."""

    run_steps: int = 0

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        super().set_timesteps(num_inference_steps, device)
        self.timesteps = self.timesteps[num_inference_steps - self.run_steps :]


def tail_scheduler(config: Any, run_steps: int) -> TailDDIMScheduler:
    scheduler = TailDDIMScheduler.from_config(config)
    scheduler.run_steps = run_steps
    return scheduler


@contextmanager
def muted(state: Any) -> Iterator[None]:
    """The audio adapters off for the UNet calls inside (strength 0: they add nothing, record nothing):
    the inversion and the source pass are the photo's own, whatever the sound."""
    strength, state.strength = state.strength, 0.0
    try:
        yield
    finally:
        state.strength = strength


def invert(
    engine: Any,
    start: torch.Tensor,
    embeds: torch.Tensor,
    key: tuple,
    steps: int,
    run: int,
    cancel: threading.Event | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Inversion:
    """The first `run` steps of the photo's DDIM inversion out of `steps`, from the engine's cache
    where it has them (counted as `inversion_hit`), else computed (`inversion_steps` counts UNet calls;
    `on_step(done, run)` hears each)."""
    cache = inversion_cache(engine)
    inversion = cache.get_or_none(key)
    if inversion is not None and len(inversion.timesteps) >= run:
        engine.counters.update(["inversion_hit"])
        return inversion
    if inversion is None:
        inversion = Inversion(start)
    accepted = inspect.signature(DDIMInverseScheduler.__init__).parameters  # not SD's PNDM leftovers: no warning
    scheduler = DDIMInverseScheduler.from_config(
        {k: v for k, v in engine.pipe.scheduler.config.items() if k in accepted}
    )
    scheduler.set_timesteps(steps, device=start.device)
    latents = inversion.latents[inversion.timesteps[-1]] if inversion.timesteps else start
    with muted(engine.state):
        for t in scheduler.timesteps[len(inversion.timesteps) : run]:
            if cancel is not None and cancel.is_set():
                raise Cancelled("edit cancelled")
            eps = engine.pipe.unet(latents, t, encoder_hidden_states=embeds, return_dict=False)[0]
            latents = scheduler.step(eps, t, latents, return_dict=False)[0]
            inversion.timesteps.append(int(t))
            inversion.latents[int(t)] = latents
            engine.counters.update(["inversion_steps"])
            if on_step is not None:
                on_step(len(inversion.timesteps), run)
    cache.put(key, inversion)
    return inversion


def feature_layers(unet: Any) -> list[torch.nn.Module]:
    """Plug-and-Play's feature layer: the second resnet of the second up block."""
    return [unet.up_blocks[1].resnets[1]]


def attention_layers(unet: Any) -> list[torch.nn.Module]:
    """Plug-and-Play's self-attention layers: the decoder's, from `up_blocks[1].attentions[1]` on."""
    layers = []
    for i, block in enumerate(unet.up_blocks[1:], start=1):
        for j, transformer in enumerate(getattr(block, "attentions", None) or []):
            if i == 1 and j == 0:
                continue
            layers += [tb.attn1 for tb in transformer.transformer_blocks]
    return layers


@dataclass
class InjectionRecord:
    """Which denoising steps (0-based, of the steps run) took the photo's features / attention."""

    feature_steps: list[int] = field(default_factory=list)
    attention_steps: list[int] = field(default_factory=list)

    def describe(self) -> str:
        def steps(indices: list[int]) -> str:
            n = len(indices)
            return "no step" if n == 0 else "step 1" if n == 1 else f"steps 1-{n}"

        return (
            f"keep structure: the photo's features injected in {steps(self.feature_steps)}, "
            f"its self-attention in {steps(self.attention_steps)}"
        )

    def to_dict(self) -> dict[str, list[int]]:
        return {"feature_steps": list(self.feature_steps), "attention_steps": list(self.attention_steps)}


class Injector:
    """Runs the source pass before every UNet call of the first steps and swaps its features in.

    `features` / `attention` are how many of the first steps inject each. The pipeline's UNet call
    at timestep t triggers (forward pre-hook) a batch-1 UNet call on the inversion's latent at t with
    the inversion's embeddings and the audio muted; the hooks record there and replace in the
    pipeline's call (both halves of a guidance batch, as Plug-and-Play does)."""

    def __init__(
        self,
        engine: Any,
        inversion: Inversion,
        embeds: torch.Tensor,
        timesteps: list[int],
        features: int,
        attention: int,
    ):
        self.engine, self.inversion, self.embeds = engine, inversion, embeds
        self.index = {t: i for i, t in enumerate(timesteps)}
        self.features, self.attention = features, attention
        self.record = InjectionRecord()
        self.recording = False
        self.active: set[str] = set()
        self.saved: dict[int, torch.Tensor] = {}

    @contextmanager
    def installed(self) -> Iterator[Injector]:
        unet = self.engine.pipe.unet
        handles = [
            unet.register_forward_pre_hook(self._before_unet, with_kwargs=True),
            unet.register_forward_hook(lambda *_: self._after_unet()),
        ]
        for module in feature_layers(unet):
            handles.append(module.register_forward_hook(self._swap("features")))
        for attn in attention_layers(unet):
            handles.append(attn.to_q.register_forward_hook(self._swap("attention")))
            handles.append(attn.to_k.register_forward_hook(self._swap("attention")))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self.saved = {}

    def _before_unet(self, unet: Any, args: tuple, kwargs: dict) -> None:
        if self.recording:
            return
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        step = self.index.get(int(t))
        if step is None:
            return
        active = {kind for kind, n in (("features", self.features), ("attention", self.attention)) if step < n}
        if not active:
            return
        self.recording, self.saved = True, {}
        try:
            with muted(self.engine.state):
                unet(self.inversion.latents[int(t)], t, encoder_hidden_states=self.embeds, return_dict=False)
        finally:
            self.recording = False
        self.active = active
        if "features" in active:
            self.record.feature_steps.append(step)
        if "attention" in active:
            self.record.attention_steps.append(step)

    def _after_unet(self) -> None:
        if not self.recording:
            self.active, self.saved = set(), {}

    def _swap(self, kind: str):
        def hook(module: Any, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            key = id(module)
            if self.recording:
                self.saved[key] = output
                return None
            if kind in self.active:
                return self.saved[key].expand_as(output).contiguous()
            return None

        return hook


__all__ = [
    "InjectionRecord",
    "Injector",
    "Inversion",
    "TailDDIMScheduler",
    "attention_layers",
    "feature_layers",
    "invert",
    "inversion_cache",
    "muted",
    "tail_scheduler",
]
