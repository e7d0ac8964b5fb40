"""core.cache.LRUCache: which entry goes when it is full, and that a read counts as a use."""

from __future__ import annotations

import pytest

from core.cache import LRUCache


def filled(size: int, keys: str) -> LRUCache:
    cache = LRUCache(size)
    for k in keys:
        cache.put(k, k.upper())
    return cache


def test_evicts_the_least_recently_put_first():
    cache = filled(3, "abcde")
    assert list(cache) == ["c", "d", "e"]  # oldest first, newest last
    assert len(cache) == 3 and cache.size == 3
    assert cache.get_or_none("a") is None and cache.get_or_none("b") is None
    assert [cache.get_or_none(k) for k in "cde"] == ["C", "D", "E"]


@pytest.mark.parametrize("size", [1, 2, 5])
def test_the_newest_entry_is_never_evicted(size):
    cache = LRUCache(size)
    for i in range(3 * size + 1):
        cache.put(i, i * 10)
        assert cache.get_or_none(i) == i * 10  # just put: always there
        assert len(cache) == min(i + 1, size)
    assert list(cache) == list(range(2 * size + 1, 3 * size + 1))


def test_get_refreshes_so_the_entry_read_survives():
    cache = filled(3, "abc")
    assert cache.get_or_none("a") == "A"  # a is now the most recently used
    cache.put("d", "D")
    assert list(cache) == ["c", "a", "d"]  # b was the least recently used
    assert cache.get_or_none("b") is None


def test_a_miss_does_not_change_the_order():
    cache = filled(2, "ab")
    assert cache.get_or_none("zz") is None
    cache.put("c", "C")
    assert list(cache) == ["b", "c"]


def test_putting_an_existing_key_replaces_and_refreshes_it():
    cache = filled(3, "abc")
    cache.put("a", "new")
    assert len(cache) == 3 and list(cache) == ["b", "c", "a"]
    cache.put("d", "D")
    assert list(cache) == ["c", "a", "d"] and cache.get_or_none("a") == "new"


def test_sizes_are_independent_per_cache():
    small, big = filled(1, "abc"), filled(10, "abc")
    assert list(small) == ["c"] and list(big) == ["a", "b", "c"]
