"""The engine's diffusers callback: the hierarchy's level schedule, progress and cancel, per step.

A `PipelineCallback` subclass (diffusers' own interface for `callback_on_step_end`), so the
pipeline's loop stays diffusers' and everything that happens between two steps is in one object.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import torch
from diffusers.callbacks import PipelineCallback
from diffusers.models.attention_processor import Attention

from .audio_state import AudioState
from .cancel import Cancelled
from .events import ProgressCallback, StepInfo
from .schedule import LevelBlend


class LevelScheduleCallback(PipelineCallback):
    """After each denoising step: move the adapters to the next step's level blend, report
    progress, and honour a cancel.

    The gated processors read `state.step` to pick the blend of the next UNet call; diffusers calls
    this at the end of step i, so step i + 1 runs with `schedule[i + 1]`. A set `cancel` event sets
    diffusers' own interrupt flag: the loop skips the remaining steps (at most one step later).
    """

    tensor_inputs: list[str] = []  # reads no latents: the schedule is all it needs

    def __init__(
        self,
        state: AudioState,
        schedule: list[LevelBlend],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ):
        super().__init__(cutoff_step_ratio=1.0)  # the base class wants a cutoff; this callback runs every step
        self.state = state
        self.schedule = schedule
        self.progress = progress
        self.cancel = cancel
        self.started = time.perf_counter()

    def callback_fn(self, pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict) -> dict:
        if self.state.static is not None:  # a compiled preview: the next blend is written on the device
            self.state.static.advance(step_index + 1)
        else:
            self.state.step = step_index + 1
        if self.progress is not None:
            elapsed = time.perf_counter() - self.started
            self.progress(StepInfo(step_index + 1, len(self.schedule), dict(self.schedule[step_index]), elapsed))
        if self.cancel is not None and self.cancel.is_set():
            pipeline._interrupt = True  # diffusers' own interrupt
        return callback_kwargs


class DecodeCancel:
    """A Cancel honoured inside the VAE decode, between two of its layers.

    The decode of a large image is one call that runs for a long time on a CPU (minutes at 2048²),
    so a check between denoising steps alone would leave a Cancel waiting for it. Inside
    `with DecodeCancel(vae.decoder, cancel):` a forward pre-hook on every convolution and attention
    layer of the decoder (the units that take the time) raises Cancelled once `cancel` is set.
    The hooks read nothing and change nothing: the decode computes exactly the same pixels.
    `slices` counts the layers started (tests, diagnostics).
    """

    LAYERS = (torch.nn.Conv2d, Attention)

    def __init__(self, decoder: torch.nn.Module, cancel: threading.Event | None):
        self.decoder = decoder
        self.cancel = cancel
        self.slices = 0
        self._handles: list[Any] = []

    def _check(self, module: torch.nn.Module, args: Any) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("generation cancelled during the decode")
        self.slices += 1

    def __enter__(self) -> DecodeCancel:
        if self.cancel is not None:
            layers = [m for m in self.decoder.modules() if isinstance(m, self.LAYERS)]
            self._handles = [m.register_forward_pre_hook(self._check) for m in layers]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


__all__ = ["DecodeCancel", "LevelScheduleCallback"]
