"""The Edit page through AppTest on the tiny models: upload a photo, choose a region (a rectangle, or
strokes painted on the canvas), edit, see before and after, download a PNG that reproduces; the live
preview follows the knobs; the Gates page shows the edit's trace; a missing photo is said plainly."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import soundfile as sf
from PIL import Image

from core.cli import main
from core.edit.export import read_edit
from core.edit.run import run_steps
from core.images import working_size
from core.samples import SAMPLES_DIR
from studio import editing, region
from studio.widgets.canvas import display_size
from tests.studio_helpers import FAST, app, edit_page, errors, ok, render, session, strokes_state


def _photo() -> bytes:
    y, x = np.mgrid[0:64, 0:96]
    buf = io.BytesIO()
    Image.fromarray(np.stack([x * 2, y * 3, (x + y) % 256], -1).astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _reproduces_from(folder, output, files: dict) -> None:
    """The edit's PNG with `files` and its sample clip beside it: `edit --from` gives the same pixels."""
    (folder / "edit.png").write_bytes(output.png)
    clip = read_edit(output.png).generation.audio_path
    for name, data in {**files, clip: (SAMPLES_DIR / clip).read_bytes()}.items():
        (folder / name).write_bytes(data)
    assert main(["edit", "--from", str(folder / "edit.png"), "--out", str(folder / "again.png"), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(folder / "again.png")), np.asarray(output.result.image))


def test_upload_box_edit_before_after_and_a_reproducible_png(tmp_path):
    """The sidebar's preview fast paths on (the tiny decoder, channels_last): the edit takes none of
    them, so the CLI reproduces it bit for bit."""
    at = edit_page(w_steps=6, edit_denoise=0.5, ui_fast_tiny_decoder=True, ui_fast_channels_last=True)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("box").run()
    at.slider(key="edit_box_x").set_value((0.5, 1.0)).run()
    assert "Working size 96×64: 25.0% of the photo may change." in [c.value for c in at.caption]
    at.button(key="edit_run").click().run()
    ok(at)
    assert not errors(at), errors(at)
    output = session(at).edit.result
    assert output is not None
    before = np.asarray(output.result.photo, np.int16)
    after = np.asarray(output.result.image, np.int16)
    assert before.shape == after.shape == (64, 96, 3)
    assert np.array_equal(after[:, :40], before[:, :40])  # left of the box (and its feather): the photo itself
    assert np.abs(after[:, 56:] - before[:, 56:]).mean() > 1  # inside: edited
    stored = read_edit(output.png)
    assert stored.edit.denoise == 0.5 and stored.edit.image_sha256 and stored.edit.mask_sha256
    assert stored.edit.image_path == "street.png" and b"clap2diff-uploads" not in output.png
    assert {"edit_download", "edit_download_mask"} <= {b.key for b in at.get("download_button")}
    # The mask the page made is offered under the name the PNG stores: with the photo and the clip
    # beside the PNG, the CLI reproduces the edit bit for bit.
    assert stored.edit.mask_path.startswith("box_mask-") and b"clap2diff-uploads" not in output.png
    assert hashlib.sha256(output.mask).hexdigest() == stored.edit.mask_sha256
    assert editing.stored_name(output.result.params) == stored.edit.mask_path
    assert output.photo is None  # the user's own upload: they have it
    _reproduces_from(tmp_path, output, {"street.png": _photo(), stored.edit.mask_path: output.mask})

    at.button(key="edit_keep").click().run()
    kept = session(at).history[-1]
    assert kept.kind == "edit"
    keep = at.button(key="edit_keep")
    assert keep.label == f"Kept as #{kept.id}" and keep.disabled  # kept once: a second press adds no twin
    assert [h.id for h in session(at).history].count(kept.id) == 1 and len(session(at).history) == 1
    # Its Gallery card's Recall says what the sliders cannot bring back: the edit itself.
    at.switch_page("../pages/gallery.py").run()
    at.button(key=f"recall_{kept.id}").click().run()
    ok(at)
    assert any("An edited photo: Recall puts its clip, prompt and knobs" in i.value for i in at.info), at.info


