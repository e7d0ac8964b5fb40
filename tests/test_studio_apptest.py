"""The studio, page by page, through streamlit.testing.v1.AppTest with the tiny offline models.

Every test is a fresh browser session (a new AppTest); the engine is shared (st.cache_resource), as
in the real server. Sizes are tiny (64×64, a few steps) so the whole file runs in about a minute.
"""

from __future__ import annotations

import os

import pytest

os.environ["CLAP2DIFF_MODELS"] = "tiny"

from core.export import read_params  # noqa: E402
from core.models import starting_params  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from tests.studio_helpers import app as _app  # noqa: E402
from tests.studio_helpers import engine as _engine  # noqa: E402
from tests.studio_helpers import errors as _errors  # noqa: E402
from tests.studio_helpers import ok as _ok  # noqa: E402
from tests.studio_helpers import render as _render  # noqa: E402
from tests.studio_helpers import session as _session  # noqa: E402
from tests.studio_helpers import wav as _wav  # noqa: E402


# ================================================================================================
# Generate
# ================================================================================================
def test_generate_widgets_show_the_seed_defaults():
    at = _app(fast=False, ui_preview_side=64, ui_preview_steps=2)
    d = GenerationParams()
    assert at.slider(key="w_weight_fg").value == pytest.approx(0.7) == d.level_weights[0]
    assert at.slider(key="w_weight_bg").value == pytest.approx(0.5) == d.level_weights[1]
    assert at.slider(key="w_weight_amb").value == pytest.approx(0.3) == d.level_weights[2]
    assert at.slider(key="w_norm_target").value == pytest.approx(60.0) == d.norm_target
    assert tuple(at.slider(key="w_switch").value) == pytest.approx((0.4, 0.7)) == d.switch_points
    assert at.slider(key="w_audio_strength").value == pytest.approx(d.audio_strength)
    gates = tuple(at.slider(key=f"w_gate_{g}").value for g in ("down", "mid", "up"))
    assert gates == pytest.approx(d.gate_scales) == (0.0, 1.0, 1.0)
    assert at.slider(key="w_guidance").value == pytest.approx(d.guidance)
    # The tiny demo starts small, so a render takes seconds on a CPU (core.models.TINY_DEFAULTS).
    assert at.slider(key="w_steps").value == 15 < d.steps
    assert at.number_input(key="w_width").value == at.number_input(key="w_height").value == 256 < d.width
    assert at.number_input(key="w_seed").value == d.seed
    assert at.slider(key="w_split").value == (35, 56)  # 35 | 21 | 21 tokens
    assert at.radio(key="w_mode").value == "zero-shot"
    assert at.radio(key="w_sources").value == "mix"
    assert at.radio(key="w_audio_source").value == "sample"
    assert at.selectbox(key="w_sample").value == "thunder"
    # The prompt's own text-token norm is shown next to the norm slider.
    assert any("text-token norm" in c.value for c in at.caption)
    # Read back, the widgets are exactly the defaults (plus the chosen clip, the models, tiny's size).
    params = _session(at).params
    assert params.replace(audio_path=None) == starting_params("tiny")
    assert starting_params("tiny").replace(models="sd15", width=512, height=512, steps=25) == GenerationParams()
    # The live preview ran on the default clip, at preview quality.
    preview = _session(at).preview.result
    assert preview.params.steps == 2 and max(preview.params.width, preview.params.height) == 64
    assert not _errors(at)
    # The gates show their group under a heading that names the knob ('Down gate (×)' took three lines
    # in a third of the knobs' column at 1024 px); each slider keeps its full label as its accessible name.
    shown = [m.value for m in at.markdown]
    assert "**Gate scale (×) per UNet block group**" in shown and {"Down", "Mid", "Up"} <= set(shown)
    for group in ("down", "mid", "up"):
        gate = at.slider(key=f"w_gate_{group}")
        assert gate.label == f"{group.capitalize()} gate (×)" and gate.proto.label_visibility.value == 2  # collapsed


def test_every_slider_spans_its_declared_knob_range():
    """Each parameter slider is drawn from its field's Knob: its span and step are the declared ones."""
    from core.params import knobs
    from studio.bindings import BY_KEY

    at = _app(fast=False, ui_preview_side=64, ui_preview_steps=2, w_switch_style="smooth")  # smooth: cross-fade shows
    declared = knobs()
    drawn = {}
    for slider in at.slider:
        binding = BY_KEY.get(slider.key)
        if binding is None:
            continue
        k = declared[binding.field]
        assert (slider.min, slider.max) == pytest.approx(k.slider), slider.key
        assert slider.step == pytest.approx(k.step_for(binding.index if isinstance(binding.index, int) else None))
        drawn[binding.field] = slider.key
    assert set(drawn) == {name for name, k in declared.items() if k.slider is not None}


