"""The gallery kept on disk, so that a server restart (or a closed tab) does not empty it.

Each browser gets a random gallery code in its address (`?gallery=...`, like `?models=`): a
bookmark or a reload brings the same gallery back, on any session of this server, and nobody can
guess another's. Every image added to a session's history is written to
`<uploads>/galleries/<code>/<time>-<random>.png` (the PNG exactly as downloaded) with a `.json` beside it
(what the studio needs besides the pixels: params, trace, timings, caption); a new session with the
same code reads them back, and the Gallery's Delete removes them (`forget`). `knobs.json` beside
them holds what the knobs last showed (studio/knob_memory.py says what and when). Kept like
uploads: at most HISTORY_LIMIT images per gallery, and at server start old galleries go, then the
oldest images over the size budget (studio/gallery_prune.py). Writes go through atomic_write; a
gallery that cannot be written or read is skipped (the studio still works from memory) and the
Gallery page says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import itertools
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.history import HISTORY_LIMIT, HistoryItem

if TYPE_CHECKING:
    from studio.session import Session

GALLERY_QUERY = "gallery"  # the URL's ?gallery=<code>
DAYS_ENV = "CLAP2DIFF_GALLERY_DAYS"
MB_ENV = "CLAP2DIFF_GALLERY_MB"
DEFAULT_DAYS = 7.0  # a gallery nobody opened for a week goes at the next start
DEFAULT_MB = 2048.0  # all galleries together (60 renders of 1024² are about 100 MB)
_CODE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # what new_code makes: never a path
_STEM_TEXT = r"\d{13}-[0-9a-f]{8}"  # <ms since 1970>-<random>: time order, no clash
ITEM_NAME = re.compile(rf"^({_STEM_TEXT})\.(png|json)$")
_STEM = re.compile(rf"^{_STEM_TEXT}$")  # an item's name without its extension
KNOBS_FILE = "knobs.json"  # what the knobs last showed (studio/knob_memory.py): goes with its gallery
NUMBERS_FILE = "numbers.json"  # the last image number the gallery gave (next_number): goes with it
LOCK_FILE = ".lock"  # what its tabs lock to change the two files above (_locked): goes with it
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}  # flock refused by the file system
CLIPS = "clips"  # <gallery>/clips/<16 hex>/<name>: the uploads its images and knobs use, kept with it


def galleries_dir() -> Path:
    from studio.uploads import uploads_dir

    return uploads_dir() / "galleries"


def new_code() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits


def valid_code(text: str | None) -> str | None:
    return text if text and _CODE.match(text) else None


def setting(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default


# -- writing and reading one gallery ---------------------------------------------------------------
def retention_note() -> str:
    """What the Gallery page tells people about where their images are kept and for how long."""
    days = setting(DAYS_ENV, DEFAULT_DAYS)
    return (
        f"Kept on this server under the gallery code in this page's address (`?{GALLERY_QUERY}=…`): bookmark "
        f"it to see these images again after a reload, in another tab or after a restart; anyone with the "
        f"address sees them (and can change the knobs it remembers, with the clips you uploaded). A gallery not opened "
        f"for {days:g} days is removed; the newest {HISTORY_LIMIT} images are kept."
    )


def clips_dir(code: str) -> Path:
    """Where gallery `code` keeps the uploads it uses, laid out as the uploads are (find_clip looks
    there by name and hash)."""
    return galleries_dir() / code / CLIPS


def kept_clip(code: str, path: str) -> Path | None:
    """Gallery `code`'s own copy of the upload at `path`, if it has one."""
    copy = clips_dir(code) / Path(path).parent.name / Path(path).name
    return copy if copy.is_file() else None


def keep_clip(code: str, path: str | None) -> None:
    """Keep the upload at `path` with gallery `code` (a hard link: no second copy while the upload
    lives), so that a Recall or a reload days later still finds it after the upload itself went
    (uploads go once no tab uses them). Samples and the operator's files are not copied."""
    from studio.uploads import upload_folder_of

    source = Path(path) if path else None
    if source is None or upload_folder_of(source) is None or not source.is_file():
        return
    target = clips_dir(code) / source.parent.name / source.name
    if target.exists():
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            return  # another tab of this gallery linked it first
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            from core.export import atomic_write  # another file system: a copy, written as every file is

            atomic_write(target, source.read_bytes())
    except OSError:
        pass  # the gallery works without it: a later Recall says the clip is not here


