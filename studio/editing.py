"""What the Edit page does: the photo (an upload or a Gallery image) and the mask (painted on the
photo, a rectangle chosen with sliders, or an upload) at the working size, the EditParams from the
page (and their preview-quality twin), and the edit as a job on the engine thread. Saving the files
where the engine reads them is studio/edit_files.py's (its names are re-exported here for the page)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from core.edit import EditParams
from core.edit.export import edit_filename
from core.edit.params import STRUCTURE_KNOBS, EditKnobs
from core.images import ImageError, Mask, Photo, load_mask, load_photo
from core.knobs import Knob, knob, knob_of
from core.params import GenerationParams, clip_name
from studio import bindings
from studio.edit_files import (
    MADE_MASKS,
    gallery_photo,
    kept_upload,
    made_mask,
    on_upload,
    save_made_mask,
    save_photo,
    upload_problem,
)
from studio.fast import fast_settings
from studio.history import HistoryItem
from studio.jobs import Job
from studio.limits import limits
from studio.markdown import escape_md_prose
from studio.region import TINT, Box, box_mask, box_pixels, painted_mask, with_box
from studio.session import Painting, session
from studio.uploads import UploadError, save_problem

if TYPE_CHECKING:
    from core.edit import EditResult
    from core.engine import Engine

PHOTO_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"]
MASK_SOURCES = {"none": "Whole photo", "paint": "Paint it", "box": "A rectangle", "upload": "Upload a mask"}
NOTHING_PAINTED = "Paint the region that may change on the photo (or choose Whole photo)."
# Widget keys of the edit knobs -> EditKnobs fields (labels, ranges, help come from the knobs).
EDIT_KEYS = {"edit_denoise": "denoise", "edit_feather": "feather",
             "edit_feature_injection": "feature_injection", "edit_attention_injection": "attention_injection"}  # fmt: skip
MODE_KEY = "edit_mode"  # the edit mode's radio (its choices: EditKnobs.edit_mode's)


@dataclass(frozen=True)
class PageKnobs:
    """The Edit page's own settings, which no edit (nor its PNG) holds: declared as the edit's knobs are."""

    brush: int = knob(
        32, label="Brush (px)", range=(4, 96), slider=(4, 96), step=2, unit="px",
        help="The brush's width on the canvas as shown.",
    )  # fmt: skip


PAGE_KEYS = {"edit_brush": "brush"}  # widget keys of the page's own knobs -> PageKnobs fields
STARTING: dict[str, Any] = {
    MODE_KEY: EditKnobs().edit_mode,
    "edit_denoise": EditKnobs().denoise,
    "edit_feather": EditKnobs().feather,
    "edit_feature_injection": EditKnobs().feature_injection,
    "edit_attention_injection": EditKnobs().attention_injection,
    "edit_mask_source": "none",
    "edit_box_x": (0.25, 0.75),
    "edit_box_y": (0.25, 0.75),
    "edit_brush": PageKnobs().brush,  # px on the canvas as shown
    "edit_paint_round": 0,  # bumped by Clear: a new canvas key is an empty canvas
}


def edit_knobs() -> dict[str, Knob]:
    """The edit's own knobs (label, range, help declared once, in core/edit/params.py)."""
    return {f.name: knob_of(f) for f in dataclasses.fields(EditKnobs)}


def knob_for(key: str) -> Knob:
    """The Knob of an Edit page slider (EDIT_KEYS, PAGE_KEYS) by its widget key; it starts at STARTING[key]."""
    if key in PAGE_KEYS:
        return knob_of(PageKnobs.__dataclass_fields__[PAGE_KEYS[key]])
    return edit_knobs()[EDIT_KEYS[key]]


def shown_keys(mode: str | None, masked: bool = True) -> dict[str, str]:
    """The edit sliders the page shows in `mode`: the structure knobs only in the structure mode,
    the mask's feather only with a region (the whole photo has no edge to soften)."""
    return {k: f for k, f in EDIT_KEYS.items()
            if (mode == "structure" or f not in STRUCTURE_KNOBS) and (masked or f != "feather")}  # fmt: skip


def ensure_defaults() -> None:
    for key, value in STARTING.items():
        if bindings.value(key) is None:
            bindings.set_value(key, value)


@dataclass
class EditOutput:
    """A finished edit and its PNG (with every parameter, and the photo's and mask's hashes)."""

    result: EditResult
    png: bytes
    mask: bytes | None = None  # the mask file as the edit read it: `edit --from` finds it beside the PNG
    photo: bytes | None = None  # a Gallery image edited: the user has no file of it otherwise
    kept_as: int | None = None  # its Gallery id once kept: kept once, however often the button is pressed

    @property
    def file_name(self) -> str:
        """The PNG's download name: distinct per photo and settings, not only per seed."""
        return edit_filename(self.result.params)


