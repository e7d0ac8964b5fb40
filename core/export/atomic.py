"""The one atomic write of the project: every file CLAP2Diff writes goes through `atomic_write`.

PNGs, grids, ZIPs, WAV stems, projector checkpoints and studio uploads alike: the bytes go to a temp
file in the target's own folder, are flushed and fsync'ed, then renamed over the target. A reader
never sees half a file; a crash or a full disk never leaves a half-written file where a good one
(or none) was.

Temp files are named ``.<target name>.<12 hex digits>.tmp`` (TEMP_PATTERN): unique per write, so
two writers of one target (two studio sessions uploading the same clip) never share a temp file,
and recognisable: the next write of the same target removes the ones a killed process left behind
(`sweep_stale_temps`), and the CLI turns SIGTERM into an exit that removes its own.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")  # what `atomic_write` names its temp files


def temp_path(path: Path) -> Path:
    """A fresh temp file name beside `path`, matching TEMP_PATTERN."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"


STALE_AFTER_S = 600.0  # a write takes milliseconds: a temp file this old was left by a killed process


def sweep_stale_temps(path: Path, now: float | None = None) -> list[Path]:
    """Remove temp files of `path` (TEMP_PATTERN, same target name) older than STALE_AFTER_S: what a
    process killed mid-write left. A younger one may belong to a writer still at work: kept."""
    now = time.time() if now is None else now
    removed = []
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and TEMP_PATTERN.match(entry.name)):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S and entry.is_file(
                follow_symlinks=False
            ):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` via a temp file in the same folder + os.replace; returns the path.

    Parent folders are created. On any error the temp file is removed and an existing file at
    `path` is left untouched. The file gets mode 0o666 minus the umask (0644 under the usual 022),
    like any file a program writes; tempfile's 0600 would make exported images private.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


__all__ = ["STALE_AFTER_S", "TEMP_PATTERN", "atomic_write", "sweep_stale_temps", "temp_path"]