def test_editing_without_a_photo_says_what_to_do_once():
    """No photo: the caption under the button says what to do, and Edit the photo points at it (a
    toast), not a red error right above it. A photo that cannot be used: its reason is one error
    under 1 · Photo, a sentence, and Edit the photo points at it."""
    at = edit_page()
    at.button(key="edit_run").click().run()
    ok(at)
    assert not errors(at), errors(at)
    assert [t.value for t in at.toast] == ["Choose a photo first (upload one, or pick a Gallery image)."]
    assert "Choose a photo, then press **Edit the photo**." in [c.value for c in at.caption]
    at.file_uploader(key="edit_photo").set_value(("cut.png", _photo()[: len(_photo()) // 2], "image/png")).run()
    ok(at)
    (said,) = errors(at)  # under the photo, once
    assert said == (
        "**Cannot use this image**: cut.png is truncated (its data ends early, e.g. an interrupted download): "
        "choose a complete copy."
    )
    assert "Choose a photo that can be used, then press **Edit the photo**." in [c.value for c in at.caption]
    at.button(key="edit_run").click().run()
    ok(at)
    assert errors(at) == [said] and session(at).edit.job is None
    assert [t.value for t in at.toast] == [
        "This photo cannot be used (see the message under **1 · Photo**): choose another."
    ]
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)  # fixed: no message left over
    assert not errors(at), errors(at)


def test_a_rectangle_that_restricts_nothing_is_said_in_its_own_words_and_goes_when_fixed():
    at = edit_page()
    wide = io.BytesIO()
    Image.new("RGB", (2000, 40), (90, 120, 150)).save(wide, format="PNG")
    at.file_uploader(key="edit_photo").set_value(("strip.png", wide.getvalue(), "image/png")).run()
    ok(at)  # said when the photo is chosen, not only after an edit
    captions = [c.value for c in at.caption]
    assert any("Photo: resized from 2000x40 to the working size 512x64" in c for c in captions), captions
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("box").run()
    at.slider(key="edit_box_x").set_value((0.5, 0.5)).run()
    empty = "The rectangle is empty: widen it with the sliders"
    assert any(empty in c.value for c in at.caption)
    at.button(key="edit_run").click().run()
    ok(at)
    assert [e for e in errors(at) if empty in e] and not [e for e in errors(at) if "box_mask-" in e], errors(at)
    assert session(at).edit.job is None  # refused before any work
    at.slider(key="edit_box_y").set_value((0.0, 1.0)).run()
    at.slider(key="edit_box_x").set_value((0.0, 1.0)).run()
    assert any("The rectangle covers the whole photo" in e for e in errors(at)), errors(at)  # the new problem
    at.slider(key="edit_box_x").set_value((0.5, 1.0)).run()
    ok(at)  # fixed: the message goes
    assert not errors(at), errors(at)
    assert region.with_box(Image.new("RGB", (96, 64)), ((0.5, 1.0), (0.0, 1.0))).getpixel((48, 10)) == (255, 64, 64)


def _painted_page(photo: bytes, **state):
    at = edit_page(**state)
    at.file_uploader(key="edit_photo").set_value(("street.png", photo, "image/png")).run()
    at.radio(key="edit_mask_source").set_value("paint").run()
    ok(at)
    return at


def test_painted_strokes_become_the_mask_at_the_working_size_and_only_there_the_photo_changes():
    photo = _photo()  # 96x64, its own working size
    at = _painted_page(photo, w_steps=6, edit_denoise=0.5, edit_feather=4)
    key = f"edit_paint_{hashlib.sha256(photo).hexdigest()[:12]}_0_c1"  # the photo's, before any Clear; canvas 1
    assert any("Paint the region" in c.value for c in at.caption), "nothing painted yet: the page says so"
    assert [c.key for c in at.get("bidi_component")] == [key]  # the canvas (a components-v2 element)
    width, height = display_size((96, 64))
    assert (width, height) == (288, 192)  # the canvas shows the photo with 3 screen px per working pixel
    assert any(c.value.startswith("A 32-px brush paints 10.7 px of the photo") for c in at.caption)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[60:120, 150:240] = (255, 64, 64, 140)  # one stroke...
    rgba[90:120, 180:240, 3] = 200  # ...and a second over it (see-through paint: a different alpha)
    rgba[:, 10] = (255, 64, 64, 90)  # a 1-px scratch: under half of each working pixel, so not painted
    at.session_state[key] = strokes_state(rgba)
    at.run()
    ok(at)
    expected = np.zeros((64, 96), bool)
    expected[20:40, 50:80] = True
    mask_file = session(at).edit_preview.job.key.edit.mask_path
    assert "Working size 96×64: 9.8% of the photo may change." in [c.value for c in at.caption]  # 20x30 px
    assert np.array_equal(np.asarray(Image.open(mask_file)) == 255, expected)
    assert np.isin(np.asarray(Image.open(mask_file)), (0, 255)).all()

    at.button(key="edit_run").click().run()
    ok(at)
    assert not errors(at), errors(at)
    r = session(at).edit.result.result
    before, after = np.asarray(r.photo, np.int16), np.asarray(r.image, np.int16)
    far = np.ones((64, 96), bool)
    far[20 - 5 : 40 + 5, 50 - 5 : 80 + 5] = False  # beyond the 4-px feather
    assert np.array_equal(after[far], before[far])
    assert np.abs(after[24:36, 54:76] - before[24:36, 54:76]).mean() > 1
    assert r.params.edit.mask_sha256 == hashlib.sha256(open(mask_file, "rb").read()).hexdigest()

    at.button(key="edit_clear").click().run()  # a fresh canvas: no strokes, so no mask
    ok(at)
    assert any("Paint the region" in c.value for c in at.caption)


def _canvas(at) -> tuple[str, dict]:
    """The canvas on the page: its widget key and the arguments it was made with."""
    (canvas,) = at.get("bidi_component")
    return canvas.key, json.loads(canvas.proto.json)


def test_a_new_brush_or_a_return_to_the_canvas_is_a_new_canvas_that_starts_from_the_strokes_so_far():
    """A canvas's arguments never change (Streamlit 1.67 can tear down a components-v2 element whose
    arguments change twice quickly: studio/widgets/canvas.py), so a new brush is a new canvas. It
    must start from the strokes so far, and until it sends, the mask is those strokes."""
    photo = _photo()
    at = _painted_page(photo)
    base = f"edit_paint_{hashlib.sha256(photo).hexdigest()[:12]}"
    key, args = _canvas(at)
    assert key == f"{base}_0_c1" and args["strokeWidth"] == 32 and args["initialDrawing"]["objects"] == []
    at.run()
    assert _canvas(at)[0] == key  # a rerun keeps the canvas
    rgba = np.zeros((192, 288, 4), np.uint8)  # the canvas: 3 screen px per working pixel
    rgba[60:120, 150:240] = (255, 64, 64, 140)
    sent = strokes_state(rgba)
    at.session_state[key] = sent
    at.run()
    share = "Working size 96×64: 9.8% of the photo may change."
    assert share in [c.value for c in at.caption]

    at.slider(key="edit_brush").set_value(10).run()
    ok(at)
    key, args = _canvas(at)
    assert key == f"{base}_0_c2" and args["strokeWidth"] == 10
    assert args["initialDrawing"] == {**sent["drawing"]["raw"], "background": ""}  # the strokes so far
    assert share in [c.value for c in at.caption]  # the mask is still the first canvas's strokes

    at.radio(key="edit_mask_source").set_value("box").run()
    at.radio(key="edit_mask_source").set_value("paint").run()
    ok(at)
    key, args = _canvas(at)  # the page left the canvas: a new one, with the strokes
    assert (
        key == f"{base}_0_c3" and args["strokeWidth"] == 10 and args["initialDrawing"]["objects"] == [{"type": "Path"}]
    )
    assert share in [c.value for c in at.caption]

    at.button(key="edit_clear").click().run()
    ok(at)
    key, args = _canvas(at)  # Clear: an empty canvas and no mask
    assert key == f"{base}_1_c1" and args["initialDrawing"]["objects"] == [] and args["strokeWidth"] == 10
    assert any("Paint the region" in c.value for c in at.caption)


def test_the_live_preview_follows_the_knobs_at_preview_quality():
    at = edit_page(w_steps=6)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)
    slot = session(at).edit_preview
    first = slot.job
    assert first is not None and first.kind == "preview" and slot.result is not None
    r = slot.result.result
    assert r.params.edit.denoise == 0.6 and r.params.generation.steps == FAST["ui_preview_steps"]
    assert r.image.size == working_size(96, 64, FAST["ui_preview_side"])
    assert r.params.edit.max_side == FAST["ui_preview_side"]  # a larger photo is drawn at the preview's side
    assert r.trace.steps == run_steps(FAST["ui_preview_steps"], 0.6)

    at.slider(key="edit_denoise").set_value(1.0).run()
    ok(at)
    assert slot.job is not first and slot.job.key.edit.denoise == 1.0
    r = slot.result.result
    assert r.params.edit.denoise == 1.0 and r.trace.steps == FAST["ui_preview_steps"]
    assert session(at).history == [] and session(at).edit.result is None  # previews only

    at.run()  # nothing changed: no new preview
    assert slot.job.key.edit.denoise == 1.0 and slot.job is session(at).edit_preview.job


def test_the_gates_page_shows_the_last_edits_trace():
    at = edit_page(w_steps=6, edit_denoise=0.5, w_audio_strength=1.5)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    ok(at)
    edit = session(at).edit.result.result
    preview = session(at).edit_preview.result.result
    at.switch_page("../pages/gates.py").run()
    ok(at)
    assert at.selectbox(key="gates_pick").value == "Latest edit"
    metrics = {m.label: str(m.value) for m in at.metric}
    assert metrics["Steps"] == str(edit.trace.steps) == str(run_steps(6, 0.5))
    steps_help = next(m.help for m in at.metric if m.label == "Steps")  # 3 of the caption's 6: said why
    assert "an edit re-runs its denoise's share of the 6 steps" in steps_help
    assert metrics["Audio strength"] == "1.5×"
    assert metrics["Adapter layers"] == f"{sum(g != 0 for g in edit.trace.gates)} of {len(edit.trace.layer_names)}"
    assert metrics["Text norm"] == f"{edit.trace.text_norm:.2f}"
    at.selectbox(key="gates_pick").set_value("Latest edit preview").run()
    ok(at)
    assert {m.label: str(m.value) for m in at.metric}["Steps"] == str(preview.trace.steps) == str(run_steps(3, 0.5))


def test_the_spectrogram_page_shows_what_the_last_edit_heard():
    at = edit_page(w_steps=6, edit_denoise=0.5)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    ok(at)
    edit = session(at).edit.result.result
    at.switch_page("../pages/spectrogram.py").run()
    ok(at)
    assert at.selectbox(key="spec_trace_pick").value == "Latest edit"
    clip = edit.params.generation.audio_path.rsplit("/", 1)[-1]
    seconds = min(10.0, sf.info(edit.params.generation.audio_path).duration)  # a sample is shorter than CLAP's 10 s
    assert any(
        c.value.startswith(f"{clip} · the {seconds:g}-second window from 0 s") and "3 steps" in c.value
        for c in at.caption
    )
    charts = [c for c in at.get("plotly_chart") if "spec_trace" in c.proto.id]
    assert len(charts) == len(edit.trace.heard) >= 1
    for chart, labels in zip(charts, edit.trace.heard.values(), strict=True):
        assert all(h.label in chart.proto.spec for h in labels)


def test_a_file_that_is_not_a_photo_is_said_at_once_and_nothing_runs():
    at = edit_page()
    at.file_uploader(key="edit_photo").set_value(("notes.png", b"these are my notes", "image/png")).run()
    ok(at)
    said = [e for e in errors(at) if "notes.png is not an image file this studio reads" in e]
    assert said, errors(at)
    assert session(at).edit_preview.job is None  # no preview of a photo that cannot be read
    at.radio(key="edit_mask_source").set_value("paint").run()
    ok(at)
    assert not at.get("bidi_component")  # no canvas without a photo
    at.button(key="edit_run").click().run()
    ok(at)
    assert session(at).edit.job is None and session(at).edit.error is None
    assert [t.value for t in at.toast] == [
        "This photo cannot be used (see the message under **1 · Photo**): choose another."
    ]
    assert errors(at) == said  # said once, under the photo


def test_a_gallery_image_edited_is_offered_with_the_edit_and_reproduces_from_them(tmp_path):
    """The user has no file of a Gallery image: the page offers it under the name the PNG stores, and
    with it (and the clip) beside the PNG the CLI reproduces the edit bit for bit."""
    from tests.studio_helpers import render

    at = app(w_steps=6, edit_denoise=0.5)
    render(at)
    item = session(at).history[-1]
    at.switch_page("../pages/edit.py").run()
    at.radio(key="edit_photo_source").set_value("gallery").run()
    at.button(key="edit_run").click().run()
    ok(at)
    output = session(at).edit.result
    assert output is not None and output.photo == item.png and output.mask is None  # the whole photo: no mask
    stored = read_edit(output.png)
    assert stored.edit.image_path == editing.stored_name(output.result.params, "image_path") == f"gallery_{item.id}.png"
    assert "edit_download_photo" in {b.key for b in at.get("download_button")}
    _reproduces_from(tmp_path, output, {stored.edit.image_path: output.photo})


def test_an_uploaded_mask_that_cannot_be_used_is_refused_before_the_edit_starts():
    at = edit_page()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("upload").run()
    blank = io.BytesIO()
    Image.new("L", (96, 64), 0).save(blank, format="PNG")
    at.file_uploader(key="edit_mask").set_value(("blank.png", blank.getvalue(), "image/png")).run()
    ok(at)
    (said,) = errors(at)  # under the region, before any click
    assert said.startswith("**Cannot use this region**: ") and "blank.png is empty" in said
    at.button(key="edit_run").click().run()
    ok(at)
    assert session(at).edit.job is None and errors(at) == [said]  # said once: the button points at it
    assert [t.value for t in at.toast] == [
        "This region cannot be used (see the message under **2 · Where it may change**): fix it first."
    ]
    captions = [c.value for c in at.caption]
    assert "The preview waits for a region it can use (2 · Where it may change)." in captions  # said once, above
    at.file_uploader(key="edit_mask").set_value(("notimage.jpg", b"not an image", "image/jpeg")).run()
    ok(at)
    assert errors(at) == [  # which file: the mask, named as given
        "**Cannot use this region**: The mask notimage.jpg is not an image file this studio reads: choose a JPEG, "
        "PNG, WebP, BMP or TIFF file."
    ], errors(at)
    assert not [c for c in (c.value for c in at.caption) if "not an image" in c]


def test_the_uploaded_photo_and_mask_stay_in_use_when_their_uploaders_leave_the_page():
    """Streamlit forgets an uploader's file once it is not drawn: the page's own round trip to
    Generate (the clip, prompt and knobs live there), or another region and back, kept nothing."""
    at = edit_page(w_steps=6)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("upload").run()
    mask = io.BytesIO()
    Image.fromarray(np.kron(np.eye(2, dtype=np.uint8) * 255, np.ones((32, 48), np.uint8)), "L").save(mask, "PNG")
    at.file_uploader(key="edit_mask").set_value(("half.png", mask.getvalue(), "image/png")).run()
    note = "Working size 96×64: 50.0% of the photo may change."
    assert note in [c.value for c in at.caption]

    at.switch_page("../pages/generate.py").run()
    at.switch_page("../pages/edit.py").run()
    at.radio(key="edit_mask_source").set_value("none").run()
    at.radio(key="edit_mask_source").set_value("upload").run()
    ok(at)
    captions = [c.value for c in at.caption]
    assert "Using the upload **street.png**: upload another to replace it." in captions
    assert "Using the upload **half.png**: upload another to replace it." in captions and note in captions
    at.button(key="edit_run").click().run()
    ok(at)
    assert not errors(at), errors(at)
    edit = session(at).edit.result.result.params.edit
    assert (edit.image_path, edit.mask_path) == tuple(session(at).edit_uploads[k] for k in ("photo", "mask"))
    assert edit.mask_sha256 == hashlib.sha256(mask.getvalue()).hexdigest()
    # Where the uploaded mask lands is shown on the photo: its white quarters tinted, the rest as it was.
    photo = editing.working_photo(edit.image_path)
    shown = np.asarray(editing.shown_photo(photo, "upload", edit.mask_path), np.int16)
    plain = np.asarray(photo.image, np.int16)
    assert np.array_equal(shown[32:, :48], plain[32:, :48]) and np.array_equal(shown[:32, 48:], plain[:32, 48:])
    assert (shown[:32, :48, 0] > plain[:32, :48, 0]).all() and (shown[32:, 48:, 1] < plain[32:, 48:, 1] + 1).all()
    assert np.abs(shown[32:, 48:] - plain[32:, 48:]).mean() > 20


def _previews(at) -> list:
    """The live preview's pictures on the page (a preview travels inline, as a data: URL; the photo
    and an edit's Before and After as media files)."""
    return [i for i in at.get("image") if any(url.startswith("data:image/") for url in i.value)]


def test_without_a_photo_the_preview_says_it_waits_and_shows_no_earlier_photos_preview():
    at = edit_page()
    assert "The preview waits for a photo (1 · Photo)." in [c.value for c in at.caption]
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    assert session(at).edit_preview.result is not None  # its preview was made...
    at.radio(key="edit_photo_source").set_value("gallery").run()  # ...and this photo source has none
    ok(at)
    assert "The preview waits for a photo (1 · Photo)." in [c.value for c in at.caption]
    assert not _previews(at) and all("older settings" not in c.value for c in at.caption)


def test_no_earlier_preview_is_shown_as_this_ones_while_the_region_is_awaited():
    """The preview of the whole photo read as the painted region's (a small "older settings" in its
    caption): while the region is awaited (nothing painted, no mask uploaded yet) or cannot be used,
    the preview says so and shows no picture; another photo's neither."""
    at = app()
    at.button(key="btn_render").click().run()  # a Gallery image to edit
    at.switch_page("../pages/edit.py").run()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    made = session(at).edit_preview.result
    assert made is not None and _previews(at)
    waits = "The preview waits for the region (2 · Where it may change)."
    for region_source in ("paint", "upload"):  # nothing painted, no mask uploaded yet: no new preview
        at.radio(key="edit_mask_source").set_value(region_source).run()
        ok(at)
        assert waits in [c.value for c in at.caption]
        assert not _previews(at) and all("older settings" not in c.value for c in at.caption), region_source
    at.radio(key="edit_mask_source").set_value("box").run()
    at.slider(key="edit_box_x").set_value((0.5, 0.5)).run()  # an empty rectangle
    ok(at)
    assert not _previews(at) and all("older settings" not in c.value for c in at.caption)
    at.radio(key="edit_mask_source").set_value("none").run()  # the whole photo again: its preview is back
    ok(at)
    assert _previews(at)
    at.radio(key="edit_mask_source").set_value("paint").run()
    made = session(at).edit_preview.result  # the whole street.png's
    at.radio(key="edit_photo_source").set_value("gallery").run()  # another photo, the region still awaited
    ok(at)
    assert session(at).edit_preview.result is made and waits in [c.value for c in at.caption]
    assert not _previews(at) and all("older settings" not in c.value for c in at.caption)


def _place(at, key: str) -> list[int] | None:
    """Where the element `key` sits in the page's tree (the path its updates are sent to)."""

    def walk(node, path: list[int]) -> list[int] | None:
        if getattr(node, "key", None) == key:
            return path
        for index, child in getattr(node, "children", {}).items():
            if (found := walk(child, [*path, index])) is not None:
                return found
        return None

    return walk(at._tree, [])


def test_a_message_over_the_result_leaves_the_result_in_its_place():
    """The browser keeps an element the script has not reached yet where it was: were the result to
    move when a message above it comes or goes, a run that follows an edit (and never finishes the
    script) would show a stale copy of the result's buttons below it."""
    at = edit_page()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    ok(at)
    quiet = _place(at, "edit_download")
    session(at).edit.note = "Cancelled: nothing was kept."
    at.run()
    assert [w.value for w in at.warning] == ["Cancelled: nothing was kept. The result below is the previous edit."]
    assert quiet is not None and _place(at, "edit_download") == quiet


def test_the_last_edit_stays_in_view_with_the_name_of_its_photo_when_another_is_chosen():
    at = edit_page()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    ok(at)
    whose = ":material/history: The last edit, of street.png: not the photo chosen now."
    assert whose not in [c.value for c in at.caption]  # its own photo: nothing to say
    other = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 40, 40)).save(other, format="PNG")
    at.file_uploader(key="edit_photo").set_value(("harbour.png", other.getvalue(), "image/png")).run()
    ok(at)
    assert session(at).edit.result is not None and whose in [c.value for c in at.caption]


