"""The Edit page in a real browser: upload a photo, upload a mask, edit, download the PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.helpers import ARTIFACTS, button, open_studio, shot, small_and_fast


def test_edit_a_photo_inside_a_mask_and_download(page, server, tmp_path):
    from core.edit.export import read_edit

    y, x = np.mgrid[0:64, 0:80]
    Image.fromarray(np.stack([x * 3, y * 4, (x + y) % 256], -1).astype(np.uint8), "RGB").save(tmp_path / "me.png")
    region = np.zeros((64, 80), np.uint8)
    region[16:48, 20:60] = 255
    Image.fromarray(region, "L").save(tmp_path / "mask.png")

    open_studio(page, server)
    small_and_fast(page, steps=4)
    page.get_by_role("link", name="Edit", exact=True).click()
    page.locator(".st-key-edit_photo input[type=file]").set_input_files(str(tmp_path / "me.png"))
    page.locator(".st-key-edit_mask_source").get_by_text("Upload a mask", exact=True).click()
    page.locator(".st-key-edit_mask input[type=file]").set_input_files(str(tmp_path / "mask.png"))
    expect(page.locator(".st-key-edit_mask")).to_contain_text("mask.png")
    page.locator(button("edit_run")).click()
    expect(page.get_by_text("After", exact=True)).to_be_visible()
    shot(page, "edit_done")
    with page.expect_download() as info:
        page.locator(button("edit_download")).click()
    path = ARTIFACTS / "edit_download.png"
    info.value.save_as(path)
    stored = read_edit(path)
    assert stored.edit.image_path == "me.png" and stored.edit.mask_sha256
    assert (stored.generation.width, stored.generation.height) == (80, 64)  # the photo's working size
