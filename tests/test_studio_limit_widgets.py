"""The operator's limits (studio/limits.py) reach the widgets and the sweep: the size and steps
widgets stop at them, and a sweep whose axis goes beyond them is refused before any tile runs."""

from __future__ import annotations

from core import SweepPlan, parse_axis
from core.params import GenerationParams
from studio.limits import LimitError
from tests.studio_helpers import app, ok, session


def test_the_size_and_steps_widgets_stop_at_the_limits(monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_MAX_SIDE", "512")
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "40")
    at = app()
    assert at.number_input(key="w_width").max == 512 and at.number_input(key="w_height").max == 512
    assert at.slider(key="w_steps").max == 40
    monkeypatch.delenv("CLAP2DIFF_MAX_SIDE")
    monkeypatch.delenv("CLAP2DIFF_MAX_STEPS")
    at.run()
    ok(at)
    assert at.number_input(key="w_width").max == 1024 and at.slider(key="w_steps").max == 100  # knob's slider span


def test_a_sweep_axis_beyond_the_limits_is_refused_before_it_runs(monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "8")
    at = app(sweep_x_field="steps", sweep_x_values="4,9", sweep_quality="full")
    at.switch_page("../pages/sweep.py").run()
    at.button(key="sweep_run").click().run()
    ok(at)
    assert session(at).sweep.job is None
    assert any("in a tile, 9 steps is more than this studio allows (8" in e.value for e in at.error), [
        e.value for e in at.error
    ]


def test_the_sweep_job_itself_refuses_a_tile_beyond_the_limits(monkeypatch):
    from studio import sweeping

    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "8")
    base = GenerationParams(prompt="p", width=64, height=64, steps=4, models="tiny")
    plan = SweepPlan(base, (parse_axis("x", "steps=4,9", base),))
    assert "9 steps is more than this studio allows" in sweeping.over_limits_problem(plan)
    job = sweeping.sweep_job(engine=None, plan=plan, scorer=None)  # refused before the engine is touched
    job.done.wait(30)
    assert isinstance(job.error, LimitError) and job.result is None
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "9")
    assert sweeping.over_limits_problem(plan) is None
