"""The edit's region as pixels: a rectangle given as fractions of the photo, or the canvas's painted
strokes, turned into a mask PNG at the photo's working size (white = may change), and the
rectangle outlined on the photo. No Streamlit: the Edit page and studio.editing call these."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

TINT = (255, 64, 64)  # the region's colour over the photo (a rectangle's outline, an uploaded mask's area)

Box = tuple[tuple[float, float], tuple[float, float]]  # (x from, x to), (y from, y to) as fractions


def box_pixels(size: tuple[int, int], box: Box) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in pixels of a photo of `size`."""
    width, height = size
    (x0, x1), (y0, y1) = box
    return int(round(x0 * width)), int(round(y0 * height)), int(round(x1 * width)), int(round(y1 * height))


def box_mask(size: tuple[int, int], box: Box) -> bytes:
    """A white rectangle on black at the photo's size."""
    left, top, right, bottom = box_pixels(size, box)
    region = np.zeros((size[1], size[0]), np.uint8)
    region[top:bottom, left:right] = 255
    buf = io.BytesIO()
    Image.fromarray(region, "L").save(buf, format="PNG")
    return buf.getvalue()


def painted_mask(strokes: np.ndarray | None, size: tuple[int, int]) -> bytes | None:
    """The canvas's strokes (RGBA, any size) as a mask PNG at the photo's working size `size`: white
    where there is paint, black elsewhere; None when nothing is painted. Paint is any alpha > 0 (the
    strokes are see-through, so where two overlap the alpha differs, not the meaning); scaled with
    area averaging, a working-size pixel is white when at least half of it was painted."""
    if strokes is None or strokes.ndim != 3 or strokes.shape[-1] != 4:
        return None
    paint = (np.asarray(strokes)[..., 3] > 0).astype(np.float32)
    if not paint.any():
        return None
    if paint.shape[::-1] != tuple(size):
        paint = np.asarray(Image.fromarray(paint, "F").resize(size, Image.Resampling.BOX))
    buf = io.BytesIO()
    Image.fromarray(np.where(paint >= 0.5, 255, 0).astype(np.uint8), "L").save(buf, format="PNG")
    return buf.getvalue()


def with_box(image: Image.Image, box: Box) -> Image.Image:
    """The photo with the rectangle outlined, so its place shows before any preview."""
    from PIL import ImageDraw

    shown = image.convert("RGB")
    left, top, right, bottom = box_pixels(shown.size, box)
    if right > left and bottom > top:
        width = max(1, round(max(shown.size) / 160))
        ImageDraw.Draw(shown).rectangle((left, top, right - 1, bottom - 1), outline=TINT, width=width)
    return shown


__all__ = ["TINT", "Box", "box_mask", "box_pixels", "painted_mask", "with_box"]
