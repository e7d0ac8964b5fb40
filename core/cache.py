"""A small LRU dictionary: the engine's per-stage caches (content key -> result)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
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
