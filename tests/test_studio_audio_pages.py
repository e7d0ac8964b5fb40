"""Gates and Spectrogram, and the clip's window, through streamlit.testing.v1.AppTest with the tiny
offline models (tests/test_studio_apptest.py says how: a fresh session per test, one shared engine).
"""

from __future__ import annotations

import os

import numpy as np

os.environ["CLAP2DIFF_MODELS"] = "tiny"

from core.audio import file_sha256  # noqa: E402
from tests.studio_helpers import app as _app  # noqa: E402
from tests.studio_helpers import errors as _errors  # noqa: E402
from tests.studio_helpers import ok as _ok  # noqa: E402
from tests.studio_helpers import render as _render  # noqa: E402
from tests.studio_helpers import session as _session  # noqa: E402


# ================================================================================================
# Gates and Spectrogram
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
    it; a start past the clip's end, or under 100 ms before it (which the engine refuses), comes back to the
    last full window."""
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))
    import soundfile as sf

    rate = 16000
    sf.write(tmp_path / "long.wav", (0.3 * np.sin(np.arange(rate * 25) / 7)).astype(np.float32), rate)
    for recalled, shown, top in ((31.0, 15.0, 15.0), (24.95, 15.0, 15.0), (20.5, 20.5, 20.5)):  # 24.95: 50 ms left
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
    at.slider(key="w_window_start").set_value(3.0).run()  # the last one, 20.5 widened: moved back inside, its
    _ok(at)  # span shrinks to the last full window; Streamlit started the new slider from 20.5 (above its max)
    slider = at.slider(key="w_window_start")
    assert (slider.value, slider.max) == (3.0, 15.0)


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


def test_the_spectrogram_pages_sources_are_of_the_clip_chosen_now(tmp_path, monkeypatch):
    """Another clip chosen on Generate, same mode and window, or the clip saved again: the page
    listens to the file as it is now, not the view it kept for the one before (its key names the
    file's version)."""
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))
    import soundfile as sf

    rate = 16000
    t = np.arange(rate * 2) / rate
    for name, hz in (("a.wav", 300), ("b.wav", 3000)):
        sf.write(tmp_path / name, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    at = _app()
    at.radio(key="w_audio_source").set_value("path").run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "a.wav")).run()
    at.switch_page("../pages/spectrogram.py").run()
    _ok(at)
    assert _session(at).listen.result.sources.sha256 == file_sha256(tmp_path / "a.wav")
    at.switch_page("../pages/generate.py").run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "b.wav")).run()
    at.switch_page("../pages/spectrogram.py").run()
    _ok(at)
    assert _session(at).listen.result.sources.sha256 == file_sha256(tmp_path / "b.wav")
    sf.write(tmp_path / "b.wav", (0.3 * np.sin(2 * np.pi * 500 * t[:rate])).astype(np.float32), rate)  # saved again
    at.run()
    _ok(at)
    assert _session(at).listen.result.sources.sha256 == file_sha256(tmp_path / "b.wav")
    assert not _errors(at)


def _figures(at) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _legend(fig: dict) -> list[str]:
    return [t["name"] for t in fig["data"] if t.get("name") and t.get("showlegend") is not False]


def _heard_rows_fit(fig: dict) -> None:
    """Each heard label (a 17 px box) between its bar and the bar above it, on a fixed axis range
    (plotly's own range packed the rows 29 px apart: each label overprinted the bar above)."""
    layout, bar = fig["layout"], fig["data"][0]
    rows = len(bar["y"])
    assert layout["yaxis"]["range"] == [-0.5, rows - 0.5]
    row_px = (layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]) / rows
    bar_px = bar["width"] * row_px
    for note in layout["annotations"]:
        assert note["yshift"] >= bar_px / 2  # above its own bar
        assert note["yshift"] + 17 + 4 <= row_px - bar_px / 2  # and clear of the one above


def test_gates_charts_leave_room_for_their_legends_and_heard_labels():
    """At 1024 px a Gates chart is ~250 px wide: its legend wraps to one entry a row, and three rows
    ("foreground"...) reached up into the title; "text tokens 5.66" was written over the norms' bars."""
    from studio.charts import LEGEND_ROW_PX, legend_rows

    at = _app(w_sources="stems")
    _render(at)
    at.switch_page("../pages/gates.py").run()
    _ok(at)
    figures = _figures(at)
    titled = {f["layout"]["title"]["text"]: f for f in figures if f["layout"].get("title", {}).get("text")}
    for title in ("Gate value per layer", "Level used at each step"):
        fig = titled[title]
        assert legend_rows(_legend(fig)) == 3
        assert fig["layout"]["margin"]["t"] >= 26 + 10 + LEGEND_ROW_PX * 3, title  # title, then the legend
    norms = next(f for t, f in titled.items() if t.startswith("Token norms"))
    assert not norms["layout"].get("annotations")  # nothing written on the plot
    assert any(n.startswith("text tokens ") for n in _legend(norms))  # the dashed line, named in the legend
    heard = [f for f in figures if f["data"] and f["data"][0].get("orientation") == "h"]
    assert len(heard) == 3  # one per level
    for fig in heard:
        _heard_rows_fit(fig)


def test_spectrogram_stems_come_two_a_row_with_short_titles():
    """Four stems in a row at 1024 px cut "CLAP hears in d…" and the players' seek bars; the
    levels' charts were titled "The background (drums + other) hears", cut in a third of the page."""
    at = _app()
    at.switch_page("../pages/spectrogram.py").run()
    at.radio(key="spec_sources").set_value("stems").run()
    _ok(at)
    figures = _figures(at)
    titles = [f["layout"].get("title", {}).get("text") for f in figures]
    assert not [t for t in titles if t and t.startswith("CLAP hears in")]
    assert not [t for t in titles if t and t.endswith(" hears") and t != "CLAP hears"]
    assert any("The **background** (drums + other) hears" in m.value for m in at.markdown)
    widths = [round(c.weight, 3) for c in at.columns]
    assert 0.25 not in widths and widths.count(0.5) >= 4  # the four stems' cards: two rows of two
    for fig in figures:
        if fig["data"] and fig["data"][0].get("orientation") == "h":
            _heard_rows_fit(fig)
