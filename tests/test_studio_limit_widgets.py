"""The operator's limits (studio/limits.py) reach the widgets and the sweep: the size and steps
widgets stop at them, and a sweep whose axis goes beyond them is refused before any tile runs."""

from __future__ import annotations

from core import SweepPlan, parse_axis
from core.params import GenerationParams
from studio.limits import LimitError
from tests.studio_helpers import app, ok, session


def _said(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith(":red[must")]


def test_the_size_and_steps_widgets_stop_at_the_limits(monkeypatch):
    """The steps slider ends at the limit; a size box says it, in words, for a number beyond it."""
    monkeypatch.setenv("CLAP2DIFF_MAX_SIDE", "512")
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "40")
    at = app()
    assert at.slider(key="w_steps").max == 40
    for key in ("w_width", "w_height"):
        at.number_input(key=key).set_value(576).run()
        ok(at)
        assert _said(at) == [":red[must be between 64 and 512 on this studio]"], key
        at.number_input(key=key).set_value(512).run()
        assert _said(at) == []
    monkeypatch.delenv("CLAP2DIFF_MAX_SIDE")
    monkeypatch.delenv("CLAP2DIFF_MAX_STEPS")
    at.number_input(key="w_width").set_value(576).run()
    ok(at)
    assert _said(at) == [] and at.slider(key="w_steps").max == 100  # knob's slider span


def test_a_number_typed_out_of_range_is_said_with_the_range_it_may_take():
    """A number box with min/max refused an out-of-range number with a red border alone (its words in a
    tooltip) and kept the last good one: the seed -5, 100000 preview steps. Now the box takes it and
    says the range under it, from the one declaration (the Knob, the UI's ranges); the preview uses the
    nearest allowed value meanwhile, and the words go once the number is inside."""
    from core.params import knobs
    from studio.bindings import UI_RANGES

    at = app()
    lo, hi = knobs()["seed"].range
    at.number_input(key="w_seed").set_value(-5).run()
    ok(at)
    assert _said(at) == [f":red[must be between {lo} and {hi}]"]  # whole numbers, not 4.29497e+09
    at.number_input(key="w_seed").set_value(7).run()
    assert _said(at) == []
    lo, hi = UI_RANGES["ui_preview_steps"]
    at.number_input(key="ui_preview_steps").set_value(100000).run()
    ok(at)
    assert _said(at) == [f":red[must be between {lo} and {hi}]"]
    assert session(at).preview.result.params.steps <= hi
    lo, hi = knobs()["crossovers"].range
    at.radio(key="w_sources").set_value("bands").run()
    at.number_input(key="w_crossover_low").set_value(5.0).run()
    ok(at)
    assert f":red[must be between {lo:g} and {hi:g}]" in _said(at)


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
