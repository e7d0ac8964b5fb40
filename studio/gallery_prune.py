"""Keeping the galleries on disk bounded, at server start (studio/app.py), as the uploads are.

Galleries nobody opened or added to for CLAP2DIFF_GALLERY_DAYS go whole (images, knobs, clips).
Then the oldest images go while all galleries together exceed CLAP2DIFF_GALLERY_MB, counting the
clips they keep: a clip goes with the last image that names it (unless its gallery's knobs still
name it), and a clip hard-linked into several galleries is counted once. A Delete on the Gallery
page removes images the same way, at once (`remove_images`). Only what studio/gallery_store.py
lays out is ever touched: `<code>/<item>.png|json`, `knobs.json`, `numbers.json`, `.lock` and
`clips/<16 hex>/<file>`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from studio.gallery_store import (
    CLIPS,
    DAYS_ENV,
    DEFAULT_DAYS,
    DEFAULT_MB,
    ITEM_NAME,
    KNOBS_FILE,
    LOCK_FILE,
    MB_ENV,
    NUMBERS_FILE,
    galleries_dir,
    setting,
    valid_code,
)


@dataclass
class _Image:
    """One kept image as pruning sees it: its two files' bytes and the gallery clip it names."""

    modified: float
    size: int  # the PNG and its sidecar
    png: Path
    clip: Path | None


def prune_galleries(now: float | None = None, folder: Path | None = None) -> list[Path]:
    """Old galleries whole, then the oldest images (and the clips only they named) while all
    galleries and their clips exceed the budget. Returns the files removed."""
    root = folder or galleries_dir()
    cutoff = (time.time() if now is None else now) - setting(DAYS_ENV, DEFAULT_DAYS) * 86400
    removed: list[Path] = []
    images: list[_Image] = []
    clips: dict[Path, tuple[tuple[int, int], int]] = {}  # every clip left: (device, inode), bytes
    pinned: set[Path] = set()  # named by a gallery's knobs: kept while the gallery is
    try:
        galleries = [d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and valid_code(d.name)]
    except OSError:
        return removed
    for gallery in galleries:
        try:
            mine = [(f, f.stat()) for f in gallery.iterdir() if ITEM_NAME.match(f.name) and f.is_file()]
            knobs = [(f, f.stat()) for f in [gallery / KNOBS_FILE] if f.is_file() and not f.is_symlink()]
        except OSError:
            continue
        if all(st.st_mtime < cutoff for _, st in [*mine, *knobs]):  # its images and its knobs untouched
            removed += [f for f, _ in [*mine, *knobs] if _unlink(f)]
            removed += [f for f in [gallery / NUMBERS_FILE, gallery / LOCK_FILE] if f.is_file() and _unlink(f)]
            removed += _remove_clips(gallery / CLIPS, keep=set())
            _rmdir(gallery)
            continue
        sidecars = {f.with_suffix(""): st.st_size for f, st in mine if f.suffix == ".json"}
        named = {f.with_suffix(""): _clip_named(gallery, f) for f, _ in mine if f.suffix == ".json"}
        knobs_clip = _clip_named(gallery, gallery / KNOBS_FILE) if knobs else None
        pinned |= {knobs_clip} if knobs_clip else set()
        removed += _remove_clips(gallery / CLIPS, keep={c for c in [*named.values(), knobs_clip] if c})
        clips |= _clip_files(gallery / CLIPS)
        for f, st in mine:
            if f.suffix == ".png":  # an image and its sidecar go together
                stem = f.with_suffix("")
                images.append(_Image(st.st_mtime, st.st_size + sidecars.get(stem, 0), f, named.get(stem)))
    removed += _over_budget(images, clips, pinned, setting(MB_ENV, DEFAULT_MB) * 2**20)
    return removed


