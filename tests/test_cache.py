"""core.cache: which entry goes when it is full (LRUCache by count, ByteLRUCache by bytes), and
that a read counts as a use."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.cache import ByteLRUCache, LRUCache, nbytes_of


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


# -- ByteLRUCache: bounded by the bytes its values hold ---------------------------------------------
def blob(n: int, fill: int = 0) -> np.ndarray:
    return np.full(n, fill, dtype=np.uint8)  # .nbytes == n


def test_byte_cache_evicts_the_oldest_until_the_bytes_fit():
    cache = ByteLRUCache(100)
    for key, size in zip("abcd", (40, 30, 20, 50)):
        cache.put(key, blob(size))
    assert cache.keys() == ["b", "c", "d"]  # only a (40) went: 30 + 20 + 50 = 100 fits exactly
    assert cache.nbytes == 100 and len(cache) == 3
    cache.put("e", blob(40))  # b (30) alone is not enough room: c (20) goes too
    assert cache.keys() == ["d", "e"] and cache.nbytes == 90


def test_byte_cache_counts_bytes_not_entries():
    cache = ByteLRUCache(1000)
    for i in range(100):  # a hundred small entries fit where one large one would not
        cache.put(i, blob(10))
    assert len(cache) == 100 and cache.nbytes == 1000
    cache.put("big", blob(600))
    assert len(cache) == 41 and cache.nbytes == 1000 and cache.keys()[0] == 60


@pytest.mark.parametrize("size", [1, 50, 99, 100])
def test_byte_cache_always_keeps_the_newest_entry_that_fits(size):
    cache = ByteLRUCache(100)
    for i in range(10):
        value = cache.put(i, blob(size, i))
        assert value is cache.get_or_none(i)  # just put: there, and what put returned
        assert cache.nbytes <= 100
    assert cache.keys()[-1] == 9 and cache.nbytes == size * len(cache)


def test_an_entry_larger_than_the_budget_is_returned_but_not_cached():
    cache = ByteLRUCache(100)
    cache.put("small", blob(60))
    big = blob(101)
    assert cache.put("big", big) is big
    assert cache.get_or_none("big") is None and "big" not in cache
    assert cache.keys() == ["small"] and cache.nbytes == 60  # nothing was evicted for it


def test_a_new_version_too_large_to_cache_drops_the_old_one():
    cache = ByteLRUCache(100)
    cache.put("k", blob(10))
    cache.put("k", blob(500))
    assert "k" not in cache and cache.nbytes == 0  # never the stale value


def test_byte_cache_get_refreshes_and_replacing_recounts():
    cache = ByteLRUCache(100)
    cache.put("a", blob(40))
    cache.put("b", blob(40))
    assert cache.get_or_none("a") is not None  # a is now the most recently used
    cache.put("c", blob(40))
    assert cache.keys() == ["a", "c"]
    cache.put("a", blob(10))  # replaced: its old 40 bytes no longer count
    assert cache.nbytes == 50 and cache.keys() == ["c", "a"]


def test_byte_cache_drop_frees_what_matches():
    cache = ByteLRUCache(1000)
    for key, size in ((("x", 1), 100), (("x", 2), 200), (("y", 1), 300)):
        cache.put(key, blob(size))
    assert cache.drop(lambda k: k[0] == "x") == 300
    assert cache.keys() == [("y", 1)] and cache.nbytes == 300
    assert cache.drop(lambda k: False) == 0


def test_byte_cache_sizes_values_by_nbytes_or_len():
    assert nbytes_of(blob(7)) == 7 and nbytes_of(b"abc") == 3 and nbytes_of("hi") == 2 and nbytes_of(3.5) == 0
    cache = ByteLRUCache(100, sizeof=lambda v: 60)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.keys() == ["b"] and cache.nbytes == 60


def test_byte_cache_stays_within_its_budget_under_threads():
    cache = ByteLRUCache(10_000)

    def work(t: int) -> None:
        for i in range(300):
            cache.put((t, i % 50), blob(100 + (i * 37 + t) % 400))
            cache.get_or_none((t, (i * 7) % 50))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    held = sum(cache.get_or_none(k).nbytes for k in cache.keys())
    assert cache.nbytes == held <= 10_000