def keep(code: str, item: HistoryItem, limit: int) -> bool:
    """Write `item` into gallery `code` (with the upload it was made from) and drop its images
    beyond the newest `limit`. False when the disk refused (the image stays in memory only)."""
    from core.export import atomic_write

    folder = galleries_dir() / code
    keep_clip(code, item.params.audio_path)
    sidecar = {
        "id": item.id,
        "kind": item.kind,
        "caption": item.caption,
        "created": item.created,
        "params": item.params.to_dict(),
        "trace": item.trace.to_dict(),
        "timings": {k: float(v) for k, v in item.timings.items()},
        "device": item.device,
        "dtype": item.dtype,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        newest = max((int(stem.split("-")[0]) for stem in _stems(folder)), default=0)
        ms = max(int(time.time() * 1000), newest + 1)  # names in the order kept (a Keep adds many in one ms)
        stem = f"{ms:013d}-{secrets.token_hex(4)}"  # two tabs of one gallery never clash
        atomic_write(folder / f"{stem}.png", item.png)
        atomic_write(folder / f"{stem}.json", json.dumps(sidecar).encode())
        item.stem = stem  # what a Delete removes (forget)
        for old in sorted(_stems(folder))[:-limit]:
            for ext in ("png", "json"):
                (folder / f"{old}.{ext}").unlink(missing_ok=True)
    except OSError:
        return False
    return True


def next_number(code: str, at_least: int) -> int | None:
    """The next image number of gallery `code`: at least `at_least` and above every number it gave
    before, so that two tabs of one gallery, or a new tab after a Delete of the newest image, never
    show two images under one number. None when the disk refused (the session numbers alone)."""
    from core.export import atomic_write

    folder = galleries_dir() / code
    try:
        with _locked(folder):
            number = max(_last_number(folder) + 1, at_least)
            atomic_write(folder / NUMBERS_FILE, json.dumps({"last": number}).encode())
    except OSError:
        return None
    return number


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One read-change-write of a gallery's shared files at a time: its tabs are threads of this
    server (or another server on the same folder). A file system without locks (some network
    mounts) gets the write unlocked, as before there was a lock, rather than none. Raises OSError
    when the folder cannot be made."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)  # writable: NFS locks need it
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
        yield
    finally:
        os.close(handle)  # and with it the lock


def _last_number(folder: Path) -> int:
    try:
        last = json.loads((folder / NUMBERS_FILE).read_text()).get("last")
    except (OSError, ValueError, AttributeError):
        return 0  # none yet (a gallery from before numbers were kept), or damaged: the session's count
    return last if type(last) is int and last > 0 else 0


def update_knobs(code: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]) -> bool:
    """Write `change(what the file holds now)` as gallery `code`'s knobs, with no other tab's
    write between the read and the write (it would be lost). False when the disk refused."""
    from core.export import atomic_write

    folder = galleries_dir() / code
    try:
        with _locked(folder):
            text = json.dumps(change(load_knobs(code, touch=False)), default=str)
            atomic_write(folder / KNOBS_FILE, text.encode())
    except OSError:
        return False
    return True


def load_knobs(code: str, touch: bool = True) -> dict[str, Any] | None:
    """What the knobs of gallery `code` last showed; None when nothing (readable) was kept. Read
    by a new session (`touch`: opened, so its age counts from now) and before each write."""
    path = galleries_dir() / code / KNOBS_FILE
    try:
        data = json.loads(path.read_text())
        if touch:
            os.utime(path)  # opened: its age counts from now, as the images'
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stems(folder: Path) -> set[str]:
    try:
        return {m.group(1) for f in folder.iterdir() if (m := ITEM_NAME.match(f.name))}
    except OSError:
        return set()


def load(code: str) -> list[HistoryItem]:
    """The images of gallery `code`, oldest first, under the numbers they were shown with; an image
    whose files are damaged is skipped. Where two images have one number (tabs of a gallery from
    before `next_number`), the later gets the next free one, as does one kept without a number."""
    folder = galleries_dir() / code
    return _numbered(_read(folder, sorted(_stems(folder))))


