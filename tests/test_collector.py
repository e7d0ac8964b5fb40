"""studio/collector.py: long-lived objects leave the per-rerun collection, garbage never gets frozen,
and what an engine leaves behind stays collectable."""

from __future__ import annotations

import gc
import weakref

import pytest

from studio import collector


class Node:
    """A weak-referenceable object to build reference cycles with."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[weakref.ref, weakref.ref]:
    """Two objects that only reference each other (freed by the collector, never by refcounts)."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a), weakref.ref(b)


@pytest.fixture
def thawed():
    """Every test starts and ends with nothing frozen (this process keeps its collector as it is)."""
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()


def test_settle_freezes_what_lives_so_a_full_collection_walks_little(thawed):
    keep = [Node() for _ in range(2000)]
    assert collector.loose_objects() > 2000
    assert collector.settle(threshold=1000)
    assert gc.get_freeze_count() > len(keep)
    assert collector.loose_objects() < 1000  # what gc.collect(2) walks after every rerun
    assert not collector.settle(threshold=1000)  # nothing new: nothing to do


def test_settle_does_nothing_below_its_threshold(thawed):
    assert not collector.settle(threshold=collector.loose_objects() + 10_000)
    assert gc.get_freeze_count() == 0


def test_garbage_is_collected_before_freezing_not_frozen(thawed):
    gc.disable()  # the automatic collector must not get there first
    try:
        a, b = cycle()
        assert a() is not None
        collector.settle(threshold=0)
        assert a() is None and b() is None
    finally:
        gc.enable()


def test_cycles_made_after_settling_are_still_collected(thawed):
    collector.settle(threshold=0)
    a, _ = cycle()
    gc.collect(2)  # Streamlit's per-run collection
    assert a() is None


def test_a_released_resource_lets_frozen_cycles_go_at_the_next_settle(thawed):
    gc.disable()
    try:
        a, b = cycle()
        held = a()
        collector.settle(threshold=0)  # the cycle is alive, so frozen with everything else
        del held
        gc.collect(2)
        assert a() is not None  # frozen: the collector does not see it
        collector.release()  # e.g. an engine left the loader's cache
        assert gc.get_freeze_count() == 0
        collector.settle(threshold=0)
        assert a() is None and b() is None
    finally:
        gc.enable()


def test_only_a_streamlit_server_settles(thawed):
    assert not collector.settle_on_server()  # a test process: no Streamlit runtime
    assert gc.get_freeze_count() == 0


def test_an_engine_leaving_the_loaders_cache_releases(thawed, monkeypatch):
    import core
    from studio import loader

    monkeypatch.setenv("CLAP2DIFF_ANY_MODELS", "1")
    monkeypatch.setattr(core, "Engine", lambda spec: Node())  # an engine in the cache, cheaply
    spec = "/a/models/folder"
    assert loader.load_engine(spec).ok
    gc.freeze()
    loader.forget(spec)
    assert gc.get_freeze_count() == 0


def test_a_finished_job_does_not_keep_what_its_task_used(thawed):
    from studio.jobs import Job

    held = Node()
    ref = weakref.ref(held)
    job = Job("listen", lambda job, used=held: "done").start()
    del held
    assert job.wait(10) and job.result == "done"
    assert ref() is None  # the task (and the engine it closes over) went with it
