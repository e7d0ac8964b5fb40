"""The Gallery (recall, PNG restore, exports) and Compare, through streamlit.testing.v1.AppTest with
the tiny offline models (tests/test_studio_apptest.py says how: a fresh session per test, one
shared engine).
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

os.environ["CLAP2DIFF_MODELS"] = "tiny"

from streamlit.testing.v1 import AppTest  # noqa: E402

from core.export import png_bytes, read_params  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from tests.studio_helpers import APP, TIMEOUT  # noqa: E402
from tests.studio_helpers import app as _app  # noqa: E402
from tests.studio_helpers import errors as _errors  # noqa: E402
from tests.studio_helpers import ok as _ok  # noqa: E402
from tests.studio_helpers import render as _render  # noqa: E402
from tests.studio_helpers import session as _session  # noqa: E402


def test_gallery_recall_restores_the_sliders():
    at = _app()
    at.slider(key="w_weight_bg").set_value(1.25).run()
    _render(at)
    item = _session(at).history[0]
    assert item.params.level_weights[1] == pytest.approx(1.25)
    at.slider(key="w_weight_bg").set_value(0.1).run()
    at.switch_page("../pages/gallery.py").run()
    _ok(at)
    shown = [j.proto.body for j in at.get("json")]  # the Parameters: as in its PNG, no server folder
    folder = os.path.dirname(item.params.audio_path)
    assert shown and all(os.path.basename(item.params.audio_path) in b and folder not in b for b in shown)
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


@pytest.mark.parametrize("made_as, recall", [("png", "recall_upload"), ("grid", "recall_grid_0")])
def test_a_png_naming_a_server_file_never_makes_the_studio_use_it(monkeypatch, tmp_path, samples, made_as, recall):
    """A PNG made by hand may name any path of the server (another session's upload here, whose
    folder is the first 16 hex of its hash, so a file list is not needed). Recall takes the clip's
    file name and hash only, as a shared PNG has them: the upload is not taken as this session's.
    A comparison grid's tile is recalled alike (it took the grid's params as written)."""
    import json
    import shutil

    from PIL import Image

    from core.export.formats import GRID_FORMAT, METADATA_KEY
    from core.export.grid import grid_metadata
    from core.export.metadata import params_metadata, png_encode
    from studio.uploads import UPLOADS_ENV

    monkeypatch.setenv(UPLOADS_ENV, str(tmp_path / "uploads"))
    theirs = tmp_path / "uploads" / ("0123456789abcdef") / "their-interview.wav"
    theirs.parent.mkdir(parents=True)
    shutil.copy(samples["rain"], theirs)
    bait = GenerationParams(prompt="bait", seed=5, steps=6, width=64, height=64, models="tiny")
    if made_as == "png":
        meta = params_metadata(bait)
        meta["params"]["audio_path"] = str(theirs)  # no hash: a name that exists would be taken as it is
    else:
        meta = grid_metadata(["tile"], [bait])
        assert meta["format"] == GRID_FORMAT
        meta["items"][0]["params"]["audio_path"] = str(theirs)
    data = png_encode(Image.new("RGB", (64, 64)), [(METADATA_KEY, json.dumps(meta), True)])
    at = _app()
    at.switch_page("../pages/gallery.py").run()
    at.file_uploader(key="gallery_png").set_value(("bait.png", data, "image/png")).run()
    _ok(at)
    at.button(key=recall).click().run()
    _ok(at)
    assert at.text_area(key="w_prompt").value == "bait"
    session = _session(at)
    assert session.clips.get("upload") is None and str(theirs) not in (session.params.audio_path or "")
    assert session.params.audio_path in (None, "their-interview.wav")


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
    (files,) = _session(at).gallery_files.values()  # studio/gallery_export.py: this selection's
    with zipfile.ZipFile(io.BytesIO(files.zip)) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 2
    from core.export import read_grid

    assert len(read_grid(files.grid)) == 2


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
    assert any("near-silent in this clip, not generated" in c.value for c in at.caption)  # boxed, its words broke
    assert any("foreground" in w.value and "Near-silent" in w.value for w in at.warning)
    from core.export import read_grid

    tiles = read_grid(_session(at).compare_files[1])
    assert len(tiles) == len(run.plan.cells)  # the skipped tile keeps its place, with no params


def _compared_mix_alone():
    """A session that ran a comparison of the mix only (no "without audio", no level alone)."""
    at = _app(w_sample="engine")
    at.switch_page("../pages/compare.py").run()
    at.multiselect(key="cmp_modes").set_value(["mix"])
    at.toggle(key="cmp_without").set_value(False)
    at.toggle(key="cmp_alone").set_value(False)
    at.button(key="cmp_run").click().run()
    _ok(at)
    return at


def test_a_comparison_made_before_the_settings_changed_says_so():
    """A seed or a weight moved on Generate after the run: the grid and its downloads are of the
    older settings, as the live preview's picture says "older settings"."""
    at = _compared_mix_alone()
    assert _session(at).compare.result is not None
    assert not [i for i in at.info if "Older settings" in i.value]
    at.session_state["w_seed"] = 4321
    at.session_state["w_weight_fg"] = 1.3
    at.run()
    _ok(at)
    older = [i.value for i in at.info if "Older settings" in i.value]
    assert len(older) == 1 and "Seed" in older[0] and "Level weights" in older[0], older
    assert at.download_button(key="cmp_grid")  # still offered, under the note
    at.session_state["w_seed"], at.session_state["w_weight_fg"] = _session(at).compare.key.params.seed, 0.7
    at.run()
    assert not [i for i in at.info if "Older settings" in i.value]  # back to the settings it was made with
    at.session_state["cmp_quality"] = "full"  # the Quality, not the steps and size it draws down
    at.run()
    older = [i.value for i in at.info if "Older settings" in i.value]
    assert len(older) == 1 and "before Quality changed" in older[0], older
    at.session_state["w_seed"] = 4321
    at.run()
    older = [i.value for i in at.info if "Older settings" in i.value]
    assert len(older) == 1 and "before Quality, Seed changed" in older[0], older


