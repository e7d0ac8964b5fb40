"""An edit's PNG: the generation's `clap2diff` chunk plus an `edit` object (photo and mask hashes,
denoise, mode...), so `python -m core edit --from` reproduces it and refuses another photo or mask.

`read_params` of such a PNG still gives its GenerationParams (the `edit` object is beside them).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..export.archive import ascii_slug
from ..export.atomic import atomic_write
from ..export.formats import METADATA_KEY, PARAMETERS_KEY, ExportError
from ..export.infotext import parameters_text
from ..export.metadata import (
    Source,
    _describe,
    dumps,
    extra_from_result,
    params_metadata,
    png_encode,
    read_metadata,
    read_params,
)
from ..knobs import ParamsError
from ..params import clip_name
from .params import EditParams


def edit_png_bytes(result: Any) -> bytes:
    """The PNG of an EditResult, with every parameter needed to reproduce it."""
    params: EditParams = result.params
    # what a generation's PNG records (device and precision: `edit --from` elsewhere says its pixels can differ;
    # what was heard, how long it took), and what was done to the photo and mask
    extra = {**extra_from_result(result), "notes": list(result.notes)}
    metadata = params_metadata(params.generation, extra)
    metadata["edit"] = shareable_edit(params.to_dict())
    e = params.edit
    summary = parameters_text(params.generation) + f", Edit: {e.edit_mode} denoise {e.denoise:g}"
    if e.edit_mode == "structure":
        summary += f", features {e.feature_injection:g}, attention {e.attention_injection:g}"
    return png_encode(result.image, [(METADATA_KEY, dumps(metadata), True), (PARAMETERS_KEY, summary, False)])


def shareable_edit(edit: dict[str, Any]) -> dict[str, Any]:
    """The photo and mask by file name only (their hashes identify them): no folder of this
    machine goes into a file a user shares."""
    return {k: clip_name(v) if k in ("image_path", "mask_path") and v else v for k, v in edit.items()}


def edit_filename(params: EditParams) -> str:
    """`clap2diff_edit_<seed>_<photo name>_<settings hash>.png`: two edits of one seed (another
    photo, region, denoise or mode) never share a download name; the hash covers every setting,
    with the clip, photo and mask by name and hash (as the PNG stores them: the name does not depend
    on this machine's folders, and the edit read back from its PNG has the same name)."""
    settings = {"generation": params.generation.shareable().to_dict(), "edit": shareable_edit(params.to_dict())}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:6]
    photo = ascii_slug(Path(clip_name(params.edit.image_path)).stem, 40) or "photo"
    return f"clap2diff_edit_{params.generation.seed}_{photo}_{digest}.png"


def save_edit(result: Any, path: str | Path) -> Path:
    return atomic_write(path, edit_png_bytes(result))


def read_edit(source: Source) -> EditParams:
    """The EditParams stored in an edited PNG; an ExportError says what is wrong with it."""
    what = _describe(source)
    edit = read_metadata(source).get("edit")
    if edit is None:
        raise ExportError(f"{what} is not an edited photo (it has no edit settings): use `generate --from`")
    try:
        return EditParams.from_parts(read_params(source), edit)
    except ParamsError as exc:
        raise ExportError(f"{what}: the embedded edit settings are invalid: {exc}", field=exc.field) from None


__all__ = ["edit_filename", "edit_png_bytes", "read_edit", "save_edit"]
