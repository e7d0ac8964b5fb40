"""Every knob of a training run, in one frozen dataclass.

`TrainConfig` is what the CLI flags, the studio's Train page and a run's `train_config.json` share.
Defaults name their source: seed 001's README gives the steps per stage (3000 / 2000 / 1000) and
the temperature annealing 2.0 -> 0.5; the hierarchy and schedule knobs are not redeclared here,
they default to `GenerationParams`' values, so training conditions every timestep exactly as
inference will.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..params import GenerationParams, ParamsError

STAGES = (1, 2, 3)
STAGE_NAMES = {1: "alignment", 2: "hierarchy + adapters", 3: "fine-tuning"}
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
LR_SCHEDULES = ("constant_with_warmup", "cosine", "linear")

_GP = GenerationParams()  # the inference defaults the hierarchy knobs start from


class TrainConfigError(UserError, ValueError):
    """A training setting is out of range or malformed; `field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class TrainError(UserError, RuntimeError):
    """A run cannot start or continue (an existing run in the way, nothing to resume, a bad --init)."""


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, and how. Frozen; round-trips exactly through JSON."""

    # -- what ---------------------------------------------------------------------------------
    data: str = ""  # dataset folder with metadata.jsonl
    out: str = ""  # run folder: checkpoints/, final/, metrics.jsonl, status.json
    stage: int = 1  # 1 alignment, 2 hierarchy + adapters, 3 fine-tuning
    models: str = "sd15"  # "sd15" | "tiny" | hub id | local folder (core.models)
    init: str | None = None  # a previous stage's run (its final/) or checkpoint folder
    cache: str | None = None  # feature cache; default DATA/.cache/features (shared by every run)
    # -- schedule -----------------------------------------------------------------------------
    stage_steps: tuple[int, int, int] = (3000, 2000, 1000)  # seed 001: train_stage1/2/3
    learning_rates: tuple[float, float, float] = (1e-4, 1e-4, 1e-5)  # stage 3 fine-tunes, lower
    lr_schedule: str = "constant_with_warmup"
    warmup_steps: int = 100
    batch_size: int = 4  # per process; the global batch is batch_size x processes x grad_accum
    grad_accum: int = 1
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    seed: int = 0
    # -- precision and memory -----------------------------------------------------------------
    mixed_precision: str = "auto"  # auto: fp16 on CUDA, none on CPU
    gradient_checkpointing: bool = True  # stages 2 and 3 (stage 1 never runs the UNet)
    resolution: int = 512  # training images are centre-cropped to this square (SD 1.5: 512)
    # -- method -------------------------------------------------------------------------------
    caption_dropout: float = 0.5  # stages 2-3: share of samples conditioned on "" (sound alone)
    align_weight: float = 0.1  # stage 3: weight of stage 1's alignment loss beside the diffusion loss
    temperature: tuple[float, float] = (2.0, 0.5)  # seed 001: soft -> sharp level assignment (stage 3)
    anneal_crossfade: float = 0.1  # level cross-fade width per unit of temperature (stage 3)
    projector: tuple[tuple[str, int], ...] = ()  # ProjectorConfig overrides, e.g. (("layers", 2),)
    # the hierarchy and schedule the engine applies at inference (GenerationParams' defaults)
    norm_target: float = _GP.norm_target
    norm_measure: str = _GP.norm_measure
    split: tuple[int, int, int] = _GP.split
    level_weights: tuple[float, float, float] = _GP.level_weights
    switch_points: tuple[float, float] = _GP.switch_points
    switch_style: str = _GP.switch_style
    crossfade: float = _GP.crossfade
    gate_scales: tuple[float, float, float] = _GP.gate_scales
    # -- bookkeeping --------------------------------------------------------------------------
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 3  # older step checkpoints are deleted (final/ always stays)
    val_every: int = 500  # validation loss + images; 0 = only at the start and the end
    val_rows: int = 2  # the first N usable rows are the fixed validation clips
    val_steps: int = 25  # denoising steps of a validation image

    # -- derived ------------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return self.stage_steps[self.stage - 1]

    @property
    def lr(self) -> float:
        return self.learning_rates[self.stage - 1]

    @property
    def uses_unet(self) -> bool:
        return self.stage in (2, 3)

    def generation_params(self) -> GenerationParams:
        """The inference parameters this run's hierarchy and schedule correspond to."""
        try:
            return GenerationParams(
                norm_target=self.norm_target,
                norm_measure=self.norm_measure,
                split=self.split,
                level_weights=self.level_weights,
                switch_points=self.switch_points,
                switch_style=self.switch_style,
                crossfade=self.crossfade,
                gate_scales=self.gate_scales,
            ).validate()
        except ParamsError as exc:
            raise TrainConfigError(exc.field, str(exc).split(": ", 1)[-1]) from None

    def projector_config(self, input_dim: int, output_dim: int):
        """The ProjectorConfig of a fresh projector: the seed's sizes, these overrides, the models' widths."""
        from ..projector import ProjectorConfig  # torch: imported only when a run builds one

        values = dict(self.projector)
        values.update(input_dim=input_dim, output_dim=output_dim)
        return ProjectorConfig.from_dict(values)

    def temperature_at(self, step: int) -> float:
        """Stage 3's soft level assignment: linear from temperature[0] to temperature[1] over the stage."""
        start, end = self.temperature
        progress = min(1.0, step / max(1, self.steps - 1))
        return start + (end - start) * progress

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Raise TrainConfigError naming the first field that makes no sense; return self."""
        if self.stage not in STAGES:
            raise TrainConfigError("stage", f"must be 1, 2 or 3 (got {self.stage!r})")
        for name in ("data", "out", "models"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise TrainConfigError(name, "must not be empty")
        _ints(self, "stage_steps", 3, 1, 10_000_000)
        _floats(self, "learning_rates", 3, 0.0, 1.0, open_low=True)
        _choice(self, "lr_schedule", LR_SCHEDULES)
        _int(self, "warmup_steps", 0, 10_000_000)
        _int(self, "batch_size", 1, 4096)
        _int(self, "grad_accum", 1, 4096)
        _float(self, "weight_decay", 0.0, 10.0)
        _float(self, "max_grad_norm", 0.0, 1e6)
        _int(self, "seed", 0, 2**32 - 1)
        _choice(self, "mixed_precision", MIXED_PRECISION)
        if not isinstance(self.gradient_checkpointing, bool):
            raise TrainConfigError("gradient_checkpointing", "must be true or false")
        _int(self, "resolution", 64, 2048)
        if self.resolution % 8:
            raise TrainConfigError("resolution", f"must be a multiple of 8 (got {self.resolution})")
        _float(self, "caption_dropout", 0.0, 1.0)
        _float(self, "align_weight", 0.0, 100.0)
        _floats(self, "temperature", 2, 0.01, 100.0)
        _float(self, "anneal_crossfade", 0.0, 0.5)
        known = {"hidden_dim", "expand_dim", "tokens", "layers", "heads"}  # ProjectorConfig's sizes
        for key, _ in self.projector:
            if key not in known:
                raise TrainConfigError(
                    "projector", f"unknown projector setting {key!r} (known: {', '.join(sorted(known))})"
                )
        self.generation_params()
        if self.stage in (2, 3) and not any(self.gate_scales):
            raise TrainConfigError(
                "gate_scales", "stages 2 and 3 train adapters: give at least one block group a scale above 0"
            )
        for name in ("log_every", "checkpoint_every"):
            _int(self, name, 1, 10_000_000)
        _int(self, "keep_checkpoints", 1, 1000)
        _int(self, "val_every", 0, 10_000_000)
        _int(self, "val_rows", 0, 64)
        _int(self, "val_steps", 1, 500)
        return self

    # -- JSON ---------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "projector":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise TrainConfigError("config", f"expected a JSON object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise TrainConfigError(unknown[0], "unknown training setting")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name == "projector":
                if not isinstance(value, dict):
                    raise TrainConfigError(name, "expected an object {setting: number}")
                value = tuple((str(k), v) for k, v in value.items())
            elif isinstance(fields[name].default, tuple):
                if not isinstance(value, (list, tuple)):
                    raise TrainConfigError(name, "expected a list")
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise TrainConfigError("config", f"not valid JSON ({exc})") from None


# -- validation helpers -----------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(c: TrainConfig, name: str, lo: int, hi: int) -> None:
    v = getattr(c, name)
    if not _is_int(v) or not lo <= v <= hi:
        raise TrainConfigError(name, f"must be a whole number between {lo} and {hi} (got {v!r})")


def _float(c: TrainConfig, name: str, lo: float, hi: float) -> None:
    v = getattr(c, name)
    if not _is_num(v) or not lo <= v <= hi:
        raise TrainConfigError(name, f"must be a number between {lo:g} and {hi:g} (got {v!r})")


def _seq(c: TrainConfig, name: str, n: int) -> tuple:
    v = getattr(c, name)
    if not isinstance(v, tuple) or len(v) != n:
        raise TrainConfigError(name, f"expected {n} values (got {v!r})")
    return v


def _ints(c: TrainConfig, name: str, n: int, lo: int, hi: int) -> None:
    for i, v in enumerate(_seq(c, name, n)):
        if not _is_int(v) or not lo <= v <= hi:
            raise TrainConfigError(name, f"value {i + 1} must be a whole number between {lo} and {hi} (got {v!r})")


def _floats(c: TrainConfig, name: str, n: int, lo: float, hi: float, open_low: bool = False) -> None:
    for i, v in enumerate(_seq(c, name, n)):
        if not _is_num(v) or not (lo < v if open_low else lo <= v) or v > hi:
            bound = "above" if open_low else "from"
            raise TrainConfigError(name, f"value {i + 1} must be a number {bound} {lo:g} up to {hi:g} (got {v!r})")


def _choice(c: TrainConfig, name: str, choices: tuple[str, ...]) -> None:
    if getattr(c, name) not in choices:
        raise TrainConfigError(name, f"must be one of {', '.join(choices)} (got {getattr(c, name)!r})")


__all__ = ["LR_SCHEDULES", "MIXED_PRECISION", "STAGES", "STAGE_NAMES", "TrainConfig", "TrainConfigError", "TrainError"]
