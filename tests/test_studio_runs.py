"""Compare's and Sweep's runs as a code review met them: a double click on Run starts one run, an
error mid-comparison keeps the images made, and a sweep's errors show typed values as typed."""

from __future__ import annotations

from tests.studio_helpers import app, engine, errors, ok, session


def _ended_job(kind: str, key=None):
    """A job that has ended but that the page has not collected yet: its slot still counts it as
    running, as in the moment between a first click on Run and the rerun that disables the button."""
    from studio.jobs import Job

    job = Job(kind, lambda job: None)
    job.key = key
    job.done.set()
    return job


def test_a_double_click_on_compares_run_starts_one_comparison():
    at = app(w_prompt="a harbour", cmp_alone=False, cmp_modes=["mix"])
    at.switch_page("../pages/compare.py").run()
    first = session(at).compare.start(_ended_job("compare"))
    at.button(key="cmp_run").click().run()  # the second click, before the button was disabled
    ok(at)
    assert session(at).compare.job is first and not first.cancel.is_set()


def test_a_double_click_on_sweeps_run_starts_one_sweep():
    from core import SweepPlan
    from studio.sweeping import SweepAsked

    at = app(w_prompt="a harbour", sweep_x_values="0.2,1.4", sweep_y_field="—", sweep_scores=False)
    at.switch_page("../pages/sweep.py").run()
    params = session(at).params
    first = session(at).sweep.start(_ended_job("sweep", SweepAsked(SweepPlan(params, ()))))
    at.button(key="sweep_run").click().run()
    ok(at)
    assert session(at).sweep.job is first and not first.cancel.is_set()


def test_an_error_mid_comparison_keeps_the_images_made_and_says_where_it_stopped(monkeypatch):
    """The second image out of memory: the first one was lost with it, and the previous comparison
    stayed on screen as if it were this one."""
    at = app(w_prompt="a harbour", cmp_alone=False, cmp_modes=["mix"])
    at.switch_page("../pages/compare.py").run()
    tiny = engine()
    generate, calls = tiny.generate, []

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError
        return generate(*args, **kwargs)

    monkeypatch.setattr(tiny, "generate", second_fails)
    at.button(key="cmp_run").click().run()
    ok(at)
    result = session(at).compare.result
    assert result is not None and list(result.items) == ["no_audio"]  # the image made before the error
    assert [e for e in errors(at) if e.startswith("**Out of memory**")], errors(at)
    assert [w.value for w in at.warning if w.value.startswith("Comparison stopped")] == [
        "Comparison stopped by the error above after 1 of 2 images: those are shown below."
    ]
    assert len(at.image) == 1
    assert [c.value for c in at.caption if "not generated" in c.value] == [
        f"{result.plan.generated[1].caption}: not generated (stopped by an error)"
    ]


def test_a_sweep_error_shows_the_typed_value_as_typed():
    """Values come from the page or the gallery's knobs.json (anyone with its link can write it): a
    value was put into the error's Markdown as it was, a live link."""
    at = app(w_prompt="a harbour", sweep_x_values="[click](http://evil.example) *x*", sweep_y_field="—")
    at.switch_page("../pages/sweep.py").run()
    at.button(key="sweep_run").click().run()
    ok(at)
    (said,) = [e for e in errors(at) if e.startswith("**Sweep settings**")]
    assert r"\[click\](http:" in said and r"\*x\*" in said and "](http://" not in said, said


def test_why_a_sweep_has_no_scores_is_shown_as_written(monkeypatch):
    """A missing CLIP model's message names a folder (`_` in it read as emphasis): escaped, code kept."""
    from core import ModelUnavailable, Scorer
    from studio import scoring

    def unavailable(self, *args, **kwargs):
        raise ModelUnavailable("no CLIP in /srv/models/clip_vit_b_32: run `hf download openai/clip_vit`")

    monkeypatch.setattr(scoring, "_scorers", {})
    monkeypatch.setattr(Scorer, "__init__", unavailable)
    at = app(w_prompt="a harbour", sweep_x_values="0.2", sweep_y_field="—", sweep_scores=True)
    at.switch_page("../pages/sweep.py").run()
    at.button(key="sweep_run").click().run()
    at.run()
    ok(at)
    why = r"no CLIP in /srv/models/clip\_vit\_b\_32: run `hf download openai/clip_vit`"
    assert [w.value for w in at.warning] == [f"No scores: {why}"]
    assert [i.value for i in at.info] == [f"No scores in this sweep: {why}"]
