"""The studio, page by page, through streamlit.testing.v1.AppTest with the tiny offline models.

Every test is a fresh browser session (a new AppTest); the engine is shared (st.cache_resource), as
in the real server. Sizes are tiny (64×64, a few steps) so the whole file runs in about a minute.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["CLAP2DIFF_MODELS"] = "tiny"

from streamlit.testing.v1 import AppTest  # noqa: E402

from core.audio import file_sha256  # noqa: E402
from core.export import png_bytes, read_params  # noqa: E402
from core.models import starting_params  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from tests.studio_helpers import APP, TIMEOUT  # noqa: E402
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


# ================================================================================================
# Other pages
# ================================================================================================
def test_gates_page_draws_the_trace():
    at = _app()
    _render(at)
    at.switch_page("../pages/gates.py").run()
    _ok(at)
    charts = at.get("plotly_chart")
    assert len(charts) >= 4  # gates, ratio heatmap, level timeline, token norms (+ heard labels)
    assert any(m.label == "Steps" and str(m.value) == "6" for m in at.metric)
    assert not _errors(at)


def test_gates_page_without_a_generation_says_what_to_do():
    at = _app(ui_live_preview=False)
    at.switch_page("../pages/gates.py").run()
    _ok(at)
    assert any("No generation yet" in i.value for i in at.info)


def test_spectrogram_page_shows_every_source_on_one_db_scale():
    at = _app()
    at.switch_page("../pages/spectrogram.py").run()
    _ok(at)
    assert at.radio(key="spec_sources").value == "mix"  # the Generate page's mode
    view = _session(at).listen.result
    assert [p.name for p in view.parts] == ["mix"]
    assert len(at.get("plotly_chart")) >= 2 and len(at.get("audio")) >= 2  # the clip, then the window
    for mode, names in (("bands", ["low", "mid", "high"]), ("stems", ["drums", "bass", "other", "vocals"])):
        at.radio(key="spec_sources").set_value(mode).run()
        _ok(at)
        view = _session(at).listen.result
        assert [p.name for p in view.parts] == names
        assert len({p.mel.ref_power for p in view.parts}) == 1  # one dB reference for every part
        assert len(at.get("audio")) >= 1 + len(names)  # the clip + one player per part
        keys = {c.proto.id for c in at.get("plotly_chart")}
        assert len(keys) >= 1 + 2 * len(names)  # the clip, each part's spectrogram and what CLAP heard
        text = " ".join(m.value for m in at.markdown)
        assert all(f"**{n}**" in text for n in names)
    assert not _errors(at)


def test_spectrogram_page_follows_the_generate_sources():
    at = _app()
    at.radio(key="w_sources").set_value("bands").run()
    at.switch_page("../pages/spectrogram.py").run()
    _ok(at)
    assert at.radio(key="spec_sources").value == "bands"


def test_a_recalled_window_start_past_the_last_full_window_is_kept_not_moved(tmp_path, monkeypatch):
    """The CLI accepts any start inside the clip: a recall must reproduce it, so the slider widens to
    it; a start past the clip's end (which the engine refuses) comes back to the last full window."""
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))
    import soundfile as sf

    rate = 16000
    sf.write(tmp_path / "long.wav", (0.3 * np.sin(np.arange(rate * 25) / 7)).astype(np.float32), rate)
    for recalled, shown, top in ((20.5, 20.5, 20.5), (31.0, 15.0, 15.0)):
        at = _app()
        at.radio(key="w_audio_source").set_value("path").run()
        at.text_input(key="w_audio_path").set_value(str(tmp_path / "long.wav"))
        at.session_state["w_window_start"] = recalled  # with the clip, as a recall's push() sets them...
        _session(at).window_for = file_sha256(tmp_path / "long.wav")  # ...naming the clip the start is for
        at.run()
        _ok(at)
        slider = at.slider(key="w_window_start")
        assert (slider.value, slider.max) == (shown, top)
        assert _session(at).preview.result.params.window_start == shown