def show_edit(params: EditParams) -> None:
    """The page as it was for `params` (an edit a reloaded page took over): its photo as a kept
    upload, its region, its mode and knobs. A mask painted on the page comes back as the painting
    (the strokes the reloaded page kept, `Session.painting`, which janitor.adopt hands over), so it
    can still be painted on; any other mask as a kept upload."""
    e, s = params.edit, session()
    s.edit_uploads["photo"] = e.image_path
    bindings.set_value("edit_photo_source", "upload")
    region, round_ = "none", _painting_round(s.painting, e.image_path) if made_mask(e.mask_path) == "paint" else None
    if round_ is not None:
        bindings.set_value("edit_paint_round", round_)
        region = "paint"
    elif e.mask_path:
        s.edit_uploads["mask"] = e.mask_path
        region = "upload"
    bindings.set_value("edit_mask_source", region)
    bindings.set_value(MODE_KEY, e.edit_mode)
    for key, field in EDIT_KEYS.items():
        bindings.set_value(key, getattr(e, field))


def _painting_round(painting: Painting, photo_path: str | None) -> int | None:
    """The Clear round of `painting` when it holds strokes on the photo at `photo_path` (paint_key), else None."""
    try:
        sha = hashlib.sha256(Path(photo_path or "").read_bytes()).hexdigest()
    except OSError:
        return None
    head, _, round_ = painting.key.rpartition("_")
    return int(round_) if painting.strokes is not None and head == _paint_prefix(sha) and round_.isdigit() else None


def working_side() -> int:
    """The longer side an edit works at on this studio: EditKnobs' own, or the operator's
    CLAP2DIFF_MAX_SIDE where smaller. An edit is drawn at its photo's working size, not at Generate's
    width and height, so this is where the cap a render's size has applies to an edit."""
    return max(64, min(EditKnobs().max_side, limits().max_side))


def working_photo(path: str, max_side: int | None = None) -> Photo:
    """The photo decoded at its working size (`working_side` unless given). Raises
    core.images.ImageError with the reason a file cannot be used."""
    return _working_photo(path, max_side or working_side())


@functools.lru_cache(maxsize=8)
def _working_photo(path: str, max_side: int) -> Photo:
    return load_photo(path, max_side)  # an upload's path names its content: safe to cache


def clear_paint() -> None:
    """Clear's callback: the next canvas has a new key, so it starts empty."""
    bindings.set_value("edit_paint_round", int(bindings.value("edit_paint_round", 0)) + 1)


def paint_key(photo: Photo) -> str:
    """Whose strokes: a new photo, or Clear, starts an empty painting (and canvas)."""
    return f"{_paint_prefix(photo.sha256)}_{bindings.value('edit_paint_round', 0)}"


def _paint_prefix(sha256: str) -> str:
    return f"edit_paint_{sha256[:12]}"


def painting(photo: Photo) -> Painting:
    """This session's strokes on `photo` (an empty painting for a new photo or after Clear)."""
    s = session()
    if s.painting.key != paint_key(photo):
        s.painting = Painting(key=paint_key(photo))
    return s.painting


def mask_path(
    source: str, photo: Photo, strokes: np.ndarray | None, uploaded: str | None
) -> tuple[str | None, str | None]:
    """(the mask's path or None for the whole photo, what is missing for the chosen region)."""
    if source == "paint":
        png = painted_mask(strokes, photo.size)
        return (save_made_mask("paint", png), None) if png else (None, NOTHING_PAINTED)
    if source == "box":
        box = page_box()
        left, top, right, bottom = box_pixels(photo.size, box)
        if right <= left or bottom <= top:
            return None, "The rectangle is empty: widen it with the sliders (Left → right, Top → bottom)."
        if (left, top, right, bottom) == (0, 0, *photo.size):
            return None, "The rectangle covers the whole photo: narrow it with the sliders, or choose Whole photo."
        return save_made_mask("box", box_mask(photo.size, box)), None
    if source == "upload":
        return uploaded, None if uploaded else "Upload a mask (white = may change), or choose another region."
    return None, None