def test_keep_is_offered_again_once_the_gallery_no_longer_has_the_kept_edit():
    """Keep locked for good once it said "Kept as #N": after the Gallery deleted #N, or newer images pushed it out
    (the Gallery keeps HISTORY_LIMIT), the edit could not be kept again. While #N is there, Keep stays
    locked (no twin); once gone, Keep keeps it anew under the next number."""
    import dataclasses

    from studio.history import HISTORY_LIMIT

    at = edit_page()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    at.button(key="edit_keep").click().run()
    ok(at)
    s = session(at)
    (first,) = [h.id for h in s.history]
    assert at.button(key="edit_keep").label == f"Kept as #{first}" and at.button(key="edit_keep").disabled
    at.switch_page("../pages/gallery.py").run()
    at.checkbox(key=f"sel_{first}").check().run()
    at.button(key="del_ask").click().run()
    at.button(key="del_confirm").click().run()
    at.switch_page("../pages/edit.py").run()
    ok(at)
    assert s.history == []
    keep = at.button(key="edit_keep")
    assert keep.label == "Keep" and not keep.disabled
    keep.click().run()
    ok(at)
    (second,) = [h.id for h in s.history]
    assert second > first and at.button(key="edit_keep").label == f"Kept as #{second}"
    kept = s.history[0]
    for _ in range(HISTORY_LIMIT):  # newer images push it out of the Gallery
        s.add_history(dataclasses.replace(kept, id=s.new_id(), stem=None))
    at.run()
    ok(at)
    assert s.find(second) is None
    keep = at.button(key="edit_keep")
    assert keep.label == "Keep" and not keep.disabled


