"""What the engine saw and did during one generation: the studio draws it, the tests assert on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class HeardLabel:
    """One sound event CLAP recognised: the label it heard, what SD is asked to draw, how sure."""

    label: str
    phrase: str
    category: str
    weight: float  # softmax weight among the top-k
    similarity: float  # cosine similarity between the clip and the label in CLAP space


@dataclass
class Trace:
    """Per-step and per-layer record of the audio conditioning.

    step_levels[i] maps level -> blend weight at denoising step i (0-based; weights sum to 1, or
    the dict is empty when no audio conditions that step). ratios[i, j] is
    ||audio branch output|| / ||text attention output|| at step i in layer j (after gate and scale).
    """

    steps: int
    layer_names: list[str] = field(default_factory=list)
    layer_groups: list[str] = field(default_factory=list)  # "down" | "mid" | "up" per layer
    gates: list[float] = field(default_factory=list)  # effective tanh(gate) per layer
    step_levels: list[dict[str, float]] = field(default_factory=list)
    ratios: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    token_norms: dict[str, dict[str, float]] = field(default_factory=dict)  # level -> before/after
    text_norm: float = 0.0  # the prompt's own text-token norm, same measure as the audio norm
    norm_measure: str = "token"
    heard: dict[str, list[HeardLabel]] = field(default_factory=dict)  # source name -> labels
    level_token_counts: dict[str, int] = field(default_factory=dict)
    skipped_levels: list[str] = field(default_factory=list)  # near-silent sources, not conditioned

    def dominant_levels(self) -> list[str | None]:
        """The level with the largest blend weight at each step (None where audio is off)."""
        return [max(d, key=d.get) if d else None for d in self.step_levels]

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "layer_names": list(self.layer_names),
            "layer_groups": list(self.layer_groups),
            "gates": [float(g) for g in self.gates],
            "step_levels": [dict(d) for d in self.step_levels],
            "ratios": np.asarray(self.ratios, dtype=float).round(6).tolist(),
            "token_norms": {k: dict(v) for k, v in self.token_norms.items()},
            "text_norm": float(self.text_norm),
            "norm_measure": self.norm_measure,
            "heard": {k: [vars(h) for h in v] for k, v in self.heard.items()},
            "level_token_counts": dict(self.level_token_counts),
            "skipped_levels": list(self.skipped_levels),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        """The trace `to_dict` wrote (a gallery kept on disk reads its renders' traces back)."""
        fields = dict(data)
        rows = fields.get("ratios", [])
        ratios = np.asarray(rows, dtype=np.float32)
        if ratios.size:
            fields["ratios"] = ratios.reshape(len(rows), -1)
        else:  # an edit that ran no step: (0, layers), which reshape(0, -1) cannot give
            fields["ratios"] = np.zeros((len(rows), len(fields.get("layer_names", []))), dtype=np.float32)
        fields["heard"] = {k: [HeardLabel(**h) for h in v] for k, v in dict(fields.get("heard", {})).items()}
        return cls(**fields)


@dataclass
class GenerationResult:
    """One finished generation. `params` is complete (audio hash filled in): it reproduces `image`."""

    image: Any  # PIL.Image.Image
    params: Any  # core.params.GenerationParams
    trace: Trace
    timings: dict[str, float]  # seconds per stage: audio, sources, clap, tokens, denoise, decode, total
    device: str = "cpu"
    dtype: str = "float32"
