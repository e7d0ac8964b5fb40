"""Fast paths: ways to make the engine quicker, each declared once, each off where it could change an
exact render.

On a GPU the engine is launch-bound (docs/PERFORMANCE.md): a preview gets fast through fewer kernel
launches (a compiled UNet with CUDA graphs) and a cheaper decode (TAESD), not through a smaller
image. Every path that could change a render's pixels runs for previews only; a Render always
takes the exact path (the same eager UNet, contiguous weights and full VAE), so its pixels do not
depend on which toggles are on (tests/test_fastpaths.py compares them with `np.array_equal`).

    FAST_PATHS        the declarations (label, help, default, previews only or not), read by the
                      studio's sidebar and bench/gpu.py
    FastSettings      which preview-only paths a preview asks for (None: a render)
    PreviewPaths      the engine's side: CPU threads, memory format, the compiled UNet, the preview
                      decoder
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .events import Stage, StatusCallback, ignore
from .params import BLOCK_GROUPS

if TYPE_CHECKING:  # torch loads with the engine: the declarations stay light for the studio's sidebar
    import torch

COMPILE_BACKEND_ENV = "CLAP2DIFF_COMPILE_BACKEND"  # e.g. "aot_eager" where no C compiler is at hand


class CompileFailed(UserError, RuntimeError):
    """torch.compile could not build the UNet (e.g. no C compiler for inductor on a CPU): that
    preview fails with this message, and later ones run the uncompiled UNet."""


@dataclass(frozen=True)
class FastPath:
    name: str
    label: str
    help: str
    preview_only: bool  # it may change pixels: previews only, never a render
    default: bool  # on unless the user turns it off (the sidebar's initial value)
    toggle: bool = True  # the studio shows a switch for it
    cuda_only: bool = False  # off (and said so) elsewhere


FAST_PATHS: dict[str, FastPath] = {
    p.name: p
    for p in (
        FastPath(
            "fp16_sdpa",
            "fp16 + SDPA attention",
            "Half precision and PyTorch's fused scaled-dot-product attention: how the models load on a "
            "GPU (renders too; the PNG records the dtype). CPUs stay in float32.",
            preview_only=False,
            default=True,
            toggle=False,
            cuda_only=True,
        ),
        FastPath(
            "spare_core",
            "Leave a CPU core to the page (previews)",
            "Previews run torch on one CPU thread fewer than the machine gives it, so the page, its "
            "websocket and a browser on the same machine do not slow the denoising loop (on 2 cores "
            "beside a browser the tiny preview's loop took 170 ms instead of 225: docs/PERFORMANCE.md). "
            "Renders use every thread, as the CLI does, so their pixels match its on the same machine.",
            preview_only=True,
            default=True,
        ),
        FastPath(
            "channels_last",
            "channels_last (previews)",
            "UNet and VAE weights in channels-last memory order while previews run (faster convolutions "
            "on tensor cores); renders switch back to the standard order, so their pixels never change.",
            preview_only=True,
            default=False,
        ),
        FastPath(
            "compile",
            "Compile the UNet (previews)",
            "torch.compile of the UNet (CUDA graphs on a GPU) for previews: several times faster per "
            "step after a one-time warm-up of about a minute per image size; slider changes do not "
            "recompile. Renders use the uncompiled UNet.",
            preview_only=True,
            default=False,
        ),
        FastPath(
            "tiny_decoder",
            "Tiny preview decoder (TAESD)",
            "Decode previews with TAESD (diffusers' AutoencoderTiny, madebyollin/taesd) instead of the "
            "full VAE: much cheaper, slightly softer. Renders always use the full VAE.",
            preview_only=True,
            default=False,
        ),
    )
}


@dataclass(frozen=True)
class FastSettings:
    """The preview-only paths one preview asks for (the engine's `generate(..., fast=...)`)."""

    spare_core: bool = FAST_PATHS["spare_core"].default
    channels_last: bool = FAST_PATHS["channels_last"].default
    compile: bool = FAST_PATHS["compile"].default
    tiny_decoder: bool = FAST_PATHS["tiny_decoder"].default

    @classmethod
    def all_on(cls) -> FastSettings:
        return cls(**{f.name: True for f in fields(cls)})

    @classmethod
    def only(cls, *names: str) -> FastSettings:
        """A preview with exactly these paths (none: the benches' baseline; unlike None, still a
        preview). An unknown name is an error, not silently no path."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValueError(f"no preview fast path named {', '.join(unknown)} (have {', '.join(known)})")
        return cls(**{name: name in names for name in known})

    def enabled(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


def compile_options(device: str) -> dict[str, Any]:
    """torch.compile's arguments: CUDA graphs on a GPU ("reduce-overhead": the engine is
    launch-bound); `CLAP2DIFF_COMPILE_BACKEND` picks another backend (tests: "aot_eager")."""
    backend = os.environ.get(COMPILE_BACKEND_ENV)
    if backend:
        return {"backend": backend, "fullgraph": True}
    return {"mode": "reduce-overhead", "fullgraph": True} if device.startswith("cuda") else {"fullgraph": True}


class PreviewPaths:
    """The engine's fast paths: the UNet/VAE memory format, the compiled UNet (built on first use,
    kept), and the preview decoder (TAESD, when the bundle has it)."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.channels_last = False  # the models' current memory format
        self.compiled: torch.nn.Module | None = None
        self.compile_options = compile_options(engine.device)
        self.warm: set[tuple] = set()  # what the compiled UNet has already been traced for
        self.compiled_runs = 0  # denoising loops run through the compiled UNet (tests, bench)
        self.compile_error: str | None = None  # why compiling failed; then previews run uncompiled
        self.tracing = False  # the loop under way traces a new graph: its time is mostly the warm-up
        self._static = None  # core.static_audio.StaticAudio, allocated once

    # -- what previews use (the studio's sidebar shows it) -------------------------------------
    @property
    def preview_vae(self) -> Any:
        return getattr(self.engine.bundle, "preview_vae", None)

    def decoder_label(self, settings: FastSettings | None) -> str:
        """Which decoder a preview with `settings` uses, in words; why not TAESD when it is absent."""
        if settings is None or not settings.tiny_decoder:
            return "full VAE"
        if self.preview_vae is not None:
            return "TAESD (tiny decoder)"
        note = getattr(self.engine.bundle, "preview_vae_note", "") or "TAESD not in the cache"
        return f"full VAE ({note})"

    def decoder(self, settings: FastSettings | None) -> Any:
        """The VAE that decodes this run: TAESD only for a preview that asks and when it is loaded."""
        if settings is not None and settings.tiny_decoder and self.preview_vae is not None:
            return self.preview_vae
        return self.engine.pipe.vae

    # -- CPU threads -------------------------------------------------------------------------------
    @contextmanager
    def threads_for(self, settings: FastSettings | None) -> Iterator[int]:
        """Torch's intra-op threads for this run (yields the count): one fewer for a preview that
        asks, restored when the run ends, in the thread that runs it. A render keeps them all: a
        different count can change float sums (a tiny 256² image differed between 1 and 2 threads)."""
        import torch

        full = torch.get_num_threads()
        spare = bool(settings is not None and settings.spare_core and full > 1)
        if spare:
            torch.set_num_threads(full - 1)
        try:
            yield full - 1 if spare else full
        finally:
            if spare:
                torch.set_num_threads(full)

    # -- memory format ---------------------------------------------------------------------------
    def prepare(self, settings: FastSettings | None) -> None:
        """Put the weights in this run's memory format: channels_last only for a preview that asks,
        the standard order for everything else (renders, edits). Changed only when it differs, so a
        stream of previews pays for the conversion once."""
        want = bool(settings is not None and settings.channels_last)
        if want == self.channels_last:
            return
        import torch

        fmt = torch.channels_last if want else torch.contiguous_format
        pipe = self.engine.pipe
        for module in (pipe.unet, pipe.vae, self.preview_vae):
            if module is not None:
                module.to(memory_format=fmt)
        self.channels_last = want

    # -- the compiled UNet -------------------------------------------------------------------------
    def compiled_unet(self) -> torch.nn.Module:
        import torch

        if self.compiled is None:
            self.compiled = torch.compile(self.engine.pipe.unet, **self.compile_options)
        return self.compiled

    @contextmanager
    def unet_for(
        self, settings: FastSettings | None, params: Any, status: StatusCallback = ignore
    ) -> Iterator[torch.nn.Module]:
        """The UNet this run's loop calls: the compiled one for a preview that asks (the adapters in
        static mode, on every block group so a gate slider does not change the graph), else the
        pipeline's own. Says "one-time warm-up" before a loop that will trace a new graph."""
        pipe = self.engine.pipe
        self.tracing = False
        if settings is None or not settings.compile or self.compile_error:
            yield pipe.unet
            return
        from torch._dynamo.exc import TorchDynamoException

        from .static_audio import StaticAudio

        engine, state = self.engine, self.engine.state
        if state.level_tokens:
            engine.adapters.install(BLOCK_GROUPS, trained=params.mode == "trained")
        layers = len(engine.adapters.layers)
        if self._static is None or not self._static.fits(layers, engine.device, engine.dtype):
            self._static = StaticAudio(layers, engine.device, engine.dtype)
        self._static.begin(state)
        key = self.warm_key(params)
        self.tracing = key not in self.warm
        if self.tracing:
            status(Stage("compile", "Compiling the UNet for fast previews (one-time warm-up for this size)"))
        original = pipe.unet
        try:
            pipe.unet = compiled = self.compiled_unet()
            yield compiled
            self.warm.add(key)
            self.compiled_runs += 1
        except TorchDynamoException as exc:
            self.compile_error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"
            raise CompileFailed(
                f"Compiling the UNet failed ({self.compile_error}). Previews run the uncompiled UNet from now on."
            ) from None
        finally:
            pipe.unet = original

    def warm_key(self, params: Any) -> tuple:
        """What makes the compiled UNet trace again: image size, guidance on/off, the audio levels
        and their token counts, the memory format. Slider values are not in it."""
        tokens = tuple((k, tuple(v.shape)) for k, v in self.engine.state.level_tokens.items())
        return (params.width, params.height, params.guidance > 1.0, tokens, params.mode, self.channels_last)


__all__ = ["FAST_PATHS", "CompileFailed", "FastPath", "FastSettings", "PreviewPaths", "compile_options"]
