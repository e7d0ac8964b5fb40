"""CLIP scores on Generate and Compare (studio/scoring.py): each page scores in its own slot, an error
is said under the image it belongs to, and the scorer loads inside the job, once per server."""

from __future__ import annotations

import threading

import pytest

from tests.studio_helpers import app, errors, ok, render, session
from tests.waiting import wait_until


def _fail_scoring(monkeypatch) -> None:
    from core import Scorer

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Scorer, "score", out_of_memory)


def test_a_failed_scoring_is_said_under_the_render_it_was_for(monkeypatch):
    """Render 1 scored, then render 2 scored out of memory: the error stayed hidden (the slot kept
    render 1 as its key) and the Score button looked as if nothing had happened."""
    at = app(w_prompt="a harbour")
    render(at)
    first = session(at).history[-1]
    at.button(key="btn_scores").click().run()
    ok(at)
    assert session(at).scores.key == first.id and session(at).scores.result is not None
    render(at)
    second = session(at).history[-1]
    _fail_scoring(monkeypatch)
    at.button(key="btn_scores").click().run()
    ok(at)
    assert [e for e in errors(at) if e.startswith("**Out of memory**")], errors(at)
    assert session(at).scores.asked == second.id and session(at).scores.key == first.id
    assert [b for b in at.button if b.key == "btn_scores"]  # it can be tried again
    assert not [m for m in at.markdown if " · Prompt match" in m.value]  # render 1's table is not shown as 2's


def test_compare_scores_belong_to_their_comparison_and_leave_generates_slot_alone(monkeypatch):
    """Comparison B scored out of memory after A was scored: A's table was shown as B's (the key was
    set before B's result existed), and Generate followed (and cancelled) Compare's scoring."""
    at = app(w_prompt="a harbour", cmp_alone=False, cmp_modes=["mix"])
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    at.button(key="cmp_score").click().run()
    ok(at)
    first = session(at).compare.result
    assert session(at).compare_scores.key == ("compare", first.id) and len(at.dataframe) == 1
    assert session(at).scores.job is None  # Generate's own slot: untouched by Compare
    at.button(key="cmp_run").click().run()
    second = session(at).compare.result
    assert second.id != first.id
    _fail_scoring(monkeypatch)
    at.button(key="cmp_score").click().run()
    ok(at)
    assert not at.dataframe, "comparison A's scores shown as B's"
    assert [e for e in errors(at) if e.startswith("**Out of memory**")], errors(at)
    assert [b for b in at.button if b.key == "cmp_score"]


def test_the_scorer_loads_in_the_job_with_its_stage_and_a_missing_one_is_said_escaped(monkeypatch):
    """The Score button's callback loaded CLIP itself (behind whatever the engine was doing, no
    progress); now the job does, as a stage. A missing model is said under the render, as typed."""
    from core import ModelUnavailable, Scorer
    from studio import scoring

    monkeypatch.setattr(scoring, "_scorers", {})  # none loaded yet in this server
    at = app(w_prompt="a harbour")
    render(at)
    at.button(key="btn_scores").click().run()
    ok(at)
    job = session(at).scores.job
    assert scoring.LOADING in job.stages and job.ok

    def unavailable(self, *args, **kwargs):
        raise ModelUnavailable("no CLIP in /srv/models/clip_vit_b_32: run `hf download openai/clip`")

    monkeypatch.setattr(scoring, "_scorers", {})
    monkeypatch.setattr(Scorer, "__init__", unavailable)
    render(at)
    at.button(key="btn_scores").click().run()
    ok(at)
    (said,) = [e for e in errors(at) if "CLIP" in e]
    assert r"/srv/models/clip\_vit\_b\_32" in said and "`hf download openai/clip`" in said, said


