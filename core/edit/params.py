"""What an edit is: every generation knob plus the photo, the mask and how much to re-run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..images import DEFAULT_MAX_SIDE
from ..knobs import Choice, ParamsError, check_field, knob, to_plain
from ..params import MAX_PATH, GenerationParams

EDIT_MODE_CHOICES = (
    Choice("variation", "Variation", "the photo noised part of the way, then denoised with the prompt and the sound"),
    Choice(
        "structure", "Keep structure",
        "the photo DDIM-inverted, then denoised with the prompt and the sound while its layout is injected",
    ),
)  # fmt: skip
STRUCTURE_KNOBS = ("feature_injection", "attention_injection")  # the knobs only the structure mode reads
EDIT_MODES = tuple(c.value for c in EDIT_MODE_CHOICES)


@dataclass(frozen=True)
class EditKnobs:
    """The edit's own knobs (the generation's are in `EditParams.generation`)."""

    edit_mode: str = knob(
        "variation", label="Edit mode", flag="--mode", choices=EDIT_MODE_CHOICES,
        help="Variation: the photo is noised part of the way and re-drawn with the prompt and the sound. "
        "Keep structure: the photo is inverted (DDIM) and re-drawn while its layout (decoder features and "
        "self-attention) is injected, so shapes stay where they are.",
    )  # fmt: skip
    denoise: float = knob(
        0.6, label="Denoise", flag="--denoise", metavar="S", range=(0.0, 1.0), slider=(0.0, 1.0), step=0.05,
        fmt="%.2f", help="How much of the denoising trajectory is re-run: 0 keeps the photo, 1 draws anew.",
    )  # fmt: skip
    feature_injection: float = knob(
        0.8, label="Keep layout features for", flag="--feature-injection", metavar="F", range=(0.0, 1.0),
        slider=(0.0, 1.0), step=0.05, fmt="%.2f",
        help="Keep structure: the fraction of the steps run in which the photo's decoder features replace the "
        "edit's (more keeps more of the photo's shapes; 0 turns it off).",
    )  # fmt: skip
    attention_injection: float = knob(
        0.5, label="Keep self-attention for", flag="--attention-injection", metavar="F", range=(0.0, 1.0),
        slider=(0.0, 1.0), step=0.05, fmt="%.2f",
        help="Keep structure: the fraction of the steps run in which the photo's self-attention queries and keys "
        "replace the edit's (more keeps more of its layout; 0 turns it off).",
    )  # fmt: skip
    feather: int = knob(
        8, label="Mask feather (px)", flag="--feather", range=(0, 256), slider=(0, 64), step=1, unit="px",
        help="Width of the soft edge where the edited region blends into the untouched photo.",
    )  # fmt: skip
    max_side: int = knob(
        DEFAULT_MAX_SIDE, label="Working size (longer side, px)", flag="--max-side", range=(64, 2048), step=8,
        unit="px", help="The photo is scaled so its longer side is at most this (sides a multiple of 8, aspect "
        "kept), but its shorter side stays at least 64: a small value can leave the longer side above it "
        "(a 4:3 photo at 64 becomes 88×64).",
    )  # fmt: skip
    image_path: str = knob(
        "", label="Photo", flag="--image", metavar="PATH", max_len=MAX_PATH, help="The photo to edit.",
    )  # fmt: skip
    image_sha256: str | None = knob(
        None, label="Photo hash", flag=None, optional=True, max_len=64,
        help="The photo's SHA-256, set by the engine: reproducing refuses a different photo.",
    )  # fmt: skip
    mask_path: str | None = knob(
        None, label="Mask", flag="--mask", metavar="PATH", optional=True, max_len=MAX_PATH,
        help="White (or painted) where the photo may change; none: the whole photo.",
    )  # fmt: skip
    mask_sha256: str | None = knob(
        None, label="Mask hash", flag=None, optional=True, max_len=64,
        help="The mask's SHA-256, set by the engine: reproducing refuses a different mask.",
    )  # fmt: skip


@dataclass(frozen=True)
class EditParams:
    """One edit, reproducible: the generation knobs (width/height become the photo's working size)
    and the edit's own."""

    generation: GenerationParams = dataclasses.field(default_factory=GenerationParams)
    edit: EditKnobs = dataclasses.field(default_factory=EditKnobs)

    def validate(self) -> EditParams:
        self.generation.validate()
        for f in dataclasses.fields(self.edit):
            check_field(f, getattr(self.edit, f.name))
        if not self.edit.image_path.strip():
            raise ParamsError("image_path", "an edit needs a photo (--image)")
        return self

    def replace(self, **changes: Any) -> EditParams:
        """Change edit knobs by name; generation knobs by their GenerationParams name."""
        edit_names = {f.name for f in dataclasses.fields(EditKnobs)}
        mine = {k: v for k, v in changes.items() if k in edit_names}
        theirs = {k: v for k, v in changes.items() if k not in edit_names}
        return EditParams(self.generation.replace(**theirs), dataclasses.replace(self.edit, **mine))

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self.edit)

    @classmethod
    def from_parts(cls, generation: GenerationParams, edit: dict[str, Any]) -> EditParams:
        from ..knobs import from_plain

        return cls(generation, from_plain(EditKnobs, edit, "edit setting")).validate()


__all__ = ["EDIT_MODES", "STRUCTURE_KNOBS", "EditKnobs", "EditParams"]