def test_older_settings_names_what_the_comparison_was_asked_and_nothing_it_ignores():
    """The note compared Generate's params, `sources` included, though a comparison runs every chosen
    mode: a change of Level sources was named, one of Source modes, Without audio or Each level alone
    never was. It compares what Run asks now (studio.history.CompareAsked)."""
    at = _compared_mix_alone()

    def older() -> list[str]:
        return [i.value for i in at.info if "Older settings" in i.value]

    assert _session(at).compare.result is not None and older() == []
    at.session_state["w_sources"] = "bands"  # Generate's mode: the comparison runs its own
    at.session_state["w_crossover_low"] = 300.0  # used by no tile without Frequency bands
    at.run()
    _ok(at)
    assert older() == []
    at.multiselect(key="cmp_modes").set_value(["mix", "bands"]).run()
    assert len(older()) == 1 and "made before Crossovers, Source modes changed" in older()[0], older()
    at.multiselect(key="cmp_modes").set_value(["mix"]).run()
    at.toggle(key="cmp_without").set_value(True).run()
    at.toggle(key="cmp_alone").set_value(True).run()
    assert len(older()) == 1 and "made before Without audio, Each level alone changed" in older()[0], older()


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
    from studio.markdown import escape_md

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
    tricky = "[x](http://e.example) *y*.png"  # a file name, shown as typed: no link, no emphasis
    at.file_uploader(key="gallery_png").set_value((tricky, data, "image/png")).run()
    _ok(at)
    said = [i.value for i in at.info if "is an edited photo" in i.value]
    assert len(said) == 1 and said[0].startswith(f"{escape_md(tricky)} is an edited photo"), said


def test_older_settings_names_the_clip_and_the_models_in_words():
    """Every GenerationParams field declares a Knob (core.knobs.knob_of refuses one without), so the
    note names a recorded clip's hash and the models by their labels, never by a raw field name."""
    from studio.history import CompareAsked
    from studio.widgets.results import older_settings_note

    made = GenerationParams(audio_path="/a/rain.wav", audio_sha256="a" * 64, models="tiny")
    now = made.replace(audio_sha256="b" * 64, models="sd15")
    note = older_settings_note(CompareAsked.of(made, ["mix"]), CompareAsked.of(now, ["mix"]))
    assert "made before Audio, Models changed" in note, note
    assert "audio_sha256" not in note and "models" not in note
