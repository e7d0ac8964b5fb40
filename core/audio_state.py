"""What the audio adapters need for the step being denoised, shared by all of them: the level
tokens, the per-step level schedule, the strength and group scales. The engine advances `step` once
per denoising step (training sets a per-sample blend instead); the adapters record their
||audio|| / ||text|| ratio here as device tensors, read once when the generation ends (no sync per
step). Its own module: the callbacks, the static (CUDA-graph) path and training hold it without the
processors (core/attention.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .params import LEVELS


@dataclass
class AudioState:
    """What the adapters need for the step being denoised; shared by all of them, set by the engine."""

    level_tokens: dict[str, torch.Tensor] = field(default_factory=dict)  # level -> (B_cond, N, D)
    schedule: list[dict[str, float]] = field(default_factory=list)  # per step: level -> weight
    strength: float = 0.0
    group_scales: dict[str, float] = field(default_factory=dict)
    step: int = 0
    generation: int = 0  # bumped on every begin(): invalidates the adapters' K/V caches
    _ratios: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    used: dict[int, dict[str, float]] = field(default_factory=dict)  # step -> blend that really ran
    # Training only: (B_cond, len(LEVELS)) level weights per sample, columns in LEVELS order. When
    # set, it replaces the per-step schedule, and the adapters keep everything in the autograd graph.
    sample_blend: torch.Tensor | None = None
    static: object = None  # core.static_audio.StaticAudio while a compiled preview runs (graph-safe mode)

    def begin(self, level_tokens, schedule, strength: float, group_scales: dict[str, float]) -> None:
        self.level_tokens = dict(level_tokens)
        self.schedule = list(schedule)
        self.strength = float(strength)
        self.group_scales = dict(group_scales)
        self.sample_blend = self.static = None
        self.step = 0
        self.generation += 1
        self._ratios = {}
        self.used = {}

    def begin_batch(
        self, level_tokens, sample_blend: torch.Tensor, strength: float, group_scales: dict[str, float]
    ) -> None:
        """Training: one forward over a batch whose samples sit at different timesteps.

        `level_tokens[level]` is (B, N_level, D) and may require grad; `sample_blend` is (B, levels).
        Keep the state until the backward pass is done: gradient checkpointing re-runs the forward."""
        if sample_blend.ndim != 2 or sample_blend.shape[1] != len(LEVELS):
            raise ValueError(f"sample_blend must be (batch, {len(LEVELS)}), got {tuple(sample_blend.shape)}")
        self.begin(level_tokens, [], strength, group_scales)
        self.sample_blend = sample_blend

    def end(self) -> None:
        """Drop the tokens (they live on the device) but keep the recorded ratios."""
        self.level_tokens = {}
        self.schedule = []
        self.strength = 0.0
        self.sample_blend = None

    def blend(self) -> dict[str, float]:
        if not self.level_tokens or self.step >= len(self.schedule):
            return {}
        return {k: w for k, w in self.schedule[self.step].items() if k in self.level_tokens}

    def record_ratio(self, layer_index: int, ratio: torch.Tensor, blend: dict[str, float]) -> None:
        self.used.setdefault(self.step, dict(blend))
        self._ratios[(self.step, layer_index)] = ratio.detach()

    def ratios(self, steps: int, layers: int) -> np.ndarray:
        """(steps, layers) float32; 0 where the audio branch did not run."""
        out = np.zeros((steps, layers), dtype=np.float32)
        if self._ratios:
            keys = list(self._ratios)
            values = torch.stack([self._ratios[k].float() for k in keys]).cpu().numpy()
            for (step, layer), value in zip(keys, values):
                if step < steps and layer < layers:
                    out[step, layer] = value
        return out


__all__ = ["AudioState"]
