"""Every knob of a training run, in one frozen dataclass, each declared once.

`TrainConfig` is what the CLI flags, the studio's Train page and a run's `train_config.json`
share. Each field carries its `Knob` (label, help, validation range, slider span, CLI flag: see
core/knobs.py), so `validate()`, the CLI's flags and the page's widgets come from one declaration.
Defaults name their source: seed 001's README gives the steps per stage (3000 / 2000 / 1000) and
the temperature annealing 2.0 -> 0.5. The hierarchy and schedule fields are GenerationParams'
own fields (default and Knob alike), so training conditions every timestep as inference will.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import UserError
from ..knobs import Choice, Knob, ParamsError, check_field, from_plain, knob, knob_of, to_plain
from ..params import MAX_PATH, MAX_SEED, GenerationParams

STAGES = (1, 2, 3)
STAGE_NAMES = {1: "alignment", 2: "hierarchy + adapters", 3: "fine-tuning"}
MIXED_PRECISION_CHOICES = (
    Choice("auto", "auto", "fp16 on a GPU, full precision on the CPU"),
    Choice("no", "fp32"),
    Choice("fp16", "fp16", "half precision with loss scaling (any CUDA GPU)"),
    Choice("bf16", "bf16", "bfloat16 (recent GPUs)"),
)
LR_SCHEDULE_CHOICES = (
    Choice("constant_with_warmup", "constant", "linear warm-up, then constant"),
    Choice("cosine", "cosine", "warm-up, then a cosine decay to 0"),
    Choice("linear", "linear", "warm-up, then a linear decay to 0"),
)
MIXED_PRECISION = tuple(c.value for c in MIXED_PRECISION_CHOICES)
LR_SCHEDULES = tuple(c.value for c in LR_SCHEDULE_CHOICES)
_BIG = 10_000_000


class TrainError(UserError, RuntimeError):
    """A run cannot start or continue (an existing run in the way, nothing to resume, a bad --init)."""


def _generation_field(name: str) -> Any:
    """GenerationParams' field itself, default and Knob: declared once, trained as it is used."""
    source = GenerationParams.__dataclass_fields__[name]
    return dataclasses.field(default=source.default, metadata=source.metadata)


def _text(default: str | None, label: str, flag: str, metavar: str, help: str) -> Any:
    return knob(default, label=label, flag=flag, metavar=metavar, max_len=MAX_PATH, optional=default is None, help=help)