def test_a_window_start_belongs_to_its_clip_and_another_clip_starts_at_zero(tmp_path, monkeypatch):
    """36 s into one long clip is not a place in the next one: switching clips starts at 0, and a
    clip that was already chosen with its start (a recall) keeps it."""
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))
    import soundfile as sf

    rate = 16000
    for name, seconds, hz in (("a.wav", 60, 300), ("b.wav", 30, 700)):
        t = np.arange(rate * seconds) / rate
        sf.write(tmp_path / name, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    at = _app()
    at.radio(key="w_audio_source").set_value("path").run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "a.wav")).run()
    at.slider(key="w_window_start").set_value(36.0).run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "b.wav")).run()
    _ok(at)
    assert at.slider(key="w_window_start").value == 0.0
    at.slider(key="w_window_start").set_value(12.0).run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "b.wav ")).run()  # the same clip, typed again
    assert at.slider(key="w_window_start").value == 12.0
    assert _session(at).preview.result.params.window_start == 12.0


def test_long_clip_gets_a_window_slider_and_the_spectrogram_marks_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))  # the File-path source is opt-in
    import json

    import soundfile as sf

    rate = 16000
    t = np.arange(rate * 25) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    wave[rate * 12 :] += 0.2 * np.sin(2 * np.pi * 3000 * t[rate * 12 :])
    path = tmp_path / "long.wav"
    sf.write(path, wave.astype(np.float32), rate)
    at = _app()
    assert not [s for s in at.slider if s.key == "w_window_start"]  # an 8 s sample: no window to choose
    at.radio(key="w_audio_source").set_value("path").run()
    at.text_input(key="w_audio_path").set_value(str(path)).run()
    _ok(at)
    assert at.slider(key="w_window_start").max == 15.0  # 25 s: the last window that is all sound starts at 15 s
    at.slider(key="w_window_start").set_value(12.0).run()
    _ok(at)
    assert _session(at).preview.result.params.window_start == 12.0
    at.switch_page("../pages/spectrogram.py").run()
    _ok(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(shape.get("x0") == 12.0 and shape.get("x1") == 22.0 for shape in spec["layout"]["shapes"])
    # Demucs stems (tiny random weights offline): one spectrogram per stem.
    at.radio(key="spec_sources").set_value("stems").run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    for stem in ("drums", "bass", "other", "vocals"):
        assert stem in text
    assert not _errors(at)


def test_gallery_recall_restores_the_sliders():
    at = _app()
    at.slider(key="w_weight_bg").set_value(1.25).run()
    _render(at)
    item = _session(at).history[0]
    assert item.params.level_weights[1] == pytest.approx(1.25)
    at.slider(key="w_weight_bg").set_value(0.1).run()
    at.switch_page("../pages/gallery.py").run()
    _ok(at)
    at.button(key=f"recall_{item.id}").click().run()
    _ok(at)
    # Recall switched back to Generate with the recalled value in the slider.
    assert at.slider(key="w_weight_bg").value == pytest.approx(1.25)
    assert _session(at).params.level_weights == item.params.level_weights


def test_gallery_restores_from_png_and_rejects_bad_metadata():
    at = _app()
    at.switch_page("../pages/gallery.py").run()
    _ok(at)
    from PIL import Image

    # A PNG without our metadata: a clear error.
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    at.file_uploader(key="gallery_png").set_value(("plain.png", buf.getvalue(), "image/png")).run()
    _ok(at)
    assert any("'plain.png' has no CLAP2Diff parameters" in e for e in _errors(at)), _errors(at)  # named

    # A studio PNG: its settings can be recalled into the sliders.
    wanted = GenerationParams(
        prompt="from a png", seed=4242, steps=6, width=64, height=64, level_weights=(0.9, 0.4, 0.2), models="tiny"
    )
    data = png_bytes(Image.new("RGB", (64, 64)), wanted)
    at.file_uploader(key="gallery_png").set_value(("mine.png", data, "image/png")).run()
    _ok(at)
    assert not _errors(at)
    at.button(key="recall_upload").click().run()
    _ok(at)
    assert at.text_area(key="w_prompt").value == "from a png"
    assert at.number_input(key="w_seed").value == 4242
    assert at.slider(key="w_weight_fg").value == pytest.approx(0.9)


def test_gallery_exports_zip_and_grid():
    import zipfile

    at = _app()
    _render(at)
    at.slider(key="w_weight_fg").set_value(1.5).run()
    _render(at)
    at.switch_page("../pages/gallery.py").run()
    _ok(at)
    at.button(key="sel_all").click().run()
    _ok(at)
    keys = {d.key for d in at.download_button}
    assert {"dl_zip", "dl_grid"} <= keys, keys
    cache = _session(at).gallery_files
    zip_data = next(v for k, v in cache.items() if k[0] == "zip")
    with zipfile.ZipFile(io.BytesIO(zip_data)) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 2
    from core.export import read_grid

    grid = next(v for k, v in cache.items() if k[0] == "grid")
    assert len(read_grid(grid)) == 2


def test_compare_page_separated_vs_mixed_with_parts_and_exports():
    import zipfile

    import soundfile as sf

    from core.export import read_grid, read_metadata

    at = _app(w_prompt="a harbour")
    at.switch_page("../pages/compare.py").run()
    _ok(at)
    at.button(key="cmp_run").click().run()
    _ok(at)
    assert not _errors(at)
    run = _session(at).compare.result
    plan, items, views = run.plan, run.items, run.views

    # Side by side: no audio, mixed, stems, bands; same seed and prompt; separated != mixed.
    assert [c.key for c in plan.rows[0][1]] == ["no_audio", "mix", "stems", "bands"]
    assert {items[k].params.sources for k in ("mix", "stems", "bands")} == {"mix", "stems", "bands"}
    assert len({(i.params.seed, i.params.prompt) for i in items.values()}) == 1
    mixed, stems = (np.asarray(items[k].image) for k in ("mix", "stems"))
    assert not np.array_equal(mixed, stems)
    assert "mix" in items["mix"].trace.heard and "mix" not in items["stems"].trace.heard

    # Each level alone, per source mode: that level conditions every step.
    alone = [c for c in plan.generated if c.level]
    assert {c.mode for c in alone} == {"mix", "stems", "bands"}
    for cell in alone:
        assert set(items[cell.key].trace.dominant_levels()) == {cell.level}, cell.caption
    assert len(at.image) == len(items)  # one image per generated cell

    # Every stem and band: a player, a spectrogram and what CLAP heard; a WAV download each.
    assert [p.name for p in views["stems"].parts] == ["drums", "bass", "other", "vocals"]
    assert [p.name for p in views["bands"].parts] == ["low", "mid", "high"]
    n_parts = sum(len(v.parts) for v in views.values())
    assert len(at.get("audio")) >= n_parts
    chart_ids = {c.proto.id for c in at.get("plotly_chart")}
    assert len(chart_ids) >= 2 * n_parts  # spectrogram + heard labels per part
    for view in views.values():
        for part in view.parts:
            assert part.heard and sf.read(io.BytesIO(part.player))[0].size > 0
    keys = {d.key for d in at.download_button}
    assert {"cmp_grid", "cmp_zip"} <= keys
    assert {f"cmp_wav_stems_{s}" for s in ("drums", "bass", "other", "vocals")} <= keys
    assert {f"cmp_wav_bands_{b}" for b in ("low", "mid", "high")} <= keys

    # The grid: one captioned PNG whose metadata has every tile's params, in grid order.
    _, grid, archive = _session(at).compare_files
    tiles = read_grid(grid)
    from core.compare import grid_text

    assert [t.caption for t in tiles] == [grid_text(c.caption) for c in plan.cells]  # drawable by its font
    assert [t.params for t in tiles] == [
        items[c.key].params.shareable() if c.key in items else None for c in plan.cells
    ]
    # The ZIP: every image with its params, the grid, the manifest.
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        names = zf.namelist()
        pngs = [n for n in names if n.endswith(".png") and n != "comparison_grid.png"]
        assert len(pngs) == len(items) and "comparison_grid.png" in names and "params.json" in names
        assert read_metadata(zf.read("comparison_grid.png"))["format"] == "clap2diff/grid"
        assert {read_params(zf.read(n)) for n in pngs} == {i.params.shareable() for i in items.values()}
        assert not [n for n in names if n.endswith(".wav")]

    # Optionally with the stems and bands as WAV files.
    at.toggle(key="cmp_wavs").set_value(True).run()
    _ok(at)
    _, _, archive = _session(at).compare_files
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        wavs = sorted(n for n in zf.namelist() if n.endswith(".wav"))
        assert wavs == sorted(
            [
                "mix.wav",
                "stems-drums.wav",
                "stems-bass.wav",
                "stems-other.wav",
                "stems-vocals.wav",
                "bands-low.wav",
                "bands-mid.wav",
                "bands-high.wav",
            ]
        )
        drums, rate = sf.read(io.BytesIO(zf.read("stems-drums.wav")))
        assert drums.ndim == 2 and drums.shape[1] == 2 and rate == views["stems"].sources.sample_rate

    # The Gates page can draw any of the comparison's traces.
    at.switch_page("../pages/gates.py").run()
    _ok(at)
    assert any(o.startswith("Compare · ") for o in at.selectbox(key="gates_pick").options)


def test_compare_page_reports_a_near_silent_level():
    at = _app(w_sample="engine")  # an engine hum: nothing above 4 kHz, so the bands' foreground is silent
    at.switch_page("../pages/compare.py").run()
    at.multiselect(key="cmp_modes").set_value(["mix", "bands"])
    at.toggle(key="cmp_without").set_value(False)
    at.button(key="cmp_run").click().run()
    _ok(at)
    run = _session(at).compare.result
    cells = {c.key: c for c in run.plan.cells}
    assert cells["bands_foreground"].params is None and "near-silent" in cells["bands_foreground"].caption
    assert "bands_foreground" not in run.items and "mix_foreground" in run.items
    assert any("near-silent" in i.value for i in at.info)
    assert any("foreground" in w.value and "Near-silent" in w.value for w in at.warning)
    from core.export import read_grid

    tiles = read_grid(_session(at).compare_files[1])
    assert len(tiles) == len(run.plan.cells)  # the skipped tile keeps its place, with no params


# ================================================================================================
# Models
# ================================================================================================
def test_missing_models_offer_the_tiny_demo(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAP2DIFF_MODELS", str(tmp_path / "no-such-model"))
    (tmp_path / "no-such-model").mkdir()  # a folder, but not a diffusers model
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _ok(at)
    assert any("could not be loaded" in e for e in _errors(at)), _errors(at)
    at.button(key="use_tiny_btn").click().run()
    _ok(at)
    assert not any("could not be loaded" in e for e in _errors(at))
    assert at.radio(key="w_models_choice").value == "tiny"


def test_restoring_an_edited_photo_says_what_recall_does_not_bring_back():
    import json

    from PIL import Image

    from core.edit.params import EditParams
    from core.export.formats import METADATA_KEY
    from core.export.metadata import png_encode

    at = _app()
    at.switch_page("../pages/gallery.py").run()
    params = GenerationParams(prompt="an edit", seed=5, width=64, height=64, steps=6, models="tiny")
    meta = {"format": "clap2diff/params", "version": 1, "params": params.to_dict(), "edit": EditParams().to_dict()}
    data = png_encode(Image.new("RGB", (64, 64)), [(METADATA_KEY, json.dumps(meta), True)])
    at.file_uploader(key="gallery_png").set_value(("edited.png", data, "image/png")).run()
    _ok(at)
    assert any("edited.png is an edited photo: Recall restores its clip, prompt and knobs" in i.value for i in at.info)
    plain = png_bytes(Image.new("RGB", (64, 64)), params)
    at.file_uploader(key="gallery_png").set_value(("plain.png", plain, "image/png")).run()
    assert not any("edited photo" in i.value for i in at.info)
