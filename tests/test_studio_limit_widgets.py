"""The operator's limits (studio/limits.py) reach the widgets and the sweep: the size and steps
widgets stop at them, and a sweep whose axis goes beyond them is refused before any tile runs."""

from __future__ import annotations

from core import SweepPlan, parse_axis
from core.params import GenerationParams, knobs
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


def test_every_value_a_field_accepts_fits_its_slider(monkeypatch):
    """A slider spans its Knob's `slider`, narrower than the field's `range` (temperature: 0.05 of
    0.01..10). A recalled PNG may hold any valid value: Streamlit raised on one below the span's
    bottom (StreamlitValueBelowMinError) on every run, kept in knobs.json. Each end of every slider's
    field fits, and only a value beyond this studio's limit is said."""
    from studio import bindings
    from studio.widgets.knobs import allowed_range, slider_range

    monkeypatch.delenv("CLAP2DIFF_MAX_STEPS", raising=False)
    sliders = [b for b in bindings.BINDINGS if b.field != "split" and knobs()[b.field].slider is not None]
    assert {"w_temperature", "w_steps", "w_weight_fg", "w_switch"} <= {b.key for b in sliders}
    for b in sliders:
        for end in knobs()[b.field].range:
            shown = (end, end) if b.key == "w_switch" else end
            monkeypatch.setattr(bindings, "value", lambda key, default=None, v=shown: v)
            lo, hi = slider_range(b.key)
            assert lo <= end <= hi, (b.key, end, (lo, hi))
    monkeypatch.setattr(bindings, "value", lambda key, default=None: 0.02)
    assert slider_range("w_temperature") == (0.02, 5.0) and allowed_range("w_temperature") == (0.01, 10.0)
    monkeypatch.setattr(bindings, "value", lambda key, default=None: 0.5)
    assert slider_range("w_temperature") == (0.05, 5.0)  # the Knob's own span when the value is inside


def test_a_recalled_temperature_below_the_sliders_span_shows_and_is_kept():
    """`--temperature 0.02` (valid: 0.01..10) recalled from a PNG: the slider starts at it."""
    at = app()
    _recall(at, GenerationParams(prompt="p", seed=2, steps=6, width=64, height=64, models="tiny", temperature=0.02))
    temperature = at.slider(key="w_temperature")
    assert temperature.value == 0.02 and temperature.min == 0.02 and temperature.max == 5.0
    assert _said(at) == [] and session(at).params.temperature == 0.02
    at.switch_page("../pages/generate.py").run()  # AppTest's page: the Gallery, until switched
    at.slider(key="w_temperature").set_value(0.5).run()  # back inside the Knob's span (see the next test)
    ok(at)
    assert at.slider(key="w_temperature").value == 0.5 and at.slider(key="w_temperature").min == 0.05


def test_a_slider_widened_for_a_recalled_value_takes_a_value_moved_back_inside_its_span():
    """Streamlit makes a slider whose span changed a new widget, starting from the run before's
    value: a recalled 120 steps (span widened to 120) moved to 80 came back as 120 on the knob's
    span ending at 100, StreamlitValueAboveMaxError."""
    at = app()
    _recall(at, GenerationParams(prompt="p", seed=2, steps=120, width=64, height=64, models="tiny"))
    at.switch_page("../pages/generate.py").run()
    assert at.slider(key="w_steps").max == 120
    at.slider(key="w_steps").set_value(80).run()
    ok(at)
    steps = at.slider(key="w_steps")
    assert (steps.value, steps.max) == (80, 100) and session(at).params.steps == 80


def test_a_studio_capped_below_the_starting_settings_starts_and_resets_within_its_limits(monkeypatch):
    """CLAP2DIFF_MAX_STEPS below the models' starting steps (tiny: 15) crashed every new session: the
    starting params were never clamped, the slider's top was (StreamlitValueAboveMaxError), and
    Reset wrote them again. Now a session starts, and resets, within the limits."""
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "10")
    monkeypatch.setenv("CLAP2DIFF_MAX_SIDE", "128")
    at = app(fast=False, ui_preview_steps=2, ui_preview_side=64)
    steps = at.slider(key="w_steps")
    assert (steps.value, steps.max) == (10, 10)
    assert at.number_input(key="w_width").value == at.number_input(key="w_height").value == 128
    assert at.radio(key="w_audio_source").value == "sample"  # still a fresh session: the sample clip
    assert _said(at) == []
    at.slider(key="w_steps").set_value(4).run()
    at.number_input(key="w_width").set_value(64).run()
    at.button(key="btn_reset_knobs").click().run()
    ok(at)
    assert at.slider(key="w_steps").value == 10 and at.number_input(key="w_width").value == 128


def _recall(at, made: GenerationParams) -> None:
    """`made` recalled from its PNG on the Gallery page (which then shows Generate, once)."""
    from PIL import Image

    from core.export import png_bytes

    at.switch_page("../pages/gallery.py").run()
    data = png_bytes(Image.new("RGB", (64, 64)), made)
    at.file_uploader(key="gallery_png").set_value(("made.png", data, "image/png")).run()
    at.button(key="recall_upload").click().run()
    ok(at)


def test_steps_beyond_the_limit_are_shown_and_said_not_raised(monkeypatch):
    """A value beyond the limit that reaches the slider anyway (here a recall that forgot to clamp)
    is shown, said under it and refused at Render, as a size box beyond it is: never an exception."""
    from studio.limits import ServerLimits

    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "8")
    monkeypatch.setattr(ServerLimits, "clamp", lambda self, params: (params, []))
    at = app()
    _recall(at, GenerationParams(prompt="p", seed=2, steps=12, width=64, height=64, models="tiny"))
    steps = at.slider(key="w_steps")
    assert (steps.value, steps.max) == (12, 12)
    assert _said(at) == [":red[must be between 1 and 8 on this studio]"]
    at.switch_page("../pages/generate.py").run()  # AppTest's page: the Gallery, until switched
    at.button(key="btn_render").click().run()
    assert session(at).render.job.wait(60)
    at.run()
    ok(at)
    assert any("12 steps is more than this studio allows (8" in e.value for e in at.error), [e.value for e in at.error]
    at.slider(key="w_steps").set_value(8).run()
    ok(at)
    assert _said(at) == [] and at.slider(key="w_steps").max == 8


def test_a_recalled_png_beyond_a_low_limit_is_clamped_to_it(monkeypatch):
    """A PNG's 25 steps on a studio capped at 10: the slider holds 10, and the page says why."""
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "10")
    at = app()
    _recall(at, GenerationParams(prompt="p", seed=2, steps=25, width=64, height=64, models="tiny"))
    assert at.slider(key="w_steps").value == 10 and at.slider(key="w_steps").max == 10
    warned = [w.value for w in at.warning]
    assert any("25 steps is more than this studio allows (10" in w for w in warned), warned
