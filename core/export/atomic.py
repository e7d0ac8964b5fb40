"""The one atomic write of the project: every file CLAP2Diff writes goes through `atomic_write`.

PNGs, grids, ZIPs, WAV stems, projector checkpoints and studio uploads alike: the bytes go to a temp
file in the target's own folder, are flushed and fsync'ed, then renamed over the target, and the
folder is fsync'ed so that the rename itself survives a power cut. A reader never sees half a file;
a crash or a full disk never leaves a half-written file where a good one (or none) was.

Temp files are named ``.<target name>.<12 hex digits>.tmp`` (TEMP_PATTERN): unique per write, so
two writers of one target (two studio sessions uploading the same clip) never share a temp file,
and recognisable: the next write of the same target removes the ones a killed process left behind
(`sweep_stale_temps`), and the CLI turns SIGTERM into an exit that removes its own.

`check_target` runs before any work (a generation, a sweep) so that an output that cannot be written
fails in a second, not after the render: it refuses anything that is not a regular file (a device
node, a FIFO: `os.replace` would swap it for a plain file), a read-only file unless forced, and a
name whose temp name is too long for the file system; a trailing slash means "a folder".
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
import uuid
from pathlib import Path

from .formats import ExportError

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
    _refuse_special(path)
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
    _sync_folder(path.parent)
    return path


def publish_folder(work: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Rename the finished folder `work` to `target` (absent or an empty folder), so `target` appears
    whole or not at all. False, with `work` left for the caller to remove, when another writer made
    `target` first (a folder with something in it): the caller decides whether that one will do."""
    try:
        os.rename(work, target)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and Path(target).is_dir():
            return False
        raise
    _sync_folder(Path(target).parent)
    return True


def _sync_folder(folder: Path) -> None:
    """fsync the folder that holds a renamed file: until its entry is on disk, a power cut may bring
    back the old file (or none) although the write returned. Best effort: the file is in place and
    complete either way, and some file systems (and Windows) cannot sync a folder."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _refuse_special(path: Path) -> None:
    """A device node or FIFO (or a link to one) is never replaced: writing there is not saving."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
        raise ExportError(f"{path} is {kind}: give the name of a file to write")


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _read_only(path: Path) -> bool:
    """No write permission, or no write bit at all: root (a container's usual user) may write
    anything, yet a file someone made read-only is still replaced only with --force."""
    return not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222


def check_target(path: str | os.PathLike, *, force: bool = False, default_name: str = "") -> Path:
    """The file a later `atomic_write` will write, checked now: returns it, or raises ExportError.

    `path` ending in a separator means a folder (created if missing): the file is `default_name`
    inside it. Refused: a name (or its temp name) too long for the file system, a non-regular file,
    a read-only file (unless `force`), a folder that is not writable. The nearest existing folder is probed by creating and removing the temp file itself.
    """
    raw = os.fspath(path)
    target = Path(raw).expanduser()
    if raw.endswith(("/", os.sep)):
        if not default_name:
            raise ExportError(f"{raw} is a folder: give a file name like {target / 'image.png'}")
        target = target / default_name
    parent = target.parent
    existing = next((p for p in (parent, *parent.parents) if _exists(p)), Path("."))
    limit = _name_max(existing)  # names first: a stat of a too-long path fails with ENAMETOOLONG
    to_create = [(p.name, limit) for p in target.parents if existing in p.parents]
    for name, most in [(target.name, limit - (len(temp_path(target).name) - len(target.name))), *to_create]:
        if len(name) > most:
            raise ExportError(
                f"name too long for this file system: {name[:24]}... has {len(name)} characters (at most {most})"
            )
    if target.is_dir():
        raise ExportError(f"{raw} is a folder: give a file name like {target / 'image.png'}")
    _refuse_special(target)
    if target.exists() and not force and _read_only(target):
        raise ExportError(f"{target} is read-only: choose another name, or add --force to replace it")
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ExportError(f"cannot write {target}: {existing} is not a writable folder")
    if existing == parent:  # the folder exists: prove the temp file can be created there
        probe = temp_path(target)
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
        os.unlink(probe)
    return target


def check_folder(path: str | os.PathLike, *, first_file: str) -> Path:
    """The folder a later save fills (made then if missing), checked now as `check_target` checks
    `first_file` inside it: a sweep, a comparison, an evaluation or a training run learns that its
    folder cannot be written before its work, not after."""
    raw = os.fspath(path)
    if not raw.strip():
        raise ExportError("no folder given: name the folder to write into")
    folder = Path(raw).expanduser()
    if _exists(folder) and not folder.is_dir():
        raise ExportError(f"{raw} is a file: give a folder")
    # force: these commands replace their own files of an earlier run, read-only or not
    return check_target(os.path.join(raw, ""), force=True, default_name=first_file).parent


def prune_earlier(folder: str | os.PathLike, own: re.Pattern[str], kept: set[str]) -> None:
    """Remove the files in `folder` named as this command names its own (`own`, a full match)
    except the names this run wrote (`kept`): a rerun into the same folder (fewer tiles, fewer
    seeds) must not leave an earlier run's images beside the new ones. Anything else stays."""
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError:
        return
    for entry in entries:
        if own.fullmatch(entry.name) and entry.name not in kept and entry.is_file():
            try:
                entry.unlink()
            except OSError:
                pass  # read-only folder: the earlier file stays, the new run's files are correct


__all__ = [
    "STALE_AFTER_S",
    "TEMP_PATTERN",
    "atomic_write",
    "publish_folder",
    "check_folder",
    "check_target",
    "prune_earlier",
    "sweep_stale_temps",
    "temp_path",
]
