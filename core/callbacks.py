"""The engine's diffusers callback: the hierarchy's level schedule, progress and cancel, per step.

A `PipelineCallback` subclass (diffusers' own interface for `callback_on_step_end`), so the
pipeline's loop stays diffusers' and everything that happens between two steps is in one object.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from diffusers.callbacks import PipelineCallback

from .attention import AudioState
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


__all__ = ["LevelScheduleCallback"]
