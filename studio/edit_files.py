"""The Edit page's files: the photo and the mask uploaded (and a Gallery image, a mask made on the
page) saved where the engine reads them, claimed for the session, and what stopped one from being
kept (the operator's upload limit, a full disk), said on the page instead of raised into Streamlit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from studio import bindings, janitor
from studio.limits import LimitError, limits
from studio.markdown import escape_md, escape_md_prose
from studio.session import session
from studio.uploads import UploadError, save_upload

if TYPE_CHECKING:
    from studio.history import HistoryItem


PHOTO_ADVICE = "save it with fewer pixels (or as a JPEG) and upload that"  # an upload over the limit: how to fit


def save_photo(name: str, data: bytes) -> str:
    """An uploaded photo (or a Gallery PNG, a mask) where the engine reads it: content-addressed
    uploads, claimed for this session so that they go when it ends, as its clips do."""
    path = save_upload(name or "photo.png", data)
    janitor.claim(path)
    return str(path)


def on_upload(widget_key: str, slot: str) -> None:
    """The photo's or the mask's uploader changed: a file chosen is saved and kept in the session
    under `slot`, so it stays in use while its uploader is off the page (Generate and back, another
    region and back: Streamlit forgets an undrawn uploader's file); its × removes it. A file over
    the operator's upload limit is refused before a byte is stored, as an audio upload is; one the
    disk cannot take is said too (`upload_problem`), never raised into Streamlit."""
    s = session()
    uploaded = bindings.value(widget_key)
    s.edit_upload_errors.pop(slot, None)
    s.edit_uploads.pop(slot, None)  # a refused file is not replaced by the one before it, unseen
    if uploaded is None:
        return
    data = uploaded.getvalue()
    try:
        limits().check_upload(uploaded.name or "photo", len(data), PHOTO_ADVICE)
        s.edit_uploads[slot] = save_photo(uploaded.name, data)
    except (LimitError, UploadError) as exc:
        s.edit_upload_errors[slot] = f"**Cannot use this image**: {escape_md_prose(exc)}"


def upload_problem(slot: str) -> str | None:
    """Why the file last chosen in the `slot` uploader ("photo", "mask") was not kept, for Markdown."""
    return session().edit_upload_errors.get(slot)


def gallery_photo(item: HistoryItem) -> tuple[str | None, str | None]:
    """(the Gallery image saved where the engine reads it, None) or (None, why it could not be)."""
    try:
        return save_photo(f"gallery_{item.id}.png", item.png), None
    except UploadError as exc:
        return None, f"**Cannot use this image**: {escape_md_prose(exc)}"


def kept_upload(slot: str, widget_key: str) -> tuple[str | None, str | None]:
    """(the kept upload's path, a caption naming it when its uploader shows no file) for `slot`."""
    path = session().edit_uploads.get(slot)
    if path is None or bindings.value(widget_key) is not None:
        return path, None
    if made := MADE_MASKS.get(made_mask(path) or ""):  # the page's own file: its name means nothing to the user
        return (
            path,
            f"Using {made} before the page was reloaded: upload a mask to replace it, or choose another region.",
        )
    return path, f"Using the upload **{escape_md(Path(path).name)}**: upload another to replace it."


MASK_PREFIXES = {"paint": "painted_mask", "box": "box_mask"}  # the names of the masks the page makes
MADE_MASKS = {"paint": "the region painted", "box": "the rectangle chosen"}


def made_mask(path: str | None) -> str | None:
    """Which region made the mask file at `path` ("paint", "box"), by its name (`save_made_mask`); None for any other."""
    name = Path(path or "").name
    return next((kind for kind, prefix in MASK_PREFIXES.items() if name.startswith(f"{prefix}-")), None)


def save_made_mask(kind: str, png: bytes) -> str:
    """A mask the page made ("paint", "box"), named by its content: the edited PNG stores this name,
    and the mask downloaded under it sits beside the PNG without clashing with another edit's."""
    return save_photo(f"{MASK_PREFIXES[kind]}-{hashlib.sha256(png).hexdigest()[:8]}.png", png)


__all__ = ["MADE_MASKS", "MASK_PREFIXES", "gallery_photo", "kept_upload", "made_mask", "on_upload", "save_made_mask",
           "save_photo", "upload_problem"]  # fmt: skip
