"""The engine thread's queue puts interactive work first (studio/worker.py): a preview never waits
for batch work queued before it, and a running Compare lets it through between two images."""

from __future__ import annotations

import threading

from studio import jobs, worker


def test_interactive_work_overtakes_queued_batch_work():
    gate, order = threading.Event(), []
    blocker = worker.submit(gate.wait, 30)  # the thread is busy with batch work
    batch = worker.submit(order.append, "batch")
    urgent = worker.submit(order.append, "preview", priority=worker.INTERACTIVE)
    gate.set()
    for f in (blocker, batch, urgent):
        f.result(timeout=30)
    assert order == ["preview", "batch"]


def test_a_jobs_kind_decides_its_place_in_the_queue():
    """A Sweep or Compare Job queued first still runs after a preview queued behind it."""
    gate, order = threading.Event(), []
    blocker = worker.submit(gate.wait, 30)
    started = [
        jobs.Job(kind, lambda job, kind=kind: order.append(kind)).start(owner="tab-q")
        for kind in ("sweep", "compare", "preview", "edit")
    ]
    gate.set()
    blocker.result(timeout=30)
    assert all(job.wait(30) and job.ok for job in started)
    assert order == ["preview", "edit", "sweep", "compare"]


def test_yield_runs_waiting_interactive_work_inside_batch_work_only():
    order: list[str] = []
    started, go_on = threading.Event(), threading.Event()

    def long_batch() -> int:
        order.append("batch part 1")
        started.set()
        go_on.wait(30)
        ran = worker.yield_to_interactive()
        order.append("batch part 2")
        return ran

    batch = worker.submit(long_batch)
    assert started.wait(30)
    later_batch = worker.submit(order.append, "later batch")
    preview = worker.submit(order.append, "preview", priority=worker.INTERACTIVE)
    go_on.set()
    assert batch.result(timeout=30) == 1 and preview.done()
    later_batch.result(timeout=30)
    assert order == ["batch part 1", "preview", "batch part 2", "later batch"]
    assert worker.yield_to_interactive() == 0  # off the engine thread: nothing runs here


def test_a_preview_finishes_before_a_running_compare(tiny_engine, tiny_params):
    """Another session's preview, started once the Compare is under way, ends before it."""
    base = tiny_params.replace(steps=4, width=64, height=64)
    compare = jobs.compare_job(tiny_engine, base, ["mix", "bands"], alone=True, without=True)
    while not compare.partial and not compare.done.is_set():  # the Compare's first image is made
        compare.wait(0.01)
    assert not compare.done.is_set(), "the Compare ended before the test could race it"
    preview = jobs.generation_job(tiny_engine, base.replace(steps=2, seed=9), kind="preview")
    assert preview.wait(120) and compare.wait(120)
    assert preview.ok and compare.ok
    assert preview.finished < compare.finished  # first come would have made it wait for every image


def test_a_preview_waits_for_one_image_of_a_scored_sweep_not_its_whole_tile(tiny_engine, tiny_params, monkeypatch):
    """A scored sweep tile is two images (the tile and its no-audio twin) and its scores: a preview
    started during the tile's image runs right after that image, before the tile is done."""
    import time

    from core import Scorer, SweepPlan, parse_axis
    from studio import sweeping

    base = tiny_params.replace(steps=6, width=64, height=64)
    stepping, on_progress = threading.Event(), jobs.Job.on_progress

    def heard_a_step(job, info) -> None:
        on_progress(job, info)
        stepping.set()

    monkeypatch.setattr(jobs.Job, "on_progress", heard_a_step)
    sweep = sweeping.sweep_job(tiny_engine, SweepPlan(base, (parse_axis("x", "audio_strength=0.5,1.5", base),)),
                               Scorer("tiny"))  # fmt: skip
    tiles_done: list[float] = []

    class Stamped(list):
        def append(self, item) -> None:
            tiles_done.append(time.perf_counter())
            super().append(item)

    sweep.partial = Stamped()
    assert stepping.wait(60)  # the first tile's image is under way
    assert not tiles_done, "the sweep finished a tile before the test could race it"
    preview = jobs.generation_job(tiny_engine, base.replace(steps=2, seed=9), kind="preview")
    assert preview.wait(120) and sweep.wait(120)
    assert preview.ok and sweep.ok and len(tiles_done) == 2
    assert preview.finished < tiles_done[0]  # not after the tile's twin and scores


