"""Where the studio keeps uploaded and recorded clips, and how old ones go away.

The engine reads audio from paths (its caches key on the file's content), so an upload is written
to `<temp>/clap2diff-uploads/<first 16 hex of its sha256>/<sanitised name>` (CLAP2DIFF_UPLOADS
overrides the folder). Nothing deletes them while the studio runs: a recalled image may point at
one. When the server starts, `prune_uploads` removes the ones untouched for a day.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

UPLOADS_ENV = "CLAP2DIFF_UPLOADS"
MAX_AGE_S = 24 * 3600.0  # an upload untouched for a day is pruned at the next start
_DIGEST_DIR = re.compile(r"^[0-9a-f]{16}$")  # only folders save_upload made are ever pruned


def uploads_dir() -> Path:
    return Path(os.environ.get(UPLOADS_ENV) or Path(tempfile.gettempdir()) / "clap2diff-uploads")


def save_upload(name: str, data: bytes) -> Path:
    """Store an upload content-addressed; written atomically. Saving the same content again
    refreshes its time, so a clip in use is never the one pruned."""
    from core.export import atomic_write, sanitize_filename

    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = uploads_dir() / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / sanitize_filename(name or "audio.wav", "audio.wav")
    if not path.exists() or path.stat().st_size != len(data):
        atomic_write(path, data)  # a unique temp name: two sessions saving one clip never collide
    else:
        os.utime(path)
    return path


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


__all__ = ["MAX_AGE_S", "UPLOADS_ENV", "prune_uploads", "save_upload", "uploads_dir"]
