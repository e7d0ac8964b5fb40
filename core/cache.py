"""Two LRU dictionaries: `LRUCache` bounded by its number of entries (the engine's per-stage
caches, content key -> result) and `ByteLRUCache` bounded by the bytes its values hold (decoded
audio, listenings with their sources' waveforms: where one entry can be 1000x another, a count says
nothing about memory)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LRUCache(OrderedDict):
    """Keeps the `size` most recently used entries. Not thread-safe: the engine's lock guards it."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or_none(self, key: Hashable) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def nbytes_of(value: Any) -> int:
    """What a value reports it holds (`.nbytes`: numpy arrays, AudioClip), else its len (bytes,
    str), else 0 (small objects: an error message, a marker)."""
    size = getattr(value, "nbytes", None)
    if size is None:
        try:
            size = len(value)
        except TypeError:
            size = 0
    return max(0, int(size))


class ByteLRUCache:
    """Keeps the most recently used entries whose values together hold at most `max_bytes`.

    Thread-safe (the studio's script threads and the engine thread share one). A value larger
    than the whole budget is not cached, only returned: caching it would evict everything else
    and still break the bound. The newest entry that fits is never the one evicted.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[Any], int] = nbytes_of):
        self.max_bytes = max(0, int(max_bytes))
        self._sizeof = sizeof
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes the cached values hold now (at most max_bytes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def keys(self) -> list[Hashable]:
        """Oldest first, newest last."""
        with self._lock:
            return list(self._entries)

    def get_or_none(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Any) -> Any:
        """Cache `value` under `key` (replacing and refreshing an existing one), evicting the least
        recently used entries until the budget holds. Returns `value`, cached or not."""
        size = self._sizeof(value)
        with self._lock:
            self._pop(key)
            if size > self.max_bytes:
                return value
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._pop(next(iter(self._entries)))
        return value

    def drop(self, where: Callable[[Hashable], bool]) -> int:
        """Remove every entry whose key matches `where`; returns the bytes freed."""
        with self._lock:
            before = self._bytes
            for key in [k for k in self._entries if where(k)]:
                self._pop(key)
            return before - self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _pop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]


__all__ = ["ByteLRUCache", "LRUCache", "nbytes_of"]