def test_render_produces_an_image_with_its_params_and_a_download():
    at = _app(w_seed=11, w_prompt="a stormy harbour")
    _render(at)
    history = _session(at).history
    assert len(history) == 1
    item = history[0]
    assert item.kind == "render" and item.image.size == (64, 64)
    assert item.params.seed == 11 and item.params.steps == 6 and item.params.prompt == "a stormy harbour"
    assert item.params.audio_sha256  # the engine filled in the clip's hash: reproducible
    assert read_params(item.png) == item.params.shareable()
    assert len(item.trace.step_levels) == 6
    assert any("seed **11**" in c.value for c in at.caption)  # the seed used is shown
    downloads = [d for d in at.download_button if d.key == f"dl_render_{item.id}"]
    assert downloads, "no download button for the render"
    assert not _errors(at)


def test_moving_sliders_changes_the_trace_but_never_reencodes():
    at = _app()
    engine = _engine()
    first = _session(at).preview.result
    clap_calls, text_calls = engine.clap.audio_calls, engine.counters["text_encoder"]

    at.slider(key="w_weight_fg").set_value(0.2).run()
    _ok(at)
    after_weight = _session(at).preview.result
    assert after_weight is not first
    assert after_weight.params.level_weights[0] == pytest.approx(0.2)
    assert after_weight.trace.token_norms["foreground"]["after"] != pytest.approx(
        first.trace.token_norms["foreground"]["after"]
    )

    at.slider(key="w_switch").set_value((0.0, 1.0)).run()  # background conditions every step
    _ok(at)
    assert set(_session(at).preview.result.trace.dominant_levels()) == {"background"}

    before = _session(at).preview.result.trace.token_norms["background"]["scaled"]
    at.slider(key="w_norm_target").set_value(30.0).run()  # half the seed's 60
    _ok(at)
    after = _session(at).preview.result.trace.token_norms["background"]["scaled"]
    assert after == pytest.approx(before / 2, rel=1e-3)

    at.slider(key="w_gate_mid").set_value(0.0).run()
    _ok(at)
    trace = _session(at).preview.result.trace
    mid = [g for g, grp in zip(trace.gates, trace.layer_groups, strict=True) if grp == "mid"]
    assert mid == [] or all(g == 0 for g in mid)

    assert engine.clap.audio_calls == clap_calls, "a hierarchy/norm/switch/gate slider re-ran CLAP"
    assert engine.counters["text_encoder"] == text_calls, "a slider re-ran the text encoder"
    assert not _errors(at)


def test_clicking_cancel_stops_the_render_mid_way_and_keeps_the_history(monkeypatch):
    """The Cancel button itself, clicked while the render is at step 2 of 40: the job ends cancelled
    at that step (not finished, not failed), the page says so, and the Gallery keeps what it had."""
    import threading

    from studio import jobs, widgets

    at = _app()
    _render(at)
    assert len(_session(at).history) == 1
    at.slider(key="w_steps").set_value(40).run()

    # Hold the render inside its step 2 (on the engine thread) until Cancel has been clicked, so the
    # click lands mid-render however busy the machine is. The page's progress loop returns at once,
    # so each script run ends and the test can click, as a browser user clicks during the loop.
    at_step, clicked = threading.Event(), threading.Event()
    real_progress = jobs.Job.on_progress

    def held_progress(job, info):
        real_progress(job, info)
        if job.kind == "render" and info.step == 2:
            at_step.set()
            assert clicked.wait(60), "Cancel was never clicked"

    monkeypatch.setattr(jobs.Job, "on_progress", held_progress)
    monkeypatch.setattr(widgets, "follow", lambda job, where=None, **kw: None)
    monkeypatch.setattr("streamlit.rerun", lambda *a, **kw: None)  # no rerun loop while following
    at.button(key="btn_render").click().run()
    job = _session(at).render.job
    assert job is not None and at_step.wait(60), "the render never reached step 2"
    assert at.button(key="btn_cancel").label == "Cancel"  # shown while the render runs

    at.button(key="btn_cancel").click().run()
    assert job.cancel.is_set()  # the click's callback asked the job to stop
    clicked.set()
    assert job.wait(60)
    at.run()  # the page collects the finished job
    _ok(at)
    assert job.cancelled and job.error is None and job.result is None
    assert job.step == 2  # stopped right after the step it was in: the engine checks between steps
    assert any("Render cancelled after 2 of 40 steps" in w.value for w in at.warning)
    assert len(_session(at).history) == 1  # nothing added, nothing lost
    assert not at.button(key="btn_render").disabled


