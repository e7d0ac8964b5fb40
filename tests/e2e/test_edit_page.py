"""The Edit page in a real browser: upload a photo, upload a mask or paint one with the mouse, edit,
download the PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.helpers import ARTIFACTS, button, open_studio, set_slider, shot, small_and_fast


def _open_edit(page, server, photo) -> None:
    """The studio at small sizes and few steps, on the Edit page with `photo` uploaded."""
    open_studio(page, server)
    small_and_fast(page, steps=4)
    page.get_by_role("link", name="Edit", exact=True).click()
    page.locator(".st-key-edit_photo input[type=file]").set_input_files(str(photo))


def _edit_and_download(page, name: str):
    """Press Edit, wait for the after image, download the PNG: (its path, its stored EditParams)."""
    from core.edit.export import read_edit

    page.locator(button("edit_run")).click()
    expect(page.get_by_text("After", exact=True)).to_be_visible()
    shot(page, f"{name}_done")
    with page.expect_download() as info:
        page.locator(button("edit_download")).click()
    path = ARTIFACTS / f"{name}_download.png"
    info.value.save_as(path)
    return path, read_edit(path)


def test_edit_a_photo_inside_a_mask_and_download(page, server, tmp_path):
    y, x = np.mgrid[0:64, 0:80]
    Image.fromarray(np.stack([x * 3, y * 4, (x + y) % 256], -1).astype(np.uint8), "RGB").save(tmp_path / "me.png")
    region = np.zeros((64, 80), np.uint8)
    region[16:48, 20:60] = 255
    Image.fromarray(region, "L").save(tmp_path / "mask.png")

    _open_edit(page, server, tmp_path / "me.png")
    page.locator(".st-key-edit_mask_source").get_by_text("Upload a mask", exact=True).click()
    page.locator(".st-key-edit_mask input[type=file]").set_input_files(str(tmp_path / "mask.png"))
    expect(page.locator(".st-key-edit_mask")).to_contain_text("mask.png")
    _, stored = _edit_and_download(page, "edit")
    assert stored.edit.image_path == "me.png" and stored.edit.mask_sha256
    assert (stored.generation.width, stored.generation.height) == (80, 64)  # the photo's working size


def test_paint_a_mask_with_the_mouse_edit_and_download(page, server, tmp_path):
    """Strokes painted on the canvas are the mask: the downloaded PNG is the photo itself outside them."""
    y, x = np.mgrid[0:64, 0:80]
    photo = np.stack([x * 3, y * 4, (x + y) % 256], -1).astype(np.uint8)  # 80x64: already its working size
    Image.fromarray(photo, "RGB").save(tmp_path / "street.png")

    _open_edit(page, server, tmp_path / "street.png")
    page.locator(".st-key-edit_mask_source").get_by_text("Paint it", exact=True).click()
    canvas = page.locator(".st-key-edit_canvas canvas").last  # Fabric's upper canvas takes the mouse
    expect(canvas).to_be_visible()
    expect(page.get_by_text("Paint the region that may change", exact=False)).to_be_visible()
    box = canvas.bounding_box()
    scale = box["width"] / 80  # the canvas shows the photo at 384x307: 4.8 screen px per working pixel
    # Two strokes along row 25 (working pixels): x 20..60, then a thinner brush from 60 back to 30.
    for x0, x1 in ((20, 60), (60, 30)):
        if x0 == 60:
            set_slider(page, "edit_brush", ["Home"])  # 4 px: the first stroke stays on the canvas
            expect(page.locator(".st-key-edit_brush")).to_contain_text("4")
        page.mouse.move(box["x"] + x0 * scale, box["y"] + 25 * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * scale, box["y"] + 25 * scale, steps=12)
        page.mouse.up()
    expect(page.get_by_text("the strokes are the mask at this size", exact=False)).to_be_visible()
    expect(page.locator(".st-key-edit_preview_box img")).to_be_visible()  # the live preview
    shot(page, "edit_painted")

    path, stored = _edit_and_download(page, "edit_painted")
    assert stored.edit.mask_sha256 and (stored.generation.width, stored.generation.height) == (80, 64)
    after = np.asarray(Image.open(path).convert("RGB"), np.int16)
    # The brush (32 screen px = 6.7 working px) reaches 4 px either side of row 25; the feather 8 more.
    outside = np.ones((64, 80), bool)
    outside[25 - 13 : 25 + 14, 20 - 13 : 60 + 14] = False
    assert np.array_equal(after[outside], photo[outside].astype(np.int16))
    assert np.abs(after[24:27, 25:55] - photo[24:27, 25:55]).mean() > 1  # painted: edited
    assert np.abs(after[24:27, 21:29] - photo[24:27, 21:29]).mean() > 1  # the first stroke alone