def test_two_sessions_scoring_at_once_load_the_scorer_once(monkeypatch, tiny_engine):
    from core import Scorer
    from studio import scoring

    class CountingLock:
        """The scorers' lock, counting the threads that asked for it."""

        def __init__(self) -> None:
            self.lock, self.asked = threading.Lock(), 0

        def __enter__(self):
            self.asked += 1
            self.lock.acquire()

        def __exit__(self, *exc) -> None:
            self.lock.release()

    loads: list[int] = []
    go = threading.Event()

    def held_load(self, *args, **kwargs):  # the first load is held until the second session asks too
        loads.append(1)
        go.wait(60)

    lock = CountingLock()
    monkeypatch.setattr(scoring, "_scorers", {})
    monkeypatch.setattr(scoring, "_lock", lock)
    monkeypatch.setattr(Scorer, "__init__", held_load)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(scoring.load_scorer(tiny_engine))) for _ in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: lock.asked == 2 and len(loads) == 1, "both sessions asking while the first loads", 30)
    go.set()
    for t in threads:
        t.join()
    assert len(loads) == 1 and got[0] is got[1]


def test_a_score_job_starts_at_once_while_the_engine_thread_is_busy(tiny_engine, tiny_params):
    """Queued behind another job, the scorer's load waits in the queue, not in the page's callback."""
    from PIL import Image

    from studio import scoring

    release, held = _hold_the_engine_thread()
    try:
        job = scoring.score_job(tiny_engine, None, tiny_params, Image.new("RGB", (64, 64)), {}, key=1)
        assert held.is_set() and not job.done.is_set()  # returned while the job ahead still runs
    finally:
        release.set()
    assert job.wait(60) and job.ok, job.error


def _hold_the_engine_thread() -> tuple[threading.Event, threading.Event]:
    """A job running on the engine thread (another session's render) until the first event returned
    is set; the second is set while it runs: a call that waited for it would find it cleared."""
    from studio import worker

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(60)
        held.clear()

    worker.submit(hold, priority=worker.INTERACTIVE)
    assert held.wait(30)
    return release, held


@pytest.mark.parametrize("busy", [False, True])
def test_the_prompts_norm_never_holds_the_page_behind_the_engine(monkeypatch, tiny_engine, tiny_params, busy):
    """Generate's slider scale: `worker.call` after a racy `busy()` check could wait out a whole render."""
    from studio import jobs, worker

    release, held = _hold_the_engine_thread() if busy else (threading.Event(), None)
    monkeypatch.setattr(worker, "busy", lambda: False)  # a check that raced: the job ahead came just after it
    norms: dict = {}
    try:
        norm = jobs.text_norm(tiny_engine, norms, tiny_params)
        assert held is None or held.is_set()  # returned while the job ahead still runs
        assert (norm is None) == busy
    finally:
        release.set()
    next(iter(norms.values())).result(30)
    assert jobs.text_norm(tiny_engine, norms, tiny_params) == tiny_engine.prompt_norm(
        tiny_params.prompt, tiny_params.norm_measure
    )


def test_a_failed_prompt_norm_is_asked_again_and_a_session_keeps_a_bounded_number(
    monkeypatch, tiny_engine, tiny_params
):
    """A failed ask was kept for ever: that prompt's slider scale never showed its norm again."""
    from studio import jobs

    real, calls = tiny_engine.prompt_norm, []

    def fails_once(prompt: str, measure: str) -> float:
        calls.append(prompt)
        if len(calls) == 1:
            raise RuntimeError("the engine was swapped out")
        return real(prompt, measure)

    monkeypatch.setattr(tiny_engine, "prompt_norm", fails_once)
    norms: dict = {}
    assert jobs.text_norm(tiny_engine, norms, tiny_params) is None
    if norms:  # the failure came after QUICK: the next run sees it
        assert next(iter(norms.values())).exception(30) is not None
        assert jobs.text_norm(tiny_engine, norms, tiny_params) is None
    assert norms == {}  # forgotten: the next run asks again
    jobs.text_norm(tiny_engine, norms, tiny_params)
    assert next(iter(norms.values())).result(30) == real(tiny_params.prompt, tiny_params.norm_measure)
    assert len(calls) == 2

    monkeypatch.setattr(jobs, "TEXT_NORMS_KEPT", 3)
    prompts = [f"a city {i}" for i in range(5)]
    for prompt in prompts:
        jobs.text_norm(tiny_engine, norms, tiny_params.replace(prompt=prompt))
    assert [key[1] for key in norms] == prompts[-3:]