def test_yield_off_the_engine_thread_leaves_queued_interactive_work_to_it():
    """Only batch work on the engine thread lets interactive work through: called from any other
    thread (a page's script thread), it runs nothing there and takes nothing from the queue."""
    gate, ran_on = threading.Event(), []
    blocker = worker.submit(gate.wait, 30)
    urgent = worker.submit(lambda: ran_on.append(threading.current_thread().name), priority=worker.INTERACTIVE)
    assert worker.yield_to_interactive() == 0 and not urgent.done()
    gate.set()
    blocker.result(timeout=30)
    urgent.result(timeout=30)
    assert ran_on == [worker.THREAD_NAME]


def test_a_waiting_job_blames_its_own_work_only_while_that_work_runs():
    """'busy with your Compare' only while this session's Compare is the running job: queued behind
    another session's work, it is the generic wait (a preview goes ahead of the queued Compare)."""
    from tests.waiting import wait_until

    gate, mine = threading.Event(), threading.Event()
    other = worker.submit_owned(lambda: gate.wait(30), threading.Event(), owner="tab-other", kind="sweep")
    compare = jobs.Job("compare", lambda job: mine.wait(30)).start(owner="tab-own")
    assert worker.running_kind("tab-own") is None and compare.status == jobs.WAITING
    preview = jobs.Job("preview", lambda job: None).start(owner="tab-own")
    assert preview.status == jobs.WAITING
    gate.set()
    other.result(timeout=30)
    assert preview.wait(30) and preview.ok  # it went first
    wait_until(lambda: worker.running_kind("tab-own") == "compare", "the Compare to start running")
    later = jobs.Job("preview", lambda job: None).start(owner="tab-own")
    assert later.status == "Waiting: the engine is busy with your Compare; this starts as soon as it is free."
    mine.set()
    assert compare.wait(30) and later.wait(30) and later.ok
    assert worker.running_kind("tab-own") is None


def test_busy_counts_queued_and_running_work_and_nothing_once_it_ends():
    """A new job says 'Waiting' only while `busy()`: an idle engine thread is not busy, and a job
    leaves the count as it ends (else every later job would say it waits, forever)."""
    from tests.waiting import wait_until

    wait_until(lambda: not worker.busy(), "the engine thread to be idle", seconds=30)
    gate = threading.Event()
    held = worker.submit(gate.wait, 30)
    queued = worker.submit(lambda: None)
    assert worker.busy()
    gate.set()
    held.result(timeout=30)
    queued.result(timeout=30)
    wait_until(lambda: not worker.busy(), "the finished jobs to leave the count", seconds=30)


def test_a_call_goes_ahead_of_queued_batch_work():
    """`worker.call` (a model load, a text norm a page waits on) is interactive: it never waits for
    the batch work queued before it."""
    from tests.waiting import wait_until

    started, gate, order = threading.Event(), threading.Event(), []
    blocker = worker.submit(lambda: (started.set(), gate.wait(30)))
    assert started.wait(120)  # the engine thread runs the blocker (after any work an earlier test left)
    batch = worker.submit(order.append, "batch")
    caller = threading.Thread(target=worker.call, args=(order.append, "call"))
    caller.start()
    wait_until(lambda: worker._queue.qsize() == 2, "the call to be queued", seconds=30)
    gate.set()
    caller.join(30)
    for f in (blocker, batch):
        f.result(timeout=30)
    assert order == ["call", "batch"]


def test_a_job_of_a_studio_session_counts_as_that_sessions_by_default(monkeypatch):
    """`submit_owned` without an owner counts the job as the calling session's (its queue share)."""
    monkeypatch.setattr(worker, "session_owner", lambda: "tab-default")
    gate = threading.Event()
    held = worker.submit_owned(gate.wait, threading.Event())
    try:
        assert worker.active("tab-default") == 1
    finally:
        gate.set()
        held.result(timeout=30)


def test_a_call_from_the_engine_thread_runs_there_at_once():
    """Work on the engine thread that needs a model call (a load inside a job) runs it in place:
    queued behind itself, it would wait forever."""
    got = worker.submit(lambda: worker.call(lambda: threading.current_thread().name)).result(timeout=30)
    assert got == worker.THREAD_NAME
