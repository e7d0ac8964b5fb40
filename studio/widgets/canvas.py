"""Painting a region on a photo with streamlit-drawable-canvas (Fabric.js; its components-v2 build
works with Streamlit 1.67). The photo is the canvas's background, which the component never sends
back; the strokes come back as an RGBA picture at the canvas's size whose alpha says where paint
is, and `studio.region.painted_mask` turns that into the mask at the photo's working size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio import bindings

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from studio.session import Painting

# See-through paint: the photo stays visible under the strokes (any alpha > 0 counts as painted).
PAINT = "rgba(255, 64, 64, 0.55)"
# px on screen. The canvas needs a width in pixels, and the server does not know the browser's: the
# Edit page gives its photo column room for the canvas while painting (PAINT_COLUMNS, PAINT_GAP), ~300
# px on a 1024-px window with the sidebar open (440 at 1280), and a wider canvas would hide the
# photo's right side. No more than that: the other column holds the preview and the result, ~250 px
# there (at 1.7 : 1 with a large gap it was 177 px, and Before and After 80 px each). The strokes
# are scaled to the working size whatever the canvas's size.
DISPLAY_WIDTH, DISPLAY_HEIGHT = 288, 384
PAINT_COLUMNS = (1.2, 1.0)  # photo column : preview and result column while painting (else 1 : 1.3)
PAINT_GAP = "small"  # between them while painting (else large)
_GONE = object()  # no widget state under a canvas's key: the page left that canvas


def display_size(size: tuple[int, int], most: tuple[int, int] = (DISPLAY_WIDTH, DISPLAY_HEIGHT)) -> tuple[int, int]:
    """The canvas's size on screen: the photo's aspect, as large as fits `most` (a small photo is
    enlarged so that it can be painted on; a large one shrunk to fit the column)."""
    width, height = size
    scale = min(most[0] / width, most[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def brush_note(brush: int, size: tuple[int, int]) -> str:
    """What the brush's width on screen is on the photo at its working size `size`."""
    on_photo = brush * size[0] / display_size(size)[0]
    return f"A {brush}-px brush paints {on_photo:.1f} px of the photo at its working size."


def canvas_key(painting: Painting) -> str:
    return f"{painting.key}_c{painting.canvas}"


def paint_canvas(photo: Image.Image, brush: int, painting: Painting) -> np.ndarray | None:
    """The canvas over `photo`, painting with `brush`; returns the strokes (RGBA at the canvas's
    size), or None before any. `painting` keeps the strokes across canvases; its `key` names the
    photo and the Clear round (a new one is an empty canvas).

    A canvas's arguments never change: a new brush is a new canvas (a new widget key) that starts
    from the strokes so far. Streamlit 1.67 can tear down a components-v2 element whose arguments
    change twice in quick succession (a cancelled mount's clean-up runs after the next mount, on
    the same element: the review of streamlit/streamlit#17017); stepping the brush slider with
    the arrow keys lost the first strokes that way, or the whole canvas. A canvas the page left
    (its widget state is gone) is made anew too, so what it shows is always what the mask holds."""
    # The package registers its component when imported, which needs a running script: import here.
    from streamlit_drawable_canvas import st_canvas

    if int(brush) != painting.brush or bindings.value(canvas_key(painting), _GONE) is _GONE:
        painting.canvas, painting.brush, painting.start = painting.canvas + 1, int(brush), painting.drawing
    width, height = display_size(photo.size)
    result = st_canvas(
        stroke_width=painting.brush,
        stroke_color=PAINT,
        background_image=photo,
        width=width,
        height=height,
        drawing_mode="freedraw",
        initial_drawing=painting.start,
        return_image_data=True,
        key=canvas_key(painting),
    )
    strokes = result.image_data  # None until this canvas sends
    if strokes is not None:
        painting.drawing, painting.strokes = result.json_data, strokes
    return painting.strokes


__all__ = [
    "DISPLAY_HEIGHT",
    "DISPLAY_WIDTH",
    "PAINT",
    "PAINT_COLUMNS",
    "PAINT_GAP",
    "brush_note",
    "canvas_key",
    "display_size",
    "paint_canvas",
]