def chosen_mask(
    source: str, photo: Photo, strokes: np.ndarray | None, uploaded: str | None
) -> tuple[str | None, str | None, str | None]:
    """(the mask's path, what is missing, why the region cannot be used) for the page: `mask_path`
    and `mask_problem`, with a mask the disk cannot take said as the region's problem."""
    try:
        mask, missing = mask_path(source, photo, strokes, uploaded)
    except UploadError as exc:  # a region made on the page, by what it is (its file name means nothing)
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        return None, None, as_sentence(save_problem(MADE_MASKS.get(source, "the mask"), cause, then="try again"))
    return mask, missing, mask_problem(photo, mask)


def page_box() -> Box:
    return bindings.value("edit_box_x"), bindings.value("edit_box_y")


def mask_problem(photo: Photo, mask: str | None) -> str | None:
    """Why the mask cannot be used with this photo (empty, everything, unreadable), or None: said
    before an edit starts, and gone once the region is fixed."""
    if mask is None:
        return None
    try:
        _share(mask, photo.size, photo.shape)
    except ImageError as exc:
        return as_sentence(str(exc))
    return None


def as_sentence(text: str) -> str:
    """A core message ('the mask x.png is empty: ...') as a sentence on its own, for Markdown: its
    first word capitalised unless it is a file name ('notimage.jpg is not an image ...' stays as
    the file is named), and the names in it shown as written."""
    first = text.split(" ", 1)[0]
    head = text[:1] if "." in first or not first.isalpha() else text[:1].upper()
    return escape_md_prose(f"{head}{text[1:].rstrip('.')}.")


@functools.lru_cache(maxsize=16)
def _mask(mask: str, size: tuple[int, int], shape: tuple[int, int]) -> Mask:
    return load_mask(mask, size, shape=shape)  # an upload's path names its content: safe to cache


def _share(mask: str, size: tuple[int, int], shape: tuple[int, int]) -> tuple[float, tuple[str, ...]]:
    m = _mask(mask, size, shape)
    return m.fraction, m.notes


def shown_photo(photo: Photo, source: str, uploaded: str | None) -> Image.Image:
    """The photo as the region chooser shows it: the rectangle outlined, an uploaded mask's region
    tinted (where it lands is seen before any preview)."""
    if source == "box":
        return with_box(photo.image, page_box())
    if source != "upload" or uploaded is None:
        return photo.image
    try:
        region = _mask(uploaded, photo.size, photo.shape).region
    except ImageError:  # said under the uploader
        return photo.image
    pixels = np.asarray(photo.image.convert("RGB"), np.float32)
    pixels[region] = pixels[region] * 0.55 + np.array(TINT, np.float32) * 0.45
    return Image.fromarray(pixels.round().astype(np.uint8), "RGB")


def region_note(photo: Photo, mask: str | None) -> str:
    """What may change, as the edit will read the mask: its share of the photo at the working size
    (and the mask's own notes), or why the mask cannot be used."""
    head = f"Working size {photo.size[0]}×{photo.size[1]}"
    if mask is None:
        return f"{head}: the whole photo may change."
    try:
        share, notes = _share(mask, photo.size, photo.shape)
    except ImageError as exc:
        return f"{head}. :orange[{as_sentence(str(exc))}]"
    return f"{head}: {share:.1%} of the photo may change" + "".join(f"; {n}" for n in notes) + "."


def edit_params(generation: GenerationParams, photo_path: str, mask_path: str | None) -> EditParams:
    """The page's edit: the Generate page's settings, the photo, the mask and the edit knobs."""
    knobs = {field: bindings.value(key) for key, field in EDIT_KEYS.items()}
    knobs["edit_mode"] = bindings.value(MODE_KEY)
    return (
        EditParams(generation)
        .replace(image_path=photo_path, mask_path=mask_path, max_side=working_side(), **knobs)
        .validate()
    )


def preview_params(params: EditParams) -> EditParams:
    """Preview quality, as Generate's live preview: the sidebar's preview steps, and the photo's
    working size no longer than its preview side; everything else the same."""
    g = bindings.preview_params(params.generation)
    side = bindings.ui_number("ui_preview_side")
    return params.replace(steps=g.steps, max_side=max(64, min(params.edit.max_side, side)))


def kept_as(output: EditOutput) -> int | None:
    """The Gallery number `output` is kept under, while the Gallery holds it. None when not kept, or
    gone from there (deleted, or pushed out past HISTORY_LIMIT by newer images): "Kept as #N" then
    locked Keep for an image the Gallery no longer had, so the edit could not be kept again."""
    return output.kept_as if output.kept_as is not None and session().find(output.kept_as) is not None else None