def test_keep_at_the_gallery_limit_says_the_photo_it_pushed_out_is_no_longer_chosen():
    """With the Gallery full, Keep pushes out its oldest image: when that is the photo being edited,
    the picker fell back to the newest (the kept edit itself) without a word."""
    import dataclasses

    from studio.history import HISTORY_LIMIT

    at = render(app())
    s = session(at)
    while len(s.history) < HISTORY_LIMIT:
        s.add_history(dataclasses.replace(s.history[-1], id=s.new_id(), stem=None))
    oldest = s.history[0].id
    at.switch_page("../pages/edit.py").run()
    at.radio(key="edit_photo_source").set_value("gallery").run()
    at.selectbox(key="edit_gallery_pick").set_value(oldest).run()
    at.button(key="edit_run").click().run()
    ok(at)
    note = f":material/info: #{oldest} is no longer in the Gallery (deleted, or pushed out by newer images): "
    assert not [c.value for c in at.caption if c.value.startswith(note)]
    at.button(key="edit_keep").click().run()
    ok(at)
    assert s.find(oldest) is None and at.button(key="edit_keep").label == f"Kept as #{s.history[-1].id}"
    assert [c.value for c in at.caption if c.value.startswith(note)] == [note + "the newest is chosen instead."]
    assert at.selectbox(key="edit_gallery_pick").value == s.history[-1].id


