"""The one cache of decoded clips, shared by the engine and the studio, bounded in bytes.

A decoded clip is float32 at its own rate (an hour of 48 kHz stereo: 1.38 GB), so a cache counted in
entries bounds nothing: the studio (32 entries) and the engine (4 clips, plus 32 listenings that
each held their clip) used to keep their own copies, and a few long uploads filled the server.
Now every decode goes through `load_clip_cached`: one ByteLRUCache keyed by the file's identity
(resolved path, size, mtime, inode), so a clip is decoded once and held once, whoever asks.

The budget is the operator's CLAP2DIFF_CLIP_CACHE_MB (default 2048 MB: one clip at the decode
budget of core/audio_budget.py, 1.38 GB, plus a few short ones). A clip larger than the whole
budget is decoded for each use and never kept. A file that does not decode is remembered too
(its message, a few bytes), so a page does not decode a broken file again on every rerun.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .audio import AudioClip, AudioError, load_audio
from .cache import ByteLRUCache, nbytes_of
from .errors import UserError

CLIP_CACHE_ENV = "CLAP2DIFF_CLIP_CACHE_MB"
DEFAULT_CLIP_CACHE_MB = 2048

ClipKey = tuple[str, int, int, int]  # (resolved path, size, mtime_ns, inode): a new version of a file is a new key


class ClipCacheError(UserError, ValueError):
    """CLAP2DIFF_CLIP_CACHE_MB is not a size."""


@dataclass(frozen=True)
class _Undecodable:
    """Why a file version did not decode: cached like a clip, so it is said again without decoding."""

    message: str

    @property
    def nbytes(self) -> int:
        return len(self.message)


def clip_nbytes(value: AudioClip | _Undecodable) -> int:
    """What an entry holds: a clip its samples, a remembered failure its message."""
    return int(value.samples.nbytes) if isinstance(value, AudioClip) else nbytes_of(value)


def clip_cache_budget(env: Mapping[str, str] | None = None) -> int:
    """The operator's budget in bytes (CLAP2DIFF_CLIP_CACHE_MB; 0 caches nothing)."""
    raw = (os.environ if env is None else env).get(CLIP_CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CLIP_CACHE_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0:
        raise ClipCacheError(
            f"{CLIP_CACHE_ENV}={raw!r}: give a size in MB, 0 or more (default {DEFAULT_CLIP_CACHE_MB})"
        )
    return int(mb * 2**20)


def new_clip_cache(max_bytes: int) -> ByteLRUCache:
    """An empty cache of decoded clips holding at most `max_bytes` (the process has one; tests make
    their own)."""
    return ByteLRUCache(max_bytes, sizeof=clip_nbytes)


_cache: ByteLRUCache | None = None
_made = threading.Lock()


def decoded_clips() -> ByteLRUCache:
    """The process's decoded-clip cache (made on first use, with the budget set then)."""
    global _cache
    with _made:
        if _cache is None:
            _cache = new_clip_cache(clip_cache_budget())
        return _cache


def clip_key(path: str | os.PathLike) -> ClipKey:
    """The cache key of the file's current version; AudioError when it cannot be read."""
    p = Path(path).expanduser()
    try:
        stat = p.stat()
        resolved = str(p.resolve())
    except (OSError, RuntimeError):
        raise AudioError(f"{p} does not exist or cannot be opened: check the path or pick another file.") from None
    # The inode too: rsync (or `cp -p` over a removed file) puts other sound under the same size and
    # mtime as a new file, and the old decode (with the old hash, which a PNG would record) must not
    # answer for it. Not the ctime: the studio touches an upload it saves again, and must not decode it again.
    return resolved, stat.st_size, stat.st_mtime_ns, stat.st_ino


def load_clip_cached(path: str | os.PathLike) -> AudioClip:
    """`load_audio(path)`, decoded once per file version for the whole process (AudioError as
    load_audio raises it, also when the failure is remembered)."""
    key = clip_key(path)
    cache = decoded_clips()
    found = cache.get_or_none(key)
    if found is None:
        try:
            found = load_audio(Path(path).expanduser())
        except AudioError as exc:
            found = _Undecodable(str(exc))
        cache.put(key, found)
    if isinstance(found, _Undecodable):
        raise AudioError(found.message)
    return found


def load_clip_checked(path: str | os.PathLike, recorded_sha256: str | None = None) -> AudioClip:
    """`load_clip_cached(path)`, refused when a reproduced image recorded another version of it
    (`recorded_sha256`): the engine's first stage, and the CLI's check before the models load."""
    clip = load_clip_cached(path)
    if recorded_sha256 and recorded_sha256 != clip.sha256:
        raise AudioError(
            f"{Path(path).name} is not the clip this image was made from (its content changed): reproduce "
            "with the original file, or choose the clip again to make a new image."
        )
    return clip


def forget_clip_file(path: str | os.PathLike) -> int:
    """Drop every cached version of the file at `path` (it is being deleted); returns bytes freed."""
    resolved = str(Path(path).expanduser().resolve())
    return decoded_clips().drop(lambda key: isinstance(key, tuple) and key[0] == resolved)


__all__ = [
    "CLIP_CACHE_ENV",
    "DEFAULT_CLIP_CACHE_MB",
    "ClipCacheError",
    "decoded_clips",
    "clip_cache_budget",
    "clip_key",
    "clip_nbytes",
    "forget_clip_file",
    "load_clip_cached",
    "load_clip_checked",
    "new_clip_cache",
]
