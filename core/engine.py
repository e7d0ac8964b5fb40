"""The engine: GenerationParams -> GenerationResult(image, trace, timings, params).

It composes diffusers' StableDiffusionPipeline (no fork): the pipeline runs its own denoising
loop, our gated processors sit in the UNet's cross-attention, and a `LevelScheduleCallback`
(core/callbacks.py) advances the hierarchy schedule after every step, reports progress and honours
cancellation. Callers hear typed events (core/events.py): `Stage`, `Waiting`, `StepInfo`.

Stages, each cached by content so the studio's sliders re-run only what they change:

1-4. audio, sources, CLAP, tokens   core/listening.py (`listening_key` names what they depend on)
5.   prompt   SD text encoder on prompt + negative   key: prompt text
6.   denoise  the UNet loop with the audio adapters  (always runs)
7.   decode   VAE                                    (always runs)

Changing the hierarchy weights, norm target, split, switch points, gates, strength or seed re-runs
only stages 6-7.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .attention import AudioAdapters, block_group
from .audio import AudioClip
from .audio_state import AudioState
from .cache import LRUCache
from .callbacks import DecodeCancel, LevelScheduleCallback
from .cancel import Cancelled
from .clap import ClapEncoder
from .errors import UserError
from .events import ProgressCallback, Stage, StatusCallback, Waiting, ignore
from .fastpaths import FastSettings, PreviewPaths
from .hierarchy import LevelTokens, build_levels, build_levels_per_source, token_norm
from .listening import Listener, Listening
from .models import ModelBundle, load_models, resolve_spec
from .params import BLOCK_GROUPS, GenerationParams
from .pipeline_setup import pin_execution_device, use_scheduler
from .projector import (
    ADAPTERS_FILE,
    AudioProjector,
    ProjectorError,
    ZeroShotProjector,
    checkpoint_identity,
    load_projector,
    verified_checkpoint,
)
from .schedule import LevelBlend, level_schedule
from .separation import DEFAULT_SPEC as DEFAULT_SEPARATOR
from .separation import StemSeparator, get_separator
from .trace import GenerationResult, HeardLabel, Trace
from .vocabulary import Vocabulary, load_vocabulary


@dataclass
class Conditioning:
    """What stages 1-5 made for one run: the adapters are installed and their state begun."""

    params: GenerationParams  # with the clip's (and a trained checkpoint's) hash filled in
    listening: Listening
    levels: LevelTokens
    prompt_embeds: torch.Tensor
    negative_embeds: torch.Tensor | None
    schedule: list[LevelBlend]
    timings: dict[str, float]
    started: float  # perf_counter() when the run began


class EngineError(UserError, RuntimeError):
    """A generation failed for a reason the user can act on; the message says how."""


class Engine:
    """Loads the models once; generates one image at a time (a lock serialises callers)."""

    def __init__(
        self,
        models: str = "sd15",
        device: str | None = None,
        dtype: torch.dtype | None = None,
        vocabulary: Vocabulary | None = None,
        bundle: ModelBundle | None = None,
    ):
        self.bundle = bundle or load_models(resolve_spec(models), device, dtype)
        self.spec = self.bundle.spec
        self.pipe = pin_execution_device(self.bundle.pipe)
        self.device = self.bundle.device
        self.dtype = self.bundle.dtype
        self.clap = ClapEncoder(
            self.bundle.clap_model, self.bundle.clap_features, self.bundle.clap_tokenizer, self.device
        )
        self.vocabulary = vocabulary or load_vocabulary()
        self.zero_shot = ZeroShotProjector(self.clap, self.vocabulary, self.encode_text, self.count_tokens)
        self.state = AudioState()
        self.adapters = AudioAdapters(self.pipe.unet, self.state)
        self.fast = PreviewPaths(self)  # previews' fast paths (core/fastpaths.py); renders never use them
        self._base_scheduler_config = dict(self.pipe.scheduler.config)
        self.lock = threading.RLock()
        self.counters: Counter[str] = Counter()
        self.pipe.text_encoder.register_forward_pre_hook(lambda *_: self.counters.update(["text_encoder"]))
        self._text_tokens = LRUCache(256)
        self._prompts = LRUCache(32)
        self._projectors = LRUCache(2)  # ~120 MB each on the device at the original method's size
        self._trained_adapters_from: tuple | None = None
        self._separator: StemSeparator | None = None
        self.listener = Listener(
            self.clap, self.zero_shot, self._projector, lambda: self.separator, self.device, self.dtype
        )

    # -- models -------------------------------------------------------------------------------
    @property
    def cross_attention_dim(self) -> int:
        return int(self.pipe.unet.config.cross_attention_dim)

    @property
    def separator(self) -> StemSeparator:
        """Demucs, on first use: the tiny spec with the tiny models, htdemucs (DEFAULT_SEPARATOR) otherwise. The
        process-wide separator, so every engine and caller shares one model and one cache."""
        if self._separator is None:
            self._separator = get_separator("tiny" if self.spec.tiny else DEFAULT_SEPARATOR, device=self.device)
        return self._separator

    # -- text ---------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        tok = self.pipe.tokenizer
        return len(tok(text, add_special_tokens=False, truncation=True, max_length=tok.model_max_length).input_ids)

    def encode_text(self, text: str) -> torch.Tensor:
        """(1, 77, D) SD text tokens of `text`, cached: the zero-shot phrases go through here."""
        cached = self._text_tokens.get_or_none(text)
        if cached is None:
            with torch.inference_mode():
                cached = self.pipe.encode_prompt(text, self.device, 1, False)[0]
            self._text_tokens.put(text, cached)
        return cached

    def encode_prompt(self, prompt: str, negative: str, guidance: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The prompt embeddings exactly as StableDiffusionPipeline computes them, cached."""
        cfg = guidance > 1.0
        key = (prompt, negative, cfg)
        cached = self._prompts.get_or_none(key)
        if cached is None:
            with torch.inference_mode():
                cached = self.pipe.encode_prompt(prompt, self.device, 1, cfg, negative or None)
            self._prompts.put(key, cached)
        return cached

    def prompt_norm(self, prompt: str, measure: str = "token") -> float:
        """The prompt's own text-token norm: the reference the norm-target slider is shown against."""
        with self.hold():
            return token_norm(self.encode_prompt(prompt, "", 1.0)[0], measure)

    # -- locking ------------------------------------------------------------------------------
    @contextmanager
    def hold(self, on_status: StatusCallback | None = None) -> Iterator[Engine]:
        """The engine lock (re-entrant), telling `on_status` `Waiting()` first when another caller
        holds it: the models and caches are shared by every session."""
        if not self.lock.acquire(blocking=False):
            (on_status or ignore)(Waiting())
            self.lock.acquire()
        try:
            yield self
        finally:
            self.lock.release()

    # -- audio (stages 1-4: core/listening.py) ---------------------------------------------------
    def load_clip(self, path: str | Path) -> AudioClip:
        return self.listener.load_clip(path)

    def listen(
        self, params: GenerationParams, cancel: threading.Event | None = None, on_status: StatusCallback | None = None
    ) -> Listening:
        """Stages 1-4: decode, separate, embed and turn into raw tokens. Cached by content.

        `on_status` hears each stage as it begins (`Stage` events: reading, separating n/N, CLAP,
        tokens) and `Waiting` while another caller holds the engine."""
        with self.hold(on_status):
            return self.listener.listen(params, cancel, on_status or ignore)

    def hear_parts(self, params: GenerationParams) -> dict[str, list[HeardLabel]]:
        """What CLAP hears in each named part (every stem or band, before they are summed into
        levels; "mix" in mix mode). For the compare view; cached like everything CLAP does."""
        with self.hold():
            return self.listener.hear_parts(params, self.listen(params))

    def _projector(self, checkpoint: str | None) -> AudioProjector:
        if not checkpoint:
            raise ProjectorError("trained mode needs a projector checkpoint folder")
        key = checkpoint_identity(checkpoint)  # a checkpoint re-saved in place is a new one
        projector = self._projectors.get_or_none(key)
        if projector is None:
            projector = load_projector(checkpoint, input_dim=self.clap.dim, output_dim=self.cross_attention_dim)
            projector = projector.to(self.device)
            self._projectors.put(key, projector)
        return projector

    def _load_trained_adapters(self, checkpoint: str) -> None:
        """Adapter K/V + gates from `<checkpoint>/adapters.safetensors`; without it they start as
        the original method's initialisation (text K/V copied, gate 0.1), whatever ran before."""
        key = checkpoint_identity(checkpoint)
        if self._trained_adapters_from == key:
            return
        self.adapters.reset_trained()
        path = Path(checkpoint) / ADAPTERS_FILE
        if path.is_file():
            from safetensors.torch import load_file

            try:
                self.adapters.load_trained_state(load_file(str(path)))
            except Exception as exc:  # noqa: BLE001 - any unreadable/mismatched file is the same to the user
                raise ProjectorError(f"{path} cannot be used: {exc}") from None
        self._trained_adapters_from = key

    def level_tokens(self, listening: Listening, params: GenerationParams) -> LevelTokens:
        """Apply the hierarchy knobs (cheap; never cached): norm target, split, weights."""
        if not listening.raw_tokens:
            return LevelTokens(tokens={})
        if listening.per_source:
            return build_levels_per_source(listening.raw_tokens, params)
        return build_levels(listening.raw_tokens["mix"], params)

    # -- generation ---------------------------------------------------------------------------
    def generate(
        self,
        params: GenerationParams,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_status: StatusCallback | None = None,
        fast: FastSettings | None = None,
    ) -> GenerationResult:
        """Run one generation. Raises ParamsError, AudioError, ProjectorError, EngineError, Cancelled.

        `progress` hears a `StepInfo` after every denoising step; `on_status` each stage as it
        begins and `Waiting` while another caller holds the engine. `fast`: a preview's fast paths
        (core/fastpaths.py); None (a render) runs the exact path."""
        params = params.replace(models=self.spec.name).validate()
        with self.running(on_status, fast):
            return self._generate(params, progress, cancel, on_status or ignore, fast)

    @contextmanager
    def running(self, on_status: StatusCallback | None = None, fast: FastSettings | None = None) -> Iterator[Engine]:
        """Hold the engine for one denoising run (a generation or an edit): a GPU out of memory
        becomes an EngineError, and the adapters and their state are always taken down after."""
        with self.hold(on_status), self.fast.threads_for(fast):
            try:
                self.fast.prepare(fast)  # the weights' memory format: standard unless a preview asks
                yield self
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                raise EngineError(
                    "The GPU ran out of memory: lower the image size or close other programs using the GPU."
                ) from None
            finally:
                self.adapters.remove()
                self.state.end()

    def condition(
        self, params: GenerationParams, steps: int, cancel: threading.Event | None, status: StatusCallback
    ) -> Conditioning:
        """Stages 1-5 and the adapters' set-up for a loop of `steps` UNet steps: what a generation and
        an edit share before their denoising loops."""
        started = time.perf_counter()
        params = verified_checkpoint(params)  # trained: refuse weights other than the image's
        listening = self.listen(params, cancel=cancel, on_status=status)
        if cancel is not None and cancel.is_set():
            raise Cancelled("generation cancelled")
        if listening.clip is not None:
            params = params.replace(audio_sha256=listening.clip.sha256)
        timings = {k: listening.timings.get(k, 0.0) for k in ("audio", "sources", "clap", "tokens")}

        t = time.perf_counter()
        levels = self.level_tokens(listening, params)
        prompt_embeds, negative_embeds = self.encode_prompt(params.prompt, params.negative_prompt, params.guidance)
        timings["prompt"] = time.perf_counter() - t

        schedule = level_schedule(
            steps, params.switch_points, params.switch_style, params.crossfade, available=levels.tokens
        )
        trained = params.mode == "trained"
        groups = [g for g in BLOCK_GROUPS if params.gate_scale(g) > 0]
        if trained and params.checkpoint:
            self._load_trained_adapters(params.checkpoint)
        self.adapters.install(groups if levels.tokens else [], trained=trained)
        self.state.begin(
            {k: v.to(self.device, self.dtype) for k, v in levels.tokens.items()},
            schedule,
            params.audio_strength,
            {g: params.gate_scale(g) for g in BLOCK_GROUPS},
        )
        self._set_scheduler(params.scheduler)
        return Conditioning(params, listening, levels, prompt_embeds, negative_embeds, schedule, timings, started)

    def decode(
        self,
        latents: torch.Tensor,
        generator: torch.Generator | None = None,
        cancel: threading.Event | None = None,
        vae=None,
    ):
        """Latents to a PIL image exactly as the pipelines' own decode does (stage 7); a set
        `cancel` stops it between two decoder layers (core/callbacks.py DecodeCancel); `vae`: a
        preview's decoder (TAESD), the pipeline's VAE when None."""
        vae = self.pipe.vae if vae is None else vae
        with DecodeCancel(vae.decoder, cancel):
            decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False, generator=generator)[0]
        return self.pipe.image_processor.postprocess(decoded, output_type="pil", do_denormalize=[True])[0]

    def _generate(
        self,
        params: GenerationParams,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        status: StatusCallback,
        fast: FastSettings | None = None,
    ) -> GenerationResult:
        cond = self.condition(params, params.steps, cancel, status)
        params, timings = cond.params, cond.timings
        generator = torch.Generator("cpu").manual_seed(params.seed)  # CPU: same noise on any device
        with torch.inference_mode(), self.fast.unet_for(fast, params, status):
            if not self.fast.tracing:  # while it traces, the compile's own message stays
                status(Stage("denoise", "Denoising"))
            callback = LevelScheduleCallback(self.state, cond.schedule, progress, cancel)
            latents = self.pipe(
                prompt_embeds=cond.prompt_embeds,
                negative_prompt_embeds=cond.negative_embeds,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                height=params.height,
                width=params.width,
                generator=generator,
                output_type="latent",
                callback_on_step_end=callback,
            ).images
            if cancel is not None and cancel.is_set():
                raise Cancelled("generation cancelled")
            timings["denoise"] = time.perf_counter() - callback.started
            if self.fast.tracing:  # that time is mostly the one-time compile: said so, not taken as the loop's
                timings["compile"] = timings["denoise"]

            t = time.perf_counter()
            image = self.decode(latents, generator, cancel, self.fast.decoder(fast))
            timings["decode"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - cond.started

        trace = self.trace(cond, params.steps)
        return GenerationResult(
            image, params, trace, timings, device=self.device, dtype=str(self.dtype).removeprefix("torch.")
        )

    def _set_scheduler(self, name: str) -> None:
        use_scheduler(self.pipe, name, self._base_scheduler_config)

    def trace(self, cond: Conditioning, steps: int) -> Trace:
        """What the adapters did over a loop of `steps` UNet steps (call before `running` ends)."""
        params, levels, listening = cond.params, cond.levels, cond.listening
        layers = self.adapters.layers
        trained = params.mode == "trained"
        return Trace(
            steps=steps,
            layer_names=[n.removesuffix(".processor") for n in layers],
            layer_groups=[block_group(n) for n in layers],
            gates=self.adapters.gate_values(trained),
            step_levels=[dict(self.state.used.get(i, {})) for i in range(steps)],
            ratios=(self.state.static or self.state).ratios(steps, len(layers)),
            token_norms=levels.norms,
            text_norm=token_norm(cond.prompt_embeds, params.norm_measure),
            norm_measure=params.norm_measure,
            heard=listening.heard,
            level_token_counts=levels.counts,
            skipped_levels=list(listening.skipped_levels),
        )