def test_kept_edits_are_named_by_their_photo_prompt_mode_and_denoise_in_the_gallery():
    at = edit_page(w_prompt="a city")
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    for denoise in (0.6, 0.3):
        at.slider(key="edit_denoise").set_value(denoise).run()
        at.button(key="edit_run").click().run()
        at.button(key="edit_keep").click().run()
        ok(at)
    at.switch_page("../pages/gallery.py").run()
    labels = sorted(c.label for c in at.checkbox if c.key.startswith("sel_"))  # Markdown: '#' escaped
    assert labels == [
        r"\#1 · edit of street.png · a city · variation, denoise 0.6",
        r"\#2 · edit of street.png · a city · variation, denoise 0.3",
    ]


def test_a_clip_generate_refuses_is_refused_by_edit_as_compare_does_said_once():
    """A silent upload: Generate will not render with it, so Edit will not edit with it either (it
    ran with no audio). One error under the button, as on Compare; Edit the photo points at it."""
    from tests.studio_helpers import wav

    at = app()
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value(("hush.wav", wav(silent=True), "audio/wav")).run()
    at.switch_page("../pages/edit.py").run()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)
    (said,) = errors(at)
    assert said.startswith("**Audio problem**: ") and "hush.wav is silent" in said
    assert session(at).edit_preview.job is None  # no preview either, and its caption points at the error
    assert "The preview waits for a usable clip (see under **4 · Edit**)." in [c.value for c in at.caption]
    assert not any("hush.wav" in c.value for c in at.caption)  # said once
    at.button(key="edit_run").click().run()
    ok(at)
    assert session(at).edit.job is None and session(at).edit.result is None
    assert errors(at) == [said]
    assert [t.value for t in at.toast] == [
        "Nothing to edit without a usable clip: the message under Edit the photo says why this one cannot be used."
    ]


