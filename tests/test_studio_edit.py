"""The Edit page through AppTest on the tiny models: upload a photo, choose a region, edit, see
before and after, download a PNG that reproduces; a missing photo is said plainly."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core.edit.export import read_edit
from tests.studio_helpers import app, errors, ok, session


def _photo() -> bytes:
    y, x = np.mgrid[0:64, 0:96]
    buf = io.BytesIO()
    Image.fromarray(np.stack([x * 2, y * 3, (x + y) % 256], -1).astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _edit_page(**state):
    at = app(**state)
    at.switch_page("../pages/edit.py").run()
    ok(at)
    return at


def test_upload_box_edit_before_after_and_a_reproducible_png():
    at = _edit_page(w_steps=6, edit_denoise=0.5)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("box").run()
    at.slider(key="edit_box_x").set_value((0.5, 1.0)).run()
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
    assert any(b.key == "edit_download" for b in at.get("download_button"))

    at.button(key="edit_keep").click().run()
    assert session(at).history[-1].kind == "edit"


def test_editing_without_a_photo_says_what_to_do():
    at = _edit_page()
    at.button(key="edit_run").click().run()
    ok(at)
    assert any("Choose a photo first" in e for e in errors(at)), errors(at)