def _over_budget(
    images: list[_Image], clips: dict[Path, tuple[tuple[int, int], int]], pinned: set[Path], budget: float
) -> list[Path]:
    """The oldest images while images + distinct clips exceed `budget` bytes; a clip goes when the
    last image naming it went and no knobs name it."""
    users = Counter(image.clip for image in images if image.clip in clips)
    links = Counter(inode for inode, _ in clips.values())
    total = sum(image.size for image in images) + sum({inode: size for inode, size in clips.values()}.values())
    removed: list[Path] = []
    for image in sorted(images, key=lambda i: (i.modified, i.png.name)):
        if total <= budget:
            break
        removed += [f for f in (image.png, image.png.with_suffix(".json")) if _unlink(f)]
        total -= image.size
        clip = image.clip
        if clip is None or clip not in clips:
            continue
        users[clip] -= 1
        if users[clip] or clip in pinned:
            continue
        if not _unlink(clip):
            continue  # still on disk: still counted
        removed.append(clip)
        _rmdir(clip.parent)
        inode, size = clips.pop(clip)
        links[inode] -= 1
        if not links[inode]:  # its last copy in any gallery
            total -= size
    return removed


def remove_images(gallery: Path, stems: list[str]) -> list[Path]:
    """A Delete on the Gallery page (gallery_store.forget): these images' PNG and sidecar, then
    the clips only they named (none that an image left or the knobs name). A file already gone is
    fine (another tab of the gallery deleted it). Returns the image files the disk refused (the
    page says so); a clip left behind goes at the next start, as every unnamed clip does."""
    refused: list[Path] = []
    named: set[Path] = set()
    for stem in stems:
        sidecar = gallery / f"{stem}.json"
        clip = _clip_named(gallery, sidecar)  # read before the sidecar goes
        named |= {clip} if clip else set()
        refused += [f for f in (sidecar.with_suffix(".png"), sidecar) if not _unlink(f)]
    try:
        left = [f for f in gallery.iterdir() if ITEM_NAME.match(f.name) and f.suffix == ".json"]
    except OSError:
        return refused  # the gallery cannot be read: no clip is known to be unnamed
    still = {_clip_named(gallery, f) for f in [*left, gallery / KNOBS_FILE]}
    doomed = named - still
    if doomed:
        _remove_clips(gallery / CLIPS, keep=set(_clip_files(gallery / CLIPS)) - doomed)
    return refused


def _clip_named(gallery: Path, sidecar: Path) -> Path | None:
    """The gallery's clip an image's sidecar (or its knobs.json) names, by hash folder and file name."""
    try:
        path = (json.loads(sidecar.read_text()).get("params") or {}).get("audio_path")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(path, str) or not path:
        return None
    return gallery / CLIPS / Path(path).parent.name / Path(path).name


def _clip_files(folder: Path) -> dict[Path, tuple[tuple[int, int], int]]:
    """Every clip kept in `folder` (`<16 hex>/<file>`), with its (device, inode) and bytes."""
    from studio.uploads import upload_folder_of

    found: dict[Path, tuple[tuple[int, int], int]] = {}
    try:
        for sub in folder.iterdir() if folder.is_dir() and not folder.is_symlink() else []:
            if sub.is_dir() and upload_folder_of(sub / "x", folder) is not None:
                for f in sub.iterdir():
                    if f.is_file() and not f.is_symlink():
                        st = f.stat()
                        found[f] = ((st.st_dev, st.st_ino), st.st_size)
    except OSError:
        pass
    return found


def _remove_clips(folder: Path, keep: set[Path]) -> list[Path]:
    """A gallery's clips that nothing of it names any more (all of them when it goes whole); a
    folder that cannot be read is left."""
    removed = []
    for f in _clip_files(folder):
        if f not in keep and _unlink(f):
            removed.append(f)
            _rmdir(f.parent)
    _rmdir(folder)
    return removed


def _unlink(path: Path) -> bool:
    """Remove one file; False when the disk refused (pruning never stops the studio from starting)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        return False
    return True


def _rmdir(folder: Path) -> None:
    """Remove `folder` if it is empty (a clip's hash folder, a gallery's clips, a gallery)."""
    try:
        folder.rmdir()
    except OSError:
        pass


__all__ = ["prune_galleries", "remove_images"]