def _read(folder: Path, stems: list[str]) -> list[HistoryItem]:
    """The images kept under `stems` (damaged ones skipped), numbered as their sidecars say (0: none)."""
    from PIL import Image

    from core.params import GenerationParams
    from core.trace import Trace

    items = []
    for stem in stems:
        try:
            png = (folder / f"{stem}.png").read_bytes()
            meta: dict[str, Any] = json.loads((folder / f"{stem}.json").read_text())
            for ext in ("png", "json"):
                os.utime(folder / f"{stem}.{ext}")  # opened: its age counts from now
            image = Image.open(io.BytesIO(png))
            image.load()
            stored = meta.get("id")
            items.append(
                HistoryItem(
                    id=stored if type(stored) is int and stored > 0 else 0,  # 0: numbered below
                    kind=str(meta["kind"]),
                    params=GenerationParams.from_dict(meta["params"]),
                    png=png,
                    image=image.convert("RGB"),
                    trace=Trace.from_dict(meta["trace"]),
                    timings={k: float(v) for k, v in meta.get("timings", {}).items()},
                    device=str(meta.get("device", "cpu")),
                    dtype=str(meta.get("dtype", "float32")),
                    caption=str(meta.get("caption", "")),
                    created=float(meta.get("created", 0.0)),
                    stem=stem,
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return items


def sync(session: Session) -> bool:
    """Bring this tab's history in line with its gallery on disk (app.py, every full run): images
    another tab of the gallery kept appear, images it deleted go, and Generate stops showing a
    render deleted there. A folder listing; only the images new to this tab are read. Returns
    whether the history changed."""
    if session.gallery_code is None:
        return False
    folder = galleries_dir() / session.gallery_code
    on_disk = _stems(folder)
    if not on_disk and not folder.is_dir():
        return False  # nothing kept yet (or the disk refused): the history in memory is all there is
    mine = {h.stem for h in session.history if h.stem}
    new, gone = on_disk - mine, mine - on_disk
    if not new and not gone:
        return False
    kept = [h for h in session.history if h.stem not in gone]  # never-kept images (stem "") stay
    merged = sorted([*kept, *_read(folder, sorted(new))], key=lambda h: (h.id == 0, h.id, h.created))
    session.history[:] = _numbered(merged)[-HISTORY_LIMIT:]
    session.gallery_files.clear()
    if session.render.result is not None and session.render.result.stem in gone:
        session.render.result = None
    return True


def _numbered(items: list[HistoryItem]) -> list[HistoryItem]:
    """Each item keeps its number unless an earlier one has it (or it has none): then the next
    number after all of them. In number order, as the session showed them."""
    taken: set[int] = set()
    later = itertools.count(max((h.id for h in items), default=0) + 1)
    for item in items:
        if item.id == 0 or item.id in taken:
            item.id = next(later)
        taken.add(item.id)
    return sorted(items, key=lambda h: h.id)


def forget(code: str, stems: list[str]) -> list[Path]:
    """Delete images of gallery `code` (Session.forget: the Gallery's Delete) by the names they
    were kept or read under, not by number: a gallery from before numbers were counted (or whose
    disk refused `next_number`) may hold one number twice, and `load` renumbers the later. The clips
    only they named go too. Never raises: returns the files the disk would not remove (with either
    of its files gone an image is not read back)."""
    from studio.gallery_prune import remove_images

    if valid_code(code) is None:
        return []
    return remove_images(galleries_dir() / code, [s for s in stems if _STEM.match(s)])


def attach(session: Session, query: MutableMapping[str, Any]) -> None:
    """Give `session` its gallery code (the link's, else a new one, written into the link) and, on
    its first run, the images kept under that code."""
    if session.gallery_code is None:
        code = valid_code(query.get(GALLERY_QUERY)) or new_code()
        session.gallery_code = code
        session.restore_history(load(code))
        from studio.janitor import claim

        for item in session.history:  # its clips: kept while this session can recall them
            if item.params.audio_path:
                claim(item.params.audio_path)
    if query.get(GALLERY_QUERY) != session.gallery_code:
        query[GALLERY_QUERY] = session.gallery_code  # a reload or a bookmark comes back to it


__all__ = [
    "DAYS_ENV",
    "GALLERY_QUERY",
    "KNOBS_FILE",
    "LOCK_FILE",
    "MB_ENV",
    "NUMBERS_FILE",
    "ITEM_NAME",
    "setting",
    "attach",
    "sync",
    "clips_dir",
    "galleries_dir",
    "forget",
    "keep",
    "keep_clip",
    "kept_clip",
    "update_knobs",
    "load",
    "load_knobs",
    "new_code",
    "next_number",
    "retention_note",
    "valid_code",
]
