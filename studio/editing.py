"""What the Edit page does: the photo (an upload or a Gallery image) and the mask (an upload, or a
rectangle chosen with sliders) saved where the engine reads files, the EditParams from the page,
and the edit as a job on the engine thread."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from core.edit import EditParams
from core.edit.params import STRUCTURE_KNOBS, EditKnobs
from core.knobs import Knob, knob_of
from core.params import GenerationParams
from studio import bindings
from studio.jobs import Job
from studio.uploads import save_upload

if TYPE_CHECKING:
    from core.edit import EditResult
    from core.engine import Engine

PHOTO_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"]
MASK_SOURCES = {"none": "Whole photo", "box": "A rectangle", "upload": "Upload a mask"}
# Widget keys of the edit knobs -> EditKnobs fields (labels, ranges, help come from the knobs).
EDIT_KEYS = {"edit_denoise": "denoise", "edit_feather": "feather",
             "edit_feature_injection": "feature_injection", "edit_attention_injection": "attention_injection"}  # fmt: skip
MODE_KEY = "edit_mode"  # the edit mode's radio (its choices: EditKnobs.edit_mode's)
STARTING: dict[str, Any] = {
    MODE_KEY: EditKnobs().edit_mode,
    "edit_denoise": EditKnobs().denoise,
    "edit_feather": EditKnobs().feather,
    "edit_feature_injection": EditKnobs().feature_injection,
    "edit_attention_injection": EditKnobs().attention_injection,
    "edit_mask_source": "none",
    "edit_box_x": (0.25, 0.75),
    "edit_box_y": (0.25, 0.75),
}


def edit_knobs() -> dict[str, Knob]:
    """The edit's own knobs (label, range, help declared once, in core/edit/params.py)."""
    return {f.name: knob_of(f) for f in dataclasses.fields(EditKnobs)}


def shown_keys(mode: str | None) -> dict[str, str]:
    """The edit sliders the page shows in `mode`: the structure knobs only in the structure mode."""
    return {k: f for k, f in EDIT_KEYS.items() if mode == "structure" or f not in STRUCTURE_KNOBS}


def ensure_defaults() -> None:
    for key, value in STARTING.items():
        if bindings.value(key) is None:
            bindings.set_value(key, value)


@dataclass
class EditOutput:
    """A finished edit and its PNG (with every parameter, and the photo's and mask's hashes)."""

    result: EditResult
    png: bytes


def save_photo(name: str, data: bytes) -> str:
    """An uploaded photo (or a Gallery PNG) where the engine reads it: content-addressed uploads."""
    return str(save_upload(name or "photo.png", data))


def box_mask(size: tuple[int, int], box: tuple[tuple[float, float], tuple[float, float]]) -> bytes:
    """A white rectangle on black at the photo's size: (x from, x to), (y from, y to) as fractions."""
    width, height = size
    (x0, x1), (y0, y1) = box
    region = np.zeros((height, width), np.uint8)
    region[int(round(y0 * height)) : int(round(y1 * height)), int(round(x0 * width)) : int(round(x1 * width))] = 255
    buf = io.BytesIO()
    Image.fromarray(region, "L").save(buf, format="PNG")
    return buf.getvalue()


def edit_params(generation: GenerationParams, photo_path: str, mask_path: str | None) -> EditParams:
    """The page's edit: the Generate page's settings, the photo, the mask and the edit knobs."""
    knobs = {field: bindings.value(key) for key, field in EDIT_KEYS.items()}
    knobs["edit_mode"] = bindings.value(MODE_KEY)
    return EditParams(generation).replace(image_path=photo_path, mask_path=mask_path, **knobs).validate()


def edit_job(engine: Engine, params: EditParams) -> Job:
    """The edit on the engine thread, with per-step progress and cancel like a render."""
    from core.edit import edit_photo
    from core.edit.export import edit_png_bytes
    from core.edit.run import run_steps

    def task(job: Job) -> EditOutput:
        result = edit_photo(engine, params, progress=job.on_progress, cancel=job.cancel, on_status=job.on_status)
        return EditOutput(result, edit_png_bytes(result))

    job = Job("edit", task, total=max(1, run_steps(params.generation.steps, params.edit.denoise)))
    job.params = job.key = params.generation
    return job.start()


__all__ = ["EDIT_KEYS", "MASK_SOURCES", "MODE_KEY", "shown_keys", "PHOTO_TYPES", "STARTING", "EditOutput", "box_mask", "edit_job",
           "edit_knobs", "edit_params", "ensure_defaults", "save_photo"]  # fmt: skip