def _count(default: int, label: str, flag: str | None, lo: int, slider: tuple[int, int] | None, help: str) -> Any:
    return knob(default, label=label, flag=flag, metavar="N", range=(lo, _BIG), slider=slider, step=1, help=help)


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, and how. Frozen; round-trips exactly through JSON."""

    # -- what ---------------------------------------------------------------------------------
    data: str = _text(
        "", "Dataset folder", "--data", "DATASET", "A folder with metadata.jsonl (audio, image, caption)."
    )
    out: str = _text("", "Run folder", "--out", "RUN", "Where checkpoints/, final/, metrics.jsonl and status.json go.")
    stage: int = knob(
        1, label="Stage", flag="--stage", metavar="1|2|3", range=(1, 3), slider=(1, 3), step=1,
        help="1: align the projector's tokens with the caption's text tokens. 2: train the projector and the "
        "gated adapters with the diffusion loss. 3: fine-tune both at a lower learning rate.",
    )  # fmt: skip
    models: str = _generation_field("models")
    init: str | None = _text(None, "Start from", "--init", "RUN", "A previous stage's run (its final/) or checkpoint.")
    cache: str | None = _text(None, "Feature cache", "--cache", "DIR", "Default: DATASET/.cache/features (shared).")
    # -- schedule -----------------------------------------------------------------------------
    # seed 001: train_stage1 3000 steps, train_stage2 2000, train_stage3 1000
    stage_steps: tuple[int, int, int] = knob(
        (3000, 2000, 1000), label="Steps", range=(1, _BIG), slider=(10, 10000), step=10, parts=("1", "2", "3"),
        help="Optimizer steps of stage {part}.",
    )  # fmt: skip
    learning_rates: tuple[float, float, float] = knob(
        (1e-4, 1e-4, 1e-5), label="Learning rate", range=(1e-9, 1.0), step=1e-5, fmt="%.3g", parts=("1", "2", "3"),
        help="AdamW's learning rate in stage {part}; stage 3 fine-tunes, lower.",
    )  # fmt: skip
    lr_schedule: str = knob(
        "constant_with_warmup", label="Learning-rate schedule", flag="--lr-schedule", choices=LR_SCHEDULE_CHOICES,
        help="How the learning rate moves over the stage.",
    )  # fmt: skip
    warmup_steps: int = _count(100, "Warm-up steps", "--warmup-steps", 0, (0, 1000), "Steps of linear warm-up.")
    batch_size: int = _count(
        4, "Batch size", "--batch-size", 1, (1, 32),
        "Samples per step and process; the global batch is this x processes x accumulation.",
    )  # fmt: skip
    grad_accum: int = _count(1, "Gradient accumulation", "--grad-accum", 1, (1, 16), "Micro-batches per step.")
    weight_decay: float = knob(1e-2, label="Weight decay", flag="--weight-decay", range=(0.0, 10.0),
                               help="AdamW's decoupled weight decay (not on gates, biases, norms).")  # fmt: skip
    max_grad_norm: float = knob(1.0, label="Gradient clipping", flag="--max-grad-norm", range=(0.0, 1e6),
                                help="Clip the gradients' global norm to this; 0 = off.")  # fmt: skip
    seed: int = knob(0, label="Seed", flag="--seed", range=(0, MAX_SEED), help="Initial weights, order, noise.")
    # -- precision and memory -----------------------------------------------------------------
    mixed_precision: str = knob("auto", label="Mixed precision", flag="--mixed-precision",
                                choices=MIXED_PRECISION_CHOICES, help="Number format of the forward pass.")  # fmt: skip
    gradient_checkpointing: bool = True  # stages 2-3: recompute UNet activations in the backward (less memory)
    resolution: int = knob(
        512, label="Resolution (px)", flag="--resolution", metavar="PX", range=(64, 2048), slider=(256, 1024),
        step=64, help="Training images are centre-cropped to this square (SD 1.5: 512).",
    )  # fmt: skip
    # -- method -------------------------------------------------------------------------------
    caption_dropout: float = knob(
        0.5, label="Caption dropout", flag="--caption-dropout", metavar="P", range=(0.0, 1.0), slider=(0.0, 1.0),
        step=0.05, help="Stages 2-3: the share of samples trained with an empty prompt, so the sound alone must "
        "explain the image.",
    )  # fmt: skip
    align_weight: float = knob(0.1, label="Alignment weight", flag="--align-weight", range=(0.0, 100.0),
                               help="Stage 3: weight of stage 1's alignment loss beside the diffusion loss.")  # fmt: skip
    # seed 001: "temperature 2.0 -> 0.5 annealing (soft decomposition)"
    temperature: tuple[float, float] = knob(
        (2.0, 0.5), label="Temperature", flag="--temperature", metavar="START,END", range=(0.01, 100.0),
        parts=("start", "end"), help="Stage 3: the level assignment's softness, annealed from start to end.",
    )  # fmt: skip
    anneal_crossfade: float = knob(0.1, label="Cross-fade per unit temperature", flag="--anneal-crossfade",
                                   range=(0.0, 0.5), help="Stage 3: level cross-fade width = temperature x this.")  # fmt: skip
    projector: tuple[tuple[str, int], ...] = ()  # ProjectorConfig sizes for a fresh projector, e.g. (("layers", 2),)
    # -- the hierarchy and schedule, exactly GenerationParams' ------------------------------------
    norm_target: float = _generation_field("norm_target")
    norm_measure: str = _generation_field("norm_measure")
    split: tuple[int, int, int] = _generation_field("split")
    level_weights: tuple[float, float, float] = _generation_field("level_weights")
    switch_points: tuple[float, float] = _generation_field("switch_points")
    switch_style: str = _generation_field("switch_style")
    crossfade: float = _generation_field("crossfade")
    gate_scales: tuple[float, float, float] = _generation_field("gate_scales")
    # -- bookkeeping --------------------------------------------------------------------------
    log_every: int = _count(10, "Log every", "--log-every", 1, None, "Steps between two metrics lines.")
    checkpoint_every: int = _count(500, "Checkpoint every", "--checkpoint-every", 1, None, "Steps between checkpoints.")
    keep_checkpoints: int = _count(3, "Keep checkpoints", "--keep-checkpoints", 1, None, "Older ones are deleted.")
    val_every: int = _count(500, "Validate every", "--val-every", 0, None, "0: only at the start and the end.")
    val_rows: int = _count(2, "Validation clips", "--val-rows", 0, None, "The first N usable rows.")
    val_steps: int = _count(25, "Validation steps", "--val-steps", 1, None, "Denoising steps of a validation image.")

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
        """The inference parameters this run's hierarchy and schedule correspond to (validated there)."""
        names = ("norm_target", "norm_measure", "split", "level_weights", "switch_points", "switch_style")
        values = {name: getattr(self, name) for name in (*names, "crossfade", "gate_scales")}
        return GenerationParams(**values).validate()

    def projector_config(self, input_dim: int, output_dim: int):
        """The ProjectorConfig of a fresh projector: the seed's sizes, these overrides, the models' widths."""
        from ..projector import ProjectorConfig  # torch: imported only when a run builds one

        return ProjectorConfig.from_dict({**dict(self.projector), "input_dim": input_dim, "output_dim": output_dim})

    def temperature_at(self, step: int) -> float:
        """Stage 3's soft level assignment: linear from temperature[0] to temperature[1] over the stage."""
        start, end = self.temperature
        return start + (end - start) * min(1.0, step / max(1, self.steps - 1))

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Raise ParamsError naming the first field that makes no sense; return self."""
        for f in dataclasses.fields(self):
            if f.metadata:
                check_field(f, getattr(self, f.name))
        for name in ("data", "out"):
            if not getattr(self, name).strip():
                raise ParamsError(name, "must not be empty")
        if not isinstance(self.gradient_checkpointing, bool):
            raise ParamsError("gradient_checkpointing", "must be true or false")
        if self.resolution % 8:
            raise ParamsError("resolution", f"must be a multiple of 8 (got {self.resolution})")
        sizes = ("hidden_dim", "expand_dim", "layers", "heads")  # ProjectorConfig's, besides the models' widths
        for key, value in self.projector:
            if key not in sizes:
                raise ParamsError("projector", f"no setting {key!r}: a projector's sizes are {', '.join(sizes)}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParamsError("projector", f"{key} must be a whole number of at least 1 (got {value!r})")
        self.generation_params()
        if self.uses_unet and not any(self.gate_scales):
            raise ParamsError("gate_scales", "stages 2 and 3 train adapters: give a block group a scale above 0")
        return self

    # -- JSON ---------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return from_plain(cls, data, "training setting")

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ParamsError("config", f"not valid JSON ({exc})") from None


# The tiny offline demo's models are 32 wide: the seed's projector (768 -> 77 x 3072, ~180M weights)
# would dwarf them and take minutes per step on a CPU. A run on the tiny spec starts from these.
TINY_DEMO: Mapping[str, Any] = MappingProxyType(
    {
        "projector": (("hidden_dim", 16), ("expand_dim", 32), ("layers", 1), ("heads", 4)),
        "resolution": 64,
        "val_steps": 4,
        "warmup_steps": 0,
    }
)


def starting_config(models: str, **values: Any) -> TrainConfig:
    """A new run's settings for `models`: the declared defaults, sized down for the tiny demo."""
    base = dict(TINY_DEMO) if models == "tiny" else {}
    return TrainConfig(**{**base, "models": models, **values})


def repeats_note(batch: int, rows: int) -> str:
    """A batch larger than the usable rows is allowed (each step repeats them) but rarely meant: what
    to say beside it ('' when it fits). The log and the Train page both say it."""
    return f"more than the {rows} usable rows: each step repeats them" if 0 < rows < batch else ""


def train_knobs() -> Mapping[str, Knob]:
    """Every TrainConfig field's Knob, in declaration order: what the CLI and the Train page read."""
    return MappingProxyType({f.name: knob_of(f) for f in dataclasses.fields(TrainConfig) if f.metadata})


__all__ = [
    "LR_SCHEDULES",
    "MIXED_PRECISION",
    "STAGES",
    "STAGE_NAMES",
    "TrainConfig",
    "TINY_DEMO",
    "TrainError",
    "repeats_note",
    "starting_config",
    "train_knobs",
]
