"""Where the studio keeps uploaded and recorded clips, and how old ones go away.

The engine reads audio from paths (its caches key on the file's content), so an upload is written
to `<temp>/clap2diff-uploads/<first 16 hex of its sha256>/<sanitised name>` (CLAP2DIFF_UPLOADS
overrides the folder). When the last session that used an upload ends, the janitor deletes it
(`delete_upload`, studio/janitor.py); when the server starts, `prune_uploads` removes the ones
untouched for a day (left by a server that stopped before its sessions ended).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

from core.errors import UserError

UPLOADS_ENV = "CLAP2DIFF_UPLOADS"
MAX_AGE_S = 24 * 3600.0  # an upload untouched for a day is pruned at the next start
_DIGEST_DIR = re.compile(r"^[0-9a-f]{16}$")  # only folders save_upload made are ever pruned


class UploadError(UserError, OSError):
    """An upload the server could not store (its disk full, its folder not writable). An OSError
    still (callers that caught one keep working), and a UserError: its message names the file as
    sent, never the server's folder, and says what to do, so a page shows it instead of a traceback."""


_FULL = (errno.ENOSPC, errno.EDQUOT)


def save_problem(name: str, exc: OSError, then: str = "upload it again") -> str:
    """Why `name` could not be stored, for people: a full disk (or quota) says to free space; any
    other failure by its reason alone (its text would quote the server's folders)."""
    if exc.errno in _FULL:
        return (
            f"{name} could not be saved: the server's disk is full. Free some space there (or ask the "
            f"studio's operator to), then {then}; your settings and results are kept."
        )
    reason = exc.strerror or type(exc).__name__
    return f"{name} could not be saved on the server ({reason}): {then}, or ask the studio's operator."


def uploads_dir() -> Path:
    return Path(os.environ.get(UPLOADS_ENV) or Path(tempfile.gettempdir()) / "clap2diff-uploads")


def save_upload(name: str, data: bytes) -> Path:
    """Store an upload content-addressed; written atomically. Saving the same content again
    refreshes its time, so a clip in use is never the one pruned. Raises UploadError when the
    server cannot store it (a full disk)."""
    from core.export import atomic_write, sanitize_filename

    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = uploads_dir() / digest
    path = folder / sanitize_filename(name or "audio.wav", "audio.wav")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if path.stat().st_size == len(data):
                os.utime(path)
                return path
        except FileNotFoundError:  # never saved, or the janitor removed it between the two calls
            pass
        atomic_write(path, data)  # a unique temp name: two sessions saving one clip never collide
    except OSError as exc:
        failed = UploadError(save_problem(name or path.name, exc))
        failed.errno = exc.errno
        raise failed from exc
    return path


def upload_folder_of(path: Path, root: Path | None = None) -> Path | None:
    """The `<uploads>/<16 hex>/` folder holding `path` if save_upload made it, else None: only
    such files are ever deleted, so CLAP2DIFF_UPLOADS pointing at other files never loses one."""
    folder = path.parent
    try:
        inside = folder.parent.resolve() == (root or uploads_dir()).resolve()
    except OSError:
        return None
    if not inside or not _DIGEST_DIR.match(folder.name) or folder.is_symlink():
        return None
    return folder


def delete_upload(path: str | os.PathLike, unless_saved_since: float | None = None) -> bool:
    """Delete one upload (and its folder once empty); False when it is not one, is gone, or was
    saved again at or after `unless_saved_since` (a time.time()): then someone else just chose it."""
    path = Path(path)
    folder = upload_folder_of(path)
    if folder is None:
        return False
    try:
        if not path.is_file() or path.is_symlink():
            return False
        if unless_saved_since is not None and path.stat().st_mtime >= unless_saved_since:
            return False
        path.unlink()
    except OSError:
        return False
    try:
        folder.rmdir()  # only succeeds when it is empty now
    except OSError:
        pass
    return True


def prune_uploads(max_age_s: float = MAX_AGE_S, now: float | None = None, folder: Path | None = None) -> list[Path]:
    """Delete uploads (and left-over temp files) not modified for `max_age_s`; returns what went.

    Only files inside `<uploads>/<16 hex digits>/` are candidates (the layout save_upload makes),
    so pointing CLAP2DIFF_UPLOADS at a folder with other files never deletes those. Folders left
    empty are removed too. Errors (a file another process just removed, permissions) are skipped.
    """
    root = folder or uploads_dir()
    cutoff = (time.time() if now is None else now) - max_age_s
    removed: list[Path] = []
    try:
        subdirs = [d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and _DIGEST_DIR.match(d.name)]
    except OSError:
        return removed  # no uploads folder yet
    for sub in subdirs:
        try:
            files = list(sub.iterdir())
        except OSError:
            continue
        for f in files:
            try:
                if f.is_file() and not f.is_symlink() and f.stat().st_mtime < cutoff:
                    f.unlink()
                    removed.append(f)
            except OSError:
                continue
        try:
            sub.rmdir()  # only succeeds when it is empty now
        except OSError:
            pass
    return removed


__all__ = [
    "MAX_AGE_S",
    "UPLOADS_ENV",
    "UploadError",
    "delete_upload",
    "prune_uploads",
    "save_problem",
    "save_upload",
    "upload_folder_of",
    "uploads_dir",
]
