"""A fair share of the one render queue: a session may have at most CLAP2DIFF_MAX_QUEUE jobs queued
or running (studio/worker.py submit_owned); one more is refused in plain words and nothing else is lost."""

from __future__ import annotations

import threading

import pytest

from studio import jobs, worker
from studio.limits import ENV, QueueFull, ServerLimits


@pytest.fixture
def busy_engine_thread():
    """The engine thread held by another session's long job until the test lets it go."""
    gate = threading.Event()
    blocker = worker.submit(gate.wait, 60, priority=worker.INTERACTIVE)
    yield gate
    gate.set()
    blocker.result(timeout=60)


def test_a_session_gets_at_most_max_queue_jobs_and_others_are_not_affected(monkeypatch, busy_engine_thread):
    monkeypatch.setenv(ENV["max_queue"], "2")
    ran: list[str] = []
    cancels = [threading.Event() for _ in range(3)]
    first = worker.submit_owned(lambda: ran.append("a1"), cancels[0], owner="tab-a")
    second = worker.submit_owned(lambda: ran.append("a2"), cancels[1], owner="tab-a")
    assert worker.active("tab-a") == 2
    with pytest.raises(QueueFull) as refused:
        worker.submit_owned(lambda: ran.append("a3"), cancels[2], owner="tab-a")
    assert "You already have 2 jobs queued or running on this studio" in str(refused.value)
    assert "(2, `CLAP2DIFF_MAX_QUEUE`)" in str(refused.value) and "Your settings are kept" in str(refused.value)
    other = worker.submit_owned(lambda: ran.append("b1"), threading.Event(), owner="tab-b")  # its own share

    cancels[0].set()  # a cancelled job still waiting for its turn no longer takes a place
    assert worker.active("tab-a") == 1
    third = worker.submit_owned(lambda: ran.append("a3"), cancels[2], owner="tab-a")

    busy_engine_thread.set()
    for f in (first, second, other, third):
        f.result(timeout=60)
    assert ran == ["a1", "a2", "b1", "a3"]  # the refused one never ran; the worker does not skip cancels itself
    assert worker.active("tab-a") == worker.active("tab-b") == 0
    worker.submit_owned(lambda: None, threading.Event(), owner="tab-z").result(timeout=60)
    worker.submit_owned(lambda: None, threading.Event(), owner="tab-y").result(timeout=60)
    assert "tab-z" not in worker._owned  # a session that ended leaves nothing behind once others submit


def test_a_refused_job_ends_at_once_and_its_page_says_why(monkeypatch, busy_engine_thread, tiny_engine, tiny_params):
    from studio.session import JobSlot

    monkeypatch.setenv(ENV["max_queue"], "1")
    monkeypatch.setattr(worker, "session_owner", lambda: "tab-c")
    queued = jobs.generation_job(tiny_engine, tiny_params, kind="render")
    refused = jobs.generation_job(tiny_engine, tiny_params.replace(seed=8), kind="preview")
    assert refused.done.is_set() and refused.future is None  # nothing was queued for it
    assert isinstance(refused.error, QueueFull) and not refused.cancelled and refused.status == "Failed"
    assert not refused.waiting  # it waits for nothing (the thread is busy: it was marked waiting first)
    slot: JobSlot = JobSlot()
    slot.start(refused)
    assert slot.collect() is refused and slot.result is None
    assert slot.error.startswith("**Cannot do this**: You already have 1 job queued or running")
    assert "CLAP2DIFF_MAX_QUEUE" in slot.error

    busy_engine_thread.set()
    assert queued.wait(60) and queued.ok  # the job already queued was not touched
    again = jobs.generation_job(tiny_engine, tiny_params.replace(seed=8), kind="preview")
    assert again.wait(60) and again.ok and again.result[0].params.seed == 8


def test_a_newer_preview_takes_the_place_of_the_one_it_replaces(
    monkeypatch, busy_engine_thread, tiny_engine, tiny_params
):
    """A full queue (a render and a preview): moving a slider replaces the preview, so the stale one
    is cancelled before the new one asks for a place, and the new one runs. A preview refused by a
    full queue is tried again on the next rerun, not remembered as failing for its settings."""
    from studio.session import Session

    def preview(seed: int):
        return lambda: jobs.generation_job(tiny_engine, tiny_params.replace(seed=seed), "preview")

    monkeypatch.setenv(ENV["max_queue"], "2")
    monkeypatch.setattr(worker, "session_owner", lambda: "tab-d")
    s = Session(params=tiny_params)
    render = s.render.start(jobs.generation_job(tiny_engine, tiny_params, kind="render"))
    stale = s.preview.supersede(preview(1))
    newer = s.preview.supersede(preview(2))
    assert newer.error is None and s.preview.job is newer
    assert stale.cancel.is_set() and worker.active("tab-d") == 2

    monkeypatch.setenv(ENV["max_queue"], "1")  # the render alone fills it now: nothing to replace frees one
    s.preview.supersede(preview(3))
    s.collect_jobs()
    assert s.preview.error.startswith("**Cannot do this**: You already have 1 job ") and s.preview.key is None

    busy_engine_thread.set()
    assert render.wait(60) and render.ok and newer.wait(60) and newer.cancelled
    again = s.preview.supersede(preview(3))  # the next rerun: the same settings, tried again
    assert again.wait(60) and again.ok


def test_the_default_queue_limit_and_its_override():
    assert ServerLimits().max_queue == 4
    assert ServerLimits.from_env({ENV["max_queue"]: "9"}).max_queue == 9
    ServerLimits(max_queue=2).check_queue(1)
    with pytest.raises(QueueFull):
        ServerLimits(max_queue=2).check_queue(2)


def test_a_studio_session_queues_its_jobs_under_its_own_key():
    """In the studio, jobs are counted per browser session (Session.queue_key, not Streamlit's
    session id, which AppTest shares between sessions)."""
    from tests.studio_helpers import app, render, session

    first, second = app(ui_live_preview=False), app(ui_live_preview=False)
    assert session(first).queue_key != session(second).queue_key
    render(first)
    job = session(first).render.job
    assert job.ok and any(f is job.future for f, *_ in worker._owned.get(session(first).queue_key, []))
    assert not any(f is job.future for f, *_ in worker._owned.get(session(second).queue_key, []))


def test_the_preview_says_why_a_full_queue_refused_it_and_runs_once_there_is_room(monkeypatch):
    """Generate: the session's queue is full (its own long job), a knob moves: the preview box says
    the queue is full (not just "older settings"), and the next rerun after the job ends previews."""
    from tests.studio_helpers import app, errors, ok, session

    at = app()
    first = session(at).preview.result
    monkeypatch.setenv(ENV["max_queue"], "1")
    gate = threading.Event()
    held = worker.submit_owned(gate.wait, threading.Event(), owner=session(at).queue_key)  # its own long job
    try:
        at.slider(key="w_norm_target").set_value(0.75).run()
        ok(at)
        assert any("You already have 1 job queued or running" in e for e in errors(at)), errors(at)
        assert session(at).preview.result is first
    finally:
        gate.set()
        held.result(timeout=60)
    at.run()  # any rerun: the same settings are tried again
    ok(at)
    assert not errors(at) and session(at).preview.result is not first
    assert session(at).preview.result.params.norm_target == 0.75