def test_bad_inputs_show_errors_and_keep_the_history(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))  # the File-path source is opt-in
    at = _app()
    _render(at)
    assert len(_session(at).history) == 1

    # A silent upload: a clear message, no crash.
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value(("silence.wav", _wav(silent=True), "audio/wav")).run()
    _ok(at)
    assert any("silent" in e for e in _errors(at)), _errors(at)

    # A file that is not audio at all.
    at.file_uploader(key="w_upload").set_value(("notes.wav", b"%PDF-1.4 not audio", "audio/wav")).run()
    _ok(at)
    assert any("Audio problem" in e for e in _errors(at)), _errors(at)

    # A good upload works.
    at.file_uploader(key="w_upload").set_value(("tone.wav", _wav(), "audio/wav")).run()
    _ok(at)
    assert not _errors(at)
    assert _session(at).params.audio_path.endswith("tone.wav")

    # An invalid combination: trained mode without a checkpoint.
    at.radio(key="w_mode").set_value("trained").run()
    _render(at)
    assert any("Checkpoint" in e and "trained mode" in e for e in _errors(at)), _errors(at)

    # A checkpoint folder that does not exist: the projector error says what to do.
    at.text_input(key="w_checkpoint").set_value(str(tmp_path / "nope")).run()
    _render(at)
    assert any("checkpoint" in e.lower() for e in _errors(at)), _errors(at)

    # A path that does not exist.
    at.radio(key="w_mode").set_value("zero-shot").run()
    at.radio(key="w_audio_source").set_value("path").run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "missing.wav")).run()
    _ok(at)
    assert any("does not exist" in e for e in _errors(at)), _errors(at)

    assert len(_session(at).history) == 1  # the earlier render survived every error
    _ok(at)


def test_sources_selector_and_mapping_editor_write_the_params():
    at = _app()
    assert at.radio(key="w_sources").value == "mix"
    assert not [s for s in at.selectbox if s.key.startswith("w_stem_")]  # only shown for stems

    at.radio(key="w_sources").set_value("bands").run()
    _ok(at)
    at.number_input(key="w_crossover_low").set_value(150.0).run()
    at.number_input(key="w_crossover_high").set_value(5000.0).run()
    _ok(at)
    params = _session(at).params
    assert params.sources == "bands" and params.crossovers == (150.0, 5000.0)
    assert _session(at).preview.result.params.crossovers == (150.0, 5000.0)
    assert any("below 150 Hz" in c.value and "above 5000 Hz" in c.value for c in at.caption)

    at.radio(key="w_sources").set_value("stems").run()
    _ok(at)
    assert {s.key for s in at.selectbox if s.key.startswith("w_stem_")} == {
        "w_stem_drums",
        "w_stem_bass",
        "w_stem_other",
        "w_stem_vocals",
    }
    at.selectbox(key="w_stem_drums").set_value("foreground").run()
    at.selectbox(key="w_stem_vocals").set_value("background").run()
    _ok(at)
    params = _session(at).params
    assert params.sources == "stems"
    assert dict(params.stem_map) == {
        "drums": "foreground",
        "bass": "ambience",
        "other": "background",
        "vocals": "background",
    }
    preview = _session(at).preview.result
    assert preview.params.stem_map == params.stem_map
    assert set(preview.trace.heard) <= {"foreground", "background", "ambience"}  # per-source tokens

    # A level left without a stem is said plainly.
    at.selectbox(key="w_stem_bass").set_value("background").run()
    _ok(at)
    assert any("No stem is mapped to the **ambience**" in w.value for w in at.warning)
    assert not _errors(at)


def test_stems_sliders_and_mapping_never_rerun_separation():
    engine = _engine()
    at = _app(w_sources="stems", w_window_start=0.75)  # a window no other test separates
    first = _session(at).preview.job
    assert any(e.name == "sources" and e.total for e in first.stages)  # separation progress, chunk by chunk
    calls = engine.separator.calls
    for change in (
        lambda: at.slider(key="w_weight_fg").set_value(1.4),
        lambda: at.slider(key="w_switch").set_value((0.2, 0.9)),
        lambda: at.selectbox(key="w_stem_other").set_value("foreground"),
        lambda: at.slider(key="w_norm_target").set_value(30.0),
    ):
        change().run()
        _ok(at)
    preview = _session(at).preview.result
    assert preview.params.level_weights[0] == pytest.approx(1.4)
    assert preview.params.switch_points == pytest.approx((0.2, 0.9))
    assert dict(preview.params.stem_map)["other"] == "foreground"
    assert engine.separator.calls == calls, "a weight / switch / mapping change re-ran Demucs"
    assert not _errors(at)


def test_near_silent_levels_are_shown_plainly():
    at = _app(w_sample="engine", w_sources="bands")  # the engine hum has nothing above 4 kHz
    assert "foreground" in _session(at).preview.result.trace.skipped_levels
    assert any("**foreground** (> 4000 Hz) is near-silent" in w.value for w in at.warning), [
        w.value for w in at.warning
    ]


def test_token_split_with_an_empty_level_is_reported():
    at = _app()
    at.slider(key="w_split").set_value((35, 35)).run()  # background would get 0 tokens
    _ok(at)
    assert any("Token split" in e for e in _errors(at)), _errors(at)