def test_a_mask_the_page_made_kept_as_an_upload_is_never_named_by_its_file():
    """Where a painted region can only come back as the kept mask file (a reload whose strokes are
    gone), Region says what it is, not "Using the upload painted_mask-….png" (a name the user never gave)."""
    at = edit_page()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    png = region.box_mask((96, 64), ((0.5, 1.0), (0.0, 1.0)))
    session(at).edit_uploads["mask"] = editing.save_photo(
        f"painted_mask-{hashlib.sha256(png).hexdigest()[:8]}.png", png
    )
    at.radio(key="edit_mask_source").set_value("upload").run()
    ok(at)
    captions = [c.value for c in at.caption]
    assert "Working size 96×64: 50.0% of the photo may change." in captions
    assert not any("painted_mask" in c for c in captions), captions
    assert (
        "Using the region painted before the page was reloaded: upload a mask to replace it, or choose another region."
        in captions
    )


def test_a_kept_edit_downloads_from_the_gallery_under_the_edits_own_name():
    """The Gallery named a kept edit like a generation ('clap2diff_0_thunder_78f977.png'): it is the
    name the Edit page gives it (its photo and settings), for its PNG and its trace alike."""
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    from studio.widgets import trace_filename

    at = edit_page(w_prompt="a city")
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    at.button(key="edit_keep").click().run()
    ok(at)
    output, kept = session(at).edit.result, session(at).history[-1]
    assert output.file_name.startswith(f"clap2diff_edit_{output.result.params.generation.seed}_street_")
    assert kept.kind == "edit" and kept.file_name == output.file_name
    assert trace_filename(kept) == output.file_name.removesuffix(".png") + f"_edit-{kept.id}_trace.json"
    at.switch_page("../pages/gallery.py").run()
    ok(at)
    url = next(b.proto.url for b in at.download_button if b.key == f"dl_{kept.id}")
    assert url.endswith(f"/{_calculate_file_id(kept.png, 'image/png', output.file_name)}.png"), url


