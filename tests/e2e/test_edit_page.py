"""The Edit page in a real browser: upload a photo, upload a mask or paint one with the mouse, edit,
download the PNG."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from studio.widgets.canvas import DISPLAY_WIDTH
from tests.e2e.helpers import ARTIFACTS, button, cut_short, open_studio, set_slider, shot, small_and_fast
from tests.waiting import wait_until


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
    expect(page.locator(".st-key-edit_mask")).to_contain_text("mask.png")  # in the browser: maybe not sent yet
    # The server has the mask (a click before that finds no region, and its message goes once the mask is in).
    expect(page.get_by_text("Working size 80×64: 25.0% of the photo may change.")).to_be_visible()
    _, stored = _edit_and_download(page, "edit")
    assert stored.edit.image_path == "me.png" and stored.edit.mask_sha256
    assert (stored.generation.width, stored.generation.height) == (80, 64)  # the photo's working size


def test_paint_a_mask_with_the_mouse_edit_and_download(page, server, server_dirs, tmp_path):
    """Strokes painted on the canvas are the mask (each with the brush it was painted with): the
    downloaded PNG is the photo itself outside them."""
    y, x = np.mgrid[0:64, 0:80]
    photo = np.stack([x * 3, y * 4, (x + y) % 256], -1).astype(np.uint8)  # 80x64: already its working size
    Image.fromarray(photo, "RGB").save(tmp_path / "street.png")

    _open_edit(page, server, tmp_path / "street.png")
    page.locator(".st-key-edit_mask_source").get_by_text("Paint it", exact=True).click()
    canvas = page.locator(".st-key-edit_canvas canvas").last  # Fabric's upper canvas takes the mouse
    expect(canvas).to_be_visible()
    expect(page.get_by_text("Paint the region that may change", exact=False)).to_be_visible()
    box = canvas.bounding_box()
    scale = box["width"] / 80  # the canvas shows the photo at 288x230: 3.6 screen px per working pixel
    assert abs(box["width"] - DISPLAY_WIDTH) <= 1
    wide, narrow = 32 / scale, 10 / scale  # the two brushes' widths in working pixels (8.9 and 2.8)

    def stroke(row: int, x0: int, x1: int) -> None:  # in working pixels
        page.mouse.move(box["x"] + x0 * scale, box["y"] + row * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * scale, box["y"] + row * scale, steps=12)
        page.mouse.up()

    share = page.get_by_text(re.compile(r"^Working size 80×64: [0-9.]+% of the photo may change"))
    stroke(20, 15, 65)  # the 32-px brush
    expect(share).to_be_visible()  # the strokes reached the server (the canvas sends 200 ms after mouse-up)
    first_share = share.inner_text()
    set_slider(page, "edit_brush", ["Home"] + ["ArrowRight"] * 3)  # 10 px
    expect(page.get_by_text(f"A 10-px brush paints {narrow:.1f} px of the photo", exact=False)).to_be_visible()
    # A new brush is a new canvas (studio/widgets/canvas.py): it shows the first stroke before it is
    # painted on (a stroke on the canvas it replaces, or before it has loaded the first, would be lost).
    _wait_until_painted(page, x=int(40 * scale), y=int(20 * scale))
    stroke(40, 60, 30)
    expect(share).not_to_have_text(first_share)  # the second stroke reached it too: Edit sees both
    expect(page.locator(".st-key-edit_preview_box img")).to_be_visible()  # the live preview
    shot(page, "edit_painted")
    page.set_viewport_size({"width": 1024, "height": 900})  # a laptop, sidebar open: all of the photo
    column = page.locator(".st-key-edit_canvas").bounding_box()
    assert canvas.bounding_box()["x"] + DISPLAY_WIDTH <= column["x"] + column["width"] + 0.5, column
    cut = page.evaluate("""() => [...document.querySelectorAll('button p, button')]
        .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
    assert not cut, cut  # Edit, Cancel, Clear: whole labels in the narrower preview column
    shot(page, "edit_painted_1024")
    page.set_viewport_size({"width": 1440, "height": 1400})

    path, stored = _edit_and_download(page, "edit_painted")
    assert stored.edit.mask_sha256 and (stored.generation.width, stored.generation.height) == (80, 64)
    # The mask the edit used (the server's upload of it, found by its hash): both strokes, each as wide
    # as its brush, and nothing else.
    masks = [m for m in server_dirs["uploads"].glob("*/painted_mask-*.png") if _sha256(m) == stored.edit.mask_sha256]
    region = np.asarray(Image.open(masks[0])) == 255
    rows = np.flatnonzero(region.any(axis=1))
    first, second = rows[rows < 30], rows[rows >= 30]
    assert wide - 1 <= len(first) <= wide + 2.5 and abs(first.mean() - 20) <= 1  # antialiased edges
    assert narrow - 1 <= len(second) <= narrow + 2 and abs(second.mean() - 40) <= 1
    cols = np.flatnonzero(region[first].any(axis=0))
    assert abs(cols.min() - (15 - wide / 2)) <= 2 and abs(cols.max() - (65 + wide / 2)) <= 2  # round caps
    cols = np.flatnonzero(region[second].any(axis=0))
    assert abs(cols.min() - 29) <= 2 and abs(cols.max() - 61) <= 2
    # The download: the photo's own pixels beyond the mask's feathered edge (8 px, from the edge's
    # half-pixel line: core.edit.run.feathered), edited inside.
    after = np.asarray(Image.open(path).convert("RGB"), np.int16)
    from scipy.ndimage import distance_transform_edt

    outside = distance_transform_edt(~region) >= 8.5
    assert outside.mean() > 0.4
    assert np.array_equal(after[outside], photo[outside].astype(np.int16))
    assert np.abs(after[region] - photo[region]).mean() > 1

    # At 1024 px beside the canvas, the result is readable (Before and After were 80 px each in a
    # 177-px column) and nothing is cut.
    page.set_viewport_size({"width": 1024, "height": 900})
    shown = [
        page.locator("[data-testid=stImage]", has=page.get_by_text(caption, exact=True)).locator("img")
        for caption in ("Before (working size)", "After")
    ]
    widths = lambda: [image.bounding_box()["width"] for image in shown]  # noqa: E731
    # polled: right after a viewport change the page is still laying itself out (a fresh clone's full
    # run once measured Before mid-way, 211 px)
    wait_until(lambda: min(widths()) >= 240, lambda: f"Before and After 240 px wide or more: {widths()}", 10)
    column = page.locator(".st-key-edit_canvas").bounding_box()
    assert canvas.bounding_box()["x"] + DISPLAY_WIDTH <= column["x"] + column["width"] + 0.5
    assert not cut_short(page), cut_short(page)
    shown[1].scroll_into_view_if_needed()
    shot(page, "edit_result_1024")


def _wait_until_painted(page, x: int, y: int) -> None:
    """Until the canvas on the page is ready for the mouse and shows paint at screen pixel (x, y):
    its drawing layer (Fabric's lower canvas, inside the component's shadow root) is painted there,
    and its layers lie over the photo's (until the component's stylesheet is in, Fabric's canvases
    sit below the photo's and a stroke misses them)."""
    page.wait_for_function(
        """([x, y]) => {
            const root = document.querySelector('.st-key-edit_canvas [data-testid=stBidiComponentIsolated]')?.shadowRoot;
            const drawing = root?.querySelector('canvas.dc-canvas.lower-canvas');
            const mouse = root?.querySelector('canvas.upper-canvas');
            const photo = root?.querySelector('canvas.dc-background-canvas');
            if (!drawing || !mouse || !photo) return false;
            const a = photo.getBoundingClientRect(), b = mouse.getBoundingClientRect();
            return a.x === b.x && a.y === b.y && drawing.getContext('2d').getImageData(x, y, 1, 1).data[3] > 0;
        }""",
        arg=[x, y],
    )


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
