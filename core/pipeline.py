"""The engine: GenerationParams -> GenerationResult(image, trace, timings, params).

It composes diffusers' StableDiffusionPipeline (no fork): the pipeline runs its own denoising
loop, our gated processors sit in the UNet's cross-attention, and `callback_on_step_end` advances
the hierarchy schedule, reports progress and honours cancellation.

Stages, each cached by content so the studio's sliders re-run only what they change:

1. audio      decode + validate the clip             key: file path, size, mtime
2. sources    mix | bands | Demucs stems             (stems: the separator caches by window content)
3. clap       CLAP audio embedding per source        key: waveform content hash
4. tokens     zero-shot phrases / trained projector  stages 2-4 together, key: clip hash, window,
                                                     sources, crossovers, stem map (stems), mode,
                                                     top-k, temperature, checkpoint files' identity
5. prompt     SD text encoder on prompt + negative   key: prompt text
6. denoise    the UNet loop with the audio adapters  (always runs)
7. decode     VAE                                    (always runs)

Changing the hierarchy weights, norm target, split, switch points, gates, strength or seed re-runs
only stages 6-7.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .attention import AudioAdapters, AudioState, block_group
from .audio import CLAP_RATE, AudioClip, AudioError, clap_input, load_audio, resample
from .cache import LRUCache
from .cancel import Cancelled
from .clap import ClapEncoder
from .errors import UserError
from .hierarchy import LevelTokens, build_levels, build_levels_per_source, token_norm
from .models import ModelBundle, load_models, resolve_spec
from .params import BLOCK_GROUPS, LEVELS, GenerationParams
from .projector import (
    ADAPTERS_FILE,
    AudioProjector,
    ProjectorError,
    ZeroShotProjector,
    checkpoint_identity,
    load_projector,
)
from .schedule import level_schedule
from .trace import GenerationResult, HeardLabel, Trace
from .vocabulary import Vocabulary, load_vocabulary


class EngineError(UserError, RuntimeError):
    """A generation failed for a reason the user can act on; the message says how."""


@dataclass(frozen=True)
class StepInfo:
    """Progress after one denoising step."""

    step: int  # steps done, 1-based
    total: int
    levels: dict[str, float]  # the level blend used at this step
    elapsed: float  # seconds since the denoising loop started


ProgressCallback = Callable[[StepInfo], None]
StatusCallback = Callable[[str], None]  # a short sentence about the stage in progress


@dataclass
class Listening:
    """What the engine heard in a clip, before any hierarchy knob is applied (cacheable)."""

    clip: AudioClip | None
    raw_tokens: dict[str, torch.Tensor]  # "mix" -> (1,77,D), or level -> (1,77,D) per source
    heard: dict[str, list[HeardLabel]] = field(default_factory=dict)
    sources: object | None = None  # core.sources.LevelSources in bands/stems modes
    skipped_levels: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def per_source(self) -> bool:
        return "mix" not in self.raw_tokens


SCHEDULER_CLASSES = {
    "dpmpp": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
}


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
        self.pipe = self.bundle.pipe
        self.device = self.bundle.device
        self.dtype = self.bundle.dtype
        self.clap = ClapEncoder(
            self.bundle.clap_model, self.bundle.clap_features, self.bundle.clap_tokenizer, self.device
        )
        self.vocabulary = vocabulary or load_vocabulary()
        self.zero_shot = ZeroShotProjector(self.clap, self.vocabulary, self.encode_text, self.count_tokens)
        self.state = AudioState()
        self.adapters = AudioAdapters(self.pipe.unet, self.state)
        self._base_scheduler_config = dict(self.pipe.scheduler.config)
        self.lock = threading.RLock()
        self.counters: Counter[str] = Counter()
        self.pipe.text_encoder.register_forward_pre_hook(lambda *_: self.counters.update(["text_encoder"]))
        self._clips = LRUCache(4)  # decoded clips can be long (up to an hour): keep few
        self._text_tokens = LRUCache(256)
        self._prompts = LRUCache(32)
        self._listenings = LRUCache(32)
        self._projectors = LRUCache(2)  # ~120 MB each on the device at the seed's size
        self._trained_adapters_from: tuple | None = None
        self._separator = None

    # -- models -------------------------------------------------------------------------------
    @property
    def cross_attention_dim(self) -> int:
        return int(self.pipe.unet.config.cross_attention_dim)

    @property
    def separator(self):
        """Demucs, on first use: the tiny spec with the tiny models, htdemucs otherwise. The
        process-wide separator, so every engine and caller shares one model and one cache."""
        if self._separator is None:
            from .separation import get_separator

            self._separator = get_separator("tiny" if self.spec.tiny else "htdemucs", device=self.device)
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
        with self.lock:
            return token_norm(self.encode_prompt(prompt, "", 1.0)[0], measure)

    # -- audio --------------------------------------------------------------------------------
    def load_clip(self, path: str | Path) -> AudioClip:
        path = Path(path)
        try:
            stat = path.stat()
        except OSError:
            raise AudioError(f"The audio file {path} does not exist or cannot be opened; check the path.") from None
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        clip = self._clips.get_or_none(key)
        if clip is None:
            clip = load_audio(path)
            self._clips.put(key, clip)
        return clip

    def listen(
        self, params: GenerationParams, cancel: threading.Event | None = None, on_status: StatusCallback | None = None
    ) -> Listening:
        """Stages 1-4: decode, separate, embed and turn into raw tokens. Cached by content.

        `on_status` hears what is happening before the first denoising step ("Separating stems
        3/7", "Listening with CLAP"), for progress displays. Takes the engine lock (re-entrant):
        the models and caches are shared by every session."""
        with self.lock:
            return self._listen(params, cancel, on_status or (lambda _: None))

    def _listen(self, params: GenerationParams, cancel, status: StatusCallback) -> Listening:
        if params.audio_path is None:
            return Listening(clip=None, raw_tokens={})
        timings: dict[str, float] = {}
        t = time.perf_counter()
        status("Reading the audio")
        clip = self.load_clip(params.audio_path)
        timings["audio"] = time.perf_counter() - t
        if params.audio_sha256 and params.audio_sha256 != clip.sha256:
            raise AudioError(
                f"{Path(params.audio_path).name} is not the clip this image was made from (its content "
                "changed): reproduce with the original file, or choose the clip again to make a new image."
            )
        key = (
            clip.sha256,
            params.window_start,
            params.sources,
            params.crossovers,
            params.stem_map if params.sources == "stems" else None,
            params.mode,
            params.top_k,
            params.temperature,
            checkpoint_identity(params.checkpoint) if params.mode == "trained" else None,
        )
        cached = self._listenings.get_or_none(key)
        if cached is not None:
            return Listening(clip, cached.raw_tokens, cached.heard, cached.sources, cached.skipped_levels, timings)

        # 2. sources
        sources = None
        skipped: list[str] = []
        t = time.perf_counter()
        if params.sources == "mix":
            waves = {"mix": clap_input(clip, params.window_start)}
        else:
            from .sources import split_sources

            stems = params.sources == "stems"
            status("Separating stems (Demucs)" if stems else "Splitting frequency bands")
            sources = split_sources(
                clip,
                params.sources,
                crossovers=params.crossovers,
                stem_map=params.stem_map,
                separator=self.separator if stems else None,
                start_s=params.window_start,
                progress=(lambda done, total: status(f"Separating stems {done}/{total}")) if stems else None,
                cancel=cancel,
            )
            skipped = list(sources.silent_levels)
            waves = {level: resample(wave, sources.sample_rate, CLAP_RATE) for level, wave in sources.levels.items()}
        timings["sources"] = time.perf_counter() - t

        # 3. CLAP
        t = time.perf_counter()
        status("Listening with CLAP")
        names = [n for n in ("mix", *LEVELS) if n in waves]
        embeddings = self.clap.embed_audio([waves[n] for n in names]) if names else torch.zeros(0)
        timings["clap"] = time.perf_counter() - t

        # 4. tokens
        t = time.perf_counter()
        status("Turning what was heard into tokens")
        raw: dict[str, torch.Tensor] = {}
        heard: dict[str, list[HeardLabel]] = {}
        for name, embedding in zip(names, embeddings):
            if params.mode == "zero-shot":
                heard[name] = self.zero_shot.hear(embedding, params.top_k, params.temperature)
                raw[name] = self.zero_shot.tokens(heard[name])
            else:
                projector = self._projector(params.checkpoint)
                with torch.inference_mode():
                    raw[name] = projector(embedding[None].to(self.device)).to(self.dtype)
        timings["tokens"] = time.perf_counter() - t
        listening = Listening(clip, raw, heard, sources, skipped, timings)
        self._listenings.put(key, listening)
        return listening

    def hear_parts(self, params: GenerationParams) -> dict[str, list[HeardLabel]]:
        """What CLAP hears in each named part (every stem or band, before they are summed into
        levels; "mix" in mix mode). For the compare view; cached like everything CLAP does."""
        with self.lock:
            return self._hear_parts(params)

    def _hear_parts(self, params: GenerationParams) -> dict[str, list[HeardLabel]]:
        listening = self.listen(params)
        if listening.clip is None:
            return {}
        if listening.sources is None:
            parts, rate = {"mix": clap_input(listening.clip, params.window_start)}, CLAP_RATE
        else:
            parts, rate = listening.sources.parts, listening.sources.sample_rate
        names = list(parts)
        embeddings = self.clap.embed_audio([resample(parts[n], rate, CLAP_RATE) for n in names])
        return {n: self.zero_shot.hear(e, params.top_k, params.temperature) for n, e in zip(names, embeddings)}

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
        the seed's initialisation (text K/V copied, gate 0.1), whatever ran before."""
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
    ) -> GenerationResult:
        """Run one generation. Raises ParamsError, AudioError, ProjectorError, EngineError, Cancelled."""
        params = params.replace(models=self.spec.name).validate()
        if not self.lock.acquire(blocking=False):
            if on_status:
                on_status("waiting for another generation to finish")
            self.lock.acquire()
        try:
            return self._generate(params, progress, cancel, on_status)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise EngineError(
                "The GPU ran out of memory: lower the image size or close other programs using the GPU."
            ) from None
        finally:
            self.adapters.remove()
            self.state.end()
            self.lock.release()

    def _generate(self, params: GenerationParams, progress, cancel, on_status) -> GenerationResult:
        started = time.perf_counter()
        listening = self.listen(params, cancel=cancel, on_status=on_status)
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
            params.steps, params.switch_points, params.switch_style, params.crossfade, available=levels.tokens
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
        generator = torch.Generator("cpu").manual_seed(params.seed)  # CPU: same noise on any device
        if on_status:
            on_status("Denoising")

        loop_start = time.perf_counter()

        def on_step_end(pipe, i, t, kwargs):
            self.state.step = i + 1
            if progress is not None:
                progress(StepInfo(i + 1, params.steps, dict(schedule[i]), time.perf_counter() - loop_start))
            if cancel is not None and cancel.is_set():
                pipe._interrupt = True  # diffusers' own interrupt: the loop skips the remaining steps
            return {}

        with torch.inference_mode():
            latents = self.pipe(
                prompt_embeds=prompt_embeds,
                negative_prompt_embeds=negative_embeds,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                height=params.height,
                width=params.width,
                generator=generator,
                output_type="latent",
                callback_on_step_end=on_step_end,
            ).images
            if cancel is not None and cancel.is_set():
                raise Cancelled("generation cancelled")
            timings["denoise"] = time.perf_counter() - loop_start

            t = time.perf_counter()
            vae = self.pipe.vae
            decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False, generator=generator)[0]
            image = self.pipe.image_processor.postprocess(decoded, output_type="pil", do_denormalize=[True])[0]
            timings["decode"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - started

        trace = self._trace(params, levels, listening, prompt_embeds, trained)
        return GenerationResult(
            image, params, trace, timings, device=self.device, dtype=str(self.dtype).removeprefix("torch.")
        )

    def _set_scheduler(self, name: str) -> None:
        import diffusers

        class_name, overrides = SCHEDULER_CLASSES[name]
        if type(self.pipe.scheduler).__name__ != class_name or any(
            self.pipe.scheduler.config.get(k) != v for k, v in overrides.items()
        ):
            self.pipe.scheduler = getattr(diffusers, class_name).from_config(self._base_scheduler_config, **overrides)

    def _trace(self, params, levels: LevelTokens, listening: Listening, prompt_embeds, trained: bool) -> Trace:
        layers = self.adapters.layers
        return Trace(
            steps=params.steps,
            layer_names=[n.removesuffix(".processor") for n in layers],
            layer_groups=[block_group(n) for n in layers],
            gates=self.adapters.gate_values(trained),
            step_levels=[dict(self.state.used.get(i, {})) for i in range(params.steps)],
            ratios=self.state.ratios(params.steps, len(layers)),
            token_norms=levels.norms,
            text_norm=token_norm(prompt_embeds, params.norm_measure),
            norm_measure=params.norm_measure,
            heard=listening.heard,
            level_token_counts=levels.counts,
            skipped_levels=list(listening.skipped_levels),
        )