def test_the_brush_and_feather_sliders_are_their_declared_knobs_and_an_odd_value_never_raises():
    """The brush (the page's own knob, editing.PageKnobs) and the feather (EditKnobs) are drawn as the
    Generate knobs are (widgets.knob_slider): label, span, step and help as declared. A value outside
    the span (one a reload's edit brings back, a damaged session's) widens it instead of raising
    StreamlitValueAboveMaxError on every run; one beyond the knob's range is said under the slider."""
    at = _painted_page(_photo())
    for key in ("edit_brush", "edit_feather"):
        k, slider = editing.knob_for(key), at.slider(key=key)
        assert (slider.label, slider.min, slider.max, slider.step) == (k.label, *k.slider, k.step), key
        assert slider.help == k.help and slider.value == editing.STARTING[key]
    assert editing.knob_for("edit_brush").slider == (4, 96)

    # Beyond the brush's range (shown, and said); beyond the feather's slider but within its range (0-256).
    at = _painted_page(_photo(), edit_brush=120, edit_feather=100)
    assert (at.slider(key="edit_brush").max, at.slider(key="edit_brush").value) == (120, 120)
    assert (at.slider(key="edit_feather").max, at.slider(key="edit_feather").value) == (100, 100)
    captions = [c.value for c in at.caption]
    assert ":red[must be between 4 and 96]" in captions and not any("256" in c for c in captions), captions