def left_gallery() -> int | None:
    """The Gallery image the page's picker held, when the Gallery no longer has it (deleted, or
    pushed out past HISTORY_LIMIT: at the limit, Keep pushes out the oldest, which may be the photo
    being edited); the picker then falls back to the newest, which the page says."""
    pick = bindings.value("edit_gallery_pick")
    return pick if isinstance(pick, int) and session().find(pick) is None else None


def keep(output: EditOutput) -> None:
    """Keep's callback: into the Gallery, once while it is there (a second press adds no twin)."""
    if kept_as(output) is None:
        s = session()
        output.kept_as = s.new_id()
        s.add_history(history_item(output, output.kept_as))


def history_item(output: EditOutput, item_id: int = 0, kind: str = "edit") -> HistoryItem:
    """An edit as the Gallery, Gates and Spectrogram pages take a generation."""
    r = output.result
    return HistoryItem.of(r, output.png, kind, item_id, edit_caption(r.params, kind), params=r.params.generation)


def edit_caption(params: EditParams, kind: str = "edit") -> str:
    """What an edit is called in the Gallery and the pickers: its photo, prompt, mode and denoise,
    so that two edits of one photo read apart ("edit of street.png · a city · keep structure, denoise
    1, region"), not both "edit". The denoise is named as the Edit page names it (not "variation 0.6",
    which reads as an amount of variation)."""
    e = params.edit
    how = f"{'keep structure' if e.edit_mode == 'structure' else 'variation'}, denoise {e.denoise:g}"
    prompt = params.generation.prompt.strip()
    parts = [f"{'edit' if kind == 'edit' else 'edit preview'} of {clip_name(e.image_path)}", prompt, how]
    return " · ".join(p for p in parts if p) + (", region" if e.mask_path else "")


def stored_name(params: EditParams, field: str = "mask_path") -> str:
    """The photo's or mask's file name as the edited PNG stores it (where `edit --from` looks
    beside the PNG)."""
    return clip_name(getattr(params.edit, field) or "image.png")


def _file_bytes(path: str | None) -> bytes | None:
    try:
        return Path(path).read_bytes() if path else None
    except OSError:  # gone: the edit itself says so
        return None


def check_limits(params: EditParams) -> None:
    """The operator's caps on an edit, as `jobs._render` checks a render's before any step: its
    steps, and the size it is drawn at (the photo's working size: Generate's width and height do not
    reach an edit). Raises LimitError in the operator's words."""
    width, height = working_photo(params.edit.image_path, params.edit.max_side).size
    limits().check(params.generation.replace(width=width, height=height))


def edit_job(engine: Engine, params: EditParams, kind: str = "edit", offer_photo: bool = False) -> Job:
    """The edit on the engine thread, with per-step progress and cancel like a render (kind
    "preview": a live preview's, keyed on its params so a stale one is cancelled, and taking the
    sidebar's fast paths as Generate's preview does; an edit takes none). An edit keeps the mask
    file, and the photo's when `offer_photo` (a Gallery image), for the page to offer beside its PNG."""
    from core.edit import edit_photo
    from core.edit.export import edit_png_bytes
    from core.edit.run import run_steps

    fast = fast_settings() if kind == "preview" else None  # read here: the worker has no session

    def task(job: Job) -> EditOutput:
        check_limits(params)  # refused before any step, as a render is
        mask = _file_bytes(params.edit.mask_path) if kind == "edit" else None
        photo = _file_bytes(params.edit.image_path) if kind == "edit" and offer_photo else None
        result = edit_photo(
            engine, params, progress=job.on_progress, cancel=job.cancel, on_status=job.on_status, fast=fast
        )
        return EditOutput(result, edit_png_bytes(result), mask, photo)

    job = Job(kind, task, total=max(1, run_steps(params.generation.steps, params.edit.denoise)))
    job.params, job.key = params.generation, params
    return job.start()


__all__ = ["as_sentence", "EDIT_KEYS", "MASK_SOURCES", "MODE_KEY", "PAGE_KEYS", "PageKnobs", "knob_for", "NOTHING_PAINTED", "PHOTO_TYPES", "STARTING", "EditOutput",
           "check_limits", "chosen_mask", "clear_paint", "edit_caption", "edit_job", "edit_knobs", "edit_params", "ensure_defaults", "history_item", "keep", "kept_as",
           "gallery_photo", "left_gallery", "upload_problem", "kept_upload", "mask_path", "on_upload", "paint_key", "painting",
           "preview_params", "region_note", "save_photo", "show_edit", "shown_keys", "shown_photo", "stored_name", "working_photo", "working_side"]  # fmt: skip
