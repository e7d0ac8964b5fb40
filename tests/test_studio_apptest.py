"""The studio, page by page, through streamlit.testing.v1.AppTest with the tiny offline models.

Every test is a fresh browser session (a new AppTest); the engine is shared (st.cache_resource), as
in the real server. Sizes are tiny (64×64, a few steps) so the whole file runs in about a minute.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
os.environ["CLAP2DIFF_MODELS"] = "tiny"

from streamlit.testing.v1 import AppTest  # noqa: E402

from core.export import png_bytes, read_params  # noqa: E402
from core.params import GenerationParams  # noqa: E402

APP = str(ROOT / "studio" / "app.py")
TIMEOUT = 120  # seconds per script run (AppTest's default is 3 s)
FAST = {"w_width": 64, "w_height": 64, "w_steps": 6, "ui_preview_steps": 3, "ui_preview_side": 64}


def _app(fast: bool = True, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in {**(FAST if fast else {}), **state}.items():
        at.session_state[key] = value
    at.run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _engine():
    from studio.engine import load_engine

    slot = load_engine("tiny")
    assert slot.ok, slot.error
    return slot.engine


def _render(at: AppTest) -> AppTest:
    at.button(key="btn_render").click().run()
    _ok(at)
    return at


def _wav(seconds: float = 1.0, rate: int = 16000, silent: bool = False) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    wave = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 440 * t)
    buf = io.BytesIO()
    sf.write(buf, wave.astype(np.float32), rate, format="WAV")
    return buf.getvalue()


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
    assert at.slider(key="w_steps").value == d.steps
    assert at.slider(key="w_guidance").value == pytest.approx(d.guidance)
    assert at.number_input(key="w_width").value == d.width == 512
    assert at.number_input(key="w_seed").value == d.seed
    assert at.slider(key="w_split").value == (35, 56)  # 35 | 21 | 21 tokens
    assert at.radio(key="w_mode").value == "zero-shot"
    assert at.radio(key="w_sources").value == "mix"
    assert at.radio(key="w_audio_source").value == "sample"
    assert at.selectbox(key="w_sample").value == "thunder"
    # The prompt's own text-token norm is shown next to the norm slider.
    assert any("text-token norm" in c.value for c in at.caption)
    # Read back, the widgets are exactly the defaults (plus the chosen clip and the models).
    params = at.session_state["params"]
    assert params.replace(audio_path=None, models="sd15") == GenerationParams()
    # The live preview ran on the default clip, at preview quality.
    preview = at.session_state["preview"]
    assert preview.params.steps == 2 and max(preview.params.width, preview.params.height) == 64
    assert not _errors(at)


def test_render_produces_an_image_with_its_params_and_a_download():
    at = _app(w_seed=11, w_prompt="a stormy harbour")
    _render(at)
    history = at.session_state["history"]
    assert len(history) == 1
    item = history[0]
    assert item.kind == "render" and item.image.size == (64, 64)
    assert item.params.seed == 11 and item.params.steps == 6 and item.params.prompt == "a stormy harbour"
    assert item.params.audio_sha256  # the engine filled in the clip's hash: reproducible
    assert read_params(item.png) == item.params
    assert len(item.trace.step_levels) == 6
    assert any("seed **11**" in c.value for c in at.caption)  # the seed used is shown
    downloads = [d for d in at.download_button if d.key == f"dl_render_{item.id}"]
    assert downloads, "no download button for the render"
    assert not _errors(at)


def test_moving_sliders_changes_the_trace_but_never_reencodes():
    at = _app()
    engine = _engine()
    first = at.session_state["preview"]
    clap_calls, text_calls = engine.clap.audio_calls, engine.counters["text_encoder"]

    at.slider(key="w_weight_fg").set_value(0.2).run()
    _ok(at)
    after_weight = at.session_state["preview"]
    assert after_weight is not first
    assert after_weight.params.level_weights[0] == pytest.approx(0.2)
    assert after_weight.trace.token_norms["foreground"]["after"] != pytest.approx(
        first.trace.token_norms["foreground"]["after"]
    )

    at.slider(key="w_switch").set_value((0.0, 1.0)).run()  # background conditions every step
    _ok(at)
    assert set(at.session_state["preview"].trace.dominant_levels()) == {"background"}

    before = at.session_state["preview"].trace.token_norms["background"]["scaled"]
    at.slider(key="w_norm_target").set_value(30.0).run()  # half the seed's 60
    _ok(at)
    after = at.session_state["preview"].trace.token_norms["background"]["scaled"]
    assert after == pytest.approx(before / 2, rel=1e-3)

    at.slider(key="w_gate_mid").set_value(0.0).run()
    _ok(at)
    trace = at.session_state["preview"].trace
    mid = [g for g, grp in zip(trace.gates, trace.layer_groups, strict=True) if grp == "mid"]
    assert mid == [] or all(g == 0 for g in mid)

    assert engine.clap.audio_calls == clap_calls, "a hierarchy/norm/switch/gate slider re-ran CLAP"
    assert engine.counters["text_encoder"] == text_calls, "a slider re-ran the text encoder"
    assert not _errors(at)


def test_cancel_stops_the_render_and_keeps_the_history(monkeypatch):
    """A render whose job is cancelled ends as 'cancelled', keeps the history, and shows a note."""
    at = _app()
    _render(at)
    assert len(at.session_state["history"]) == 1
    # Start a long render, then press Cancel as the user would (the callback sets the job's Event).
    at.slider(key="w_steps").set_value(100).run()
    at.button(key="btn_render").click()
    job_holder = {}

    from studio import jobs

    real = jobs.generation_job

    def start_cancelled(engine, params, kind="render"):
        job = real(engine, params, kind)
        job.request_cancel()  # as if Cancel were clicked during step 1
        job_holder["job"] = job
        return job

    monkeypatch.setattr(jobs, "generation_job", start_cancelled)
    at.run()
    _ok(at)
    job = job_holder["job"]
    assert job.cancelled and job.step < 100
    assert any("cancelled" in w.value for w in at.warning)
    assert len(at.session_state["history"]) == 1  # nothing added, nothing lost


def test_bad_inputs_show_errors_and_keep_the_history(tmp_path):
    at = _app()
    _render(at)
    assert len(at.session_state["history"]) == 1

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
    assert at.session_state["params"].audio_path.endswith("tone.wav")

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

    assert len(at.session_state["history"]) == 1  # the earlier render survived every error
    _ok(at)


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


def test_spectrogram_page_shows_the_clip_and_band_sources():
    at = _app()
    at.switch_page("../pages/spectrogram.py").run()
    _ok(at)
    assert at.radio(key="spec_sources").value == "bands"
    charts = at.get("plotly_chart")
    # The mix (waveform + mel), then low/mid/high band spectrograms.
    assert len(charts) >= 4, len(charts)
    assert len(at.get("audio")) >= 4  # the clip + one player per band
    assert not _errors(at)


def test_long_clip_gets_a_window_slider_and_the_spectrogram_marks_it(tmp_path):
    import json

    import soundfile as sf

    rate = 16000
    t = np.arange(rate * 25) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    wave[rate * 12:] += 0.2 * np.sin(2 * np.pi * 3000 * t[rate * 12:])
    path = tmp_path / "long.wav"
    sf.write(path, wave.astype(np.float32), rate)
    at = _app()
    assert not [s for s in at.slider if s.key == "w_window_start"]  # an 8 s sample: no window to choose
    at.radio(key="w_audio_source").set_value("path").run()
    at.text_input(key="w_audio_path").set_value(str(path)).run()
    _ok(at)
    at.slider(key="w_window_start").set_value(12.0).run()
    _ok(at)
    assert at.session_state["preview"].params.window_start == 12.0
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
    item = at.session_state["history"][0]
    assert item.params.level_weights[1] == pytest.approx(1.25)
    at.slider(key="w_weight_bg").set_value(0.1).run()
    at.switch_page("../pages/gallery.py").run()
    _ok(at)
    at.button(key=f"recall_{item.id}").click().run()
    _ok(at)
    # Recall switched back to Generate with the recalled value in the slider.
    assert at.slider(key="w_weight_bg").value == pytest.approx(1.25)
    assert at.session_state["params"].level_weights == item.params.level_weights


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
    assert any("no CLAP2Diff parameters" in e for e in _errors(at)), _errors(at)

    # A studio PNG: its settings can be recalled into the sliders.
    wanted = GenerationParams(prompt="from a png", seed=4242, steps=6, width=64, height=64,
                              level_weights=(0.9, 0.4, 0.2), models="tiny")
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
    cache = at.session_state["export_cache"]
    zip_data = next(v for k, v in cache.items() if k[0] == "zip")
    with zipfile.ZipFile(io.BytesIO(zip_data)) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 2
    from core.export import read_grid

    grid = next(v for k, v in cache.items() if k[0] == "grid")
    assert len(read_grid(grid)) == 2


def test_compare_page_runs_every_variant():
    at = _app()
    at.switch_page("../pages/compare.py").run()
    _ok(at)
    at.button(key="cmp_run").click().run()
    _ok(at)
    results = at.session_state["compare_results"]
    captions = [r.caption for r in results]
    assert len(results) == 5 and captions[0] == "With audio"
    seeds = {r.params.seed for r in results}
    assert len(seeds) == 1  # same seed everywhere
    without = results[1]
    assert without.params.audio_strength == 0 and not any(np.asarray(without.trace.ratios).ravel())
    for r, level in zip(results[2:], ("foreground", "background", "ambience"), strict=True):
        assert set(r.trace.dominant_levels()) == {level}, (r.caption, r.trace.dominant_levels())
    assert len(at.image) >= 5
    assert not _errors(at)


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