def test_an_edit_knob_that_holds_no_number_starts_from_its_default():
    """A session value the slider cannot show (not a number) is the declared default, not an exception."""
    at = edit_page(edit_mask_source="box", edit_feather="wide")
    assert at.slider(key="edit_feather").value == editing.STARTING["edit_feather"]


def test_a_painted_mask_marks_any_paint_and_a_working_pixel_at_least_half_painted():
    """Paint is any alpha above 0 (faint, see-through strokes too); scaled down, a working-size pixel
    is in the region when half of it or more was painted."""
    strokes = np.zeros((4, 8, 4), np.uint8)  # the canvas at 2x the working size 4x2
    strokes[:, 0:2, 3] = 30  # faint paint: the whole first working pixel column
    strokes[0:2, 2, 3] = 255  # half of working pixel (1, 0): painted
    strokes[2, 4, 3] = 255  # a quarter of working pixel (2, 1): not painted
    painted = np.asarray(Image.open(io.BytesIO(region.painted_mask(strokes, (4, 2))))) == 255
    assert painted.tolist() == [[True, True, False, False], [True, False, False, False]]
    assert region.painted_mask(np.zeros((4, 8, 4), np.uint8), (4, 2)) is None  # nothing painted: no mask


def test_an_edits_caption_names_its_mode_and_its_region():
    from core.edit import EditParams
    from core.params import GenerationParams

    base = EditParams(GenerationParams(prompt=" a city ")).replace(image_path="/up/ab/street.png", denoise=1.0)
    assert editing.edit_caption(base.replace(edit_mode="structure", mask_path="/up/cd/m.png")) == (
        "edit of street.png · a city · keep structure, denoise 1, region"
    )
    assert editing.edit_caption(base, "preview") == "edit preview of street.png · a city · variation, denoise 1"
