"""Comparison grids: tiles with wrapped captions under a title, and the tiles' params in the PNG.

The layout is computed once (`grid_layout`) and used to draw and, in tests, to check sizes.
Captions are drawn in a system Unicode font when one is installed (Pillow's built-in font has no
×, →, accents or dashes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from core.params import GenerationParams

from .atomic import atomic_write
from .formats import FORMAT_VERSION, GRID_FORMAT, METADATA_KEY
from .metadata import dumps, png_encode


@dataclass(frozen=True)
class GridLayout:
    """Where everything goes in a grid: computed once, used to draw and (in tests) to check sizes."""

    columns: int
    rows: int
    tile_size: tuple[int, int]
    caption_height: int
    title_height: int
    gap: int

    @property
    def size(self) -> tuple[int, int]:
        tw, th = self.tile_size
        width = self.columns * tw + (self.columns + 1) * self.gap
        height = self.title_height + self.rows * (th + self.caption_height) + (self.rows + 1) * self.gap
        return width, height

    def tile_origin(self, index: int) -> tuple[int, int]:
        """Top-left corner of tile `index` (row-major); its caption sits right under it."""
        tw, th = self.tile_size
        row, col = divmod(index, self.columns)
        x = self.gap + col * (tw + self.gap)
        y = self.title_height + self.gap + row * (th + self.caption_height + self.gap)
        return x, y


# System fonts with wide Unicode coverage (×, →, accents, dashes), tried before Pillow's built-in
# font, whose small character set draws those as boxes. Debian: fonts-dejavu-core.
_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A system Unicode font at `size` when one is installed; Pillow's default font otherwise."""
    for path in _FONT_FILES:
        try:
            return ImageFont.truetype(path, size=size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError, AttributeError):
        return ImageFont.load_default()


def _line_height(font: Any) -> int:
    box = font.getbbox("Ágjy|")
    return int(box[3] - min(box[1], 0)) + 3


# Pillow's default font has no dashes (they draw as boxes); captions only, metadata keeps the original.
_DRAWABLE = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2212": "-"})


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap to a pixel width; words longer than a line are broken by character."""
    text = text.translate(_DRAWABLE)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if draw.textlength(candidate, font=font) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for ch in word:  # break a too-long word
                if draw.textlength(line + ch, font=font) > width and line:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line)
    return lines


def _fit_lines(draw: ImageDraw.ImageDraw, lines: list[str], font: Any, width: int, max_lines: int) -> list[str]:
    """Keep at most `max_lines`, ending the last with an ellipsis when text was cut."""
    if len(lines) <= max_lines:
        return lines
    if max_lines <= 0:
        return []
    kept = lines[:max_lines]
    last = kept[-1]
    while last and draw.textlength(last + "…", font=font) > width:
        last = last[:-1]
    kept[-1] = last.rstrip() + "…"
    return kept


def _default_columns(n: int) -> int:
    return n if n <= 4 else math.ceil(math.sqrt(n))


def _as_rgb(image: Image.Image, size: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def grid_layout(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    columns: int | None = None,
    caption_height: int | None = None,
    title: str | None = None,
    *,
    gap: int = 8,
    font_size: int | None = None,
) -> GridLayout:
    """The layout make_grid will use. caption_height None: tall enough for the longest caption (≤ 4 lines)."""
    n = len(images)
    if n == 0:
        raise ValueError("a grid needs at least one image")
    if len(captions) != n:
        raise ValueError(f"got {n} images but {len(captions)} captions")
    columns = _default_columns(n) if columns is None else int(columns)
    if columns < 1:
        raise ValueError(f"columns must be at least 1 (got {columns})")
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    tile = images[0].size
    size = font_size or max(12, tile[0] // 32)
    font = _font(size)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = max(2, size // 3)
    if caption_height is None:
        lines = max(len(_wrap(draw, c, font, tile[0] - 2 * pad)) for c in captions)
        caption_height = 0 if not any(captions) else min(lines, 4) * _line_height(font) + 2 * pad
    if caption_height < 0:
        raise ValueError("caption_height must not be negative")
    title_height = 0
    if title:
        tfont = _font(int(size * 1.4))
        width = columns * tile[0] + (columns - 1) * gap
        lines = _fit_lines(draw, _wrap(draw, title, tfont, width), tfont, width, 3)
        title_height = len(lines) * _line_height(tfont) + gap
    return GridLayout(columns, rows, tile, int(caption_height), title_height, max(0, int(gap)))


def make_grid(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    columns: int | None = None,
    caption_height: int | None = None,
    title: str | None = None,
    *,
    gap: int = 8,
    font_size: int | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
    text_color: tuple[int, int, int] = (24, 24, 24),
) -> Image.Image:
    """A comparison grid: tiles row-major with a wrapped caption under each, an optional title on top.

    Tiles of other sizes are resized to the first tile's size, so a grid compares like with like.
    Captions that don't fit `caption_height` end with an ellipsis.
    """
    layout = grid_layout(images, captions, columns, caption_height, title, gap=gap, font_size=font_size)
    tw, th = layout.tile_size
    size = font_size or max(12, tw // 32)
    font = _font(size)
    line_h = _line_height(font)
    pad = max(2, size // 3)
    canvas = Image.new("RGB", layout.size, background)
    draw = ImageDraw.Draw(canvas)

    if title:
        tfont = _font(int(size * 1.4))
        width = layout.size[0] - 2 * layout.gap
        y = layout.gap
        for line in _fit_lines(draw, _wrap(draw, title, tfont, width), tfont, width, 3):
            draw.text((layout.gap, y), line, fill=text_color, font=tfont)
            y += _line_height(tfont)

    max_lines = max(0, (layout.caption_height - 2 * pad) // line_h) if layout.caption_height else 0
    for i, (image, caption) in enumerate(zip(images, captions)):
        x, y = layout.tile_origin(i)
        canvas.paste(_as_rgb(image, (tw, th), background), (x, y))
        lines = _fit_lines(draw, _wrap(draw, caption, font, tw - 2 * pad), font, tw - 2 * pad, max_lines)
        ty = y + th + pad
        for line in lines:
            draw.text((x + pad, ty), line, fill=text_color, font=font)
            ty += line_h
    return canvas


def grid_metadata(captions: Sequence[str], params_list: Sequence[GenerationParams | None]) -> dict[str, Any]:
    """The `clap2diff` object of a grid: one {caption, params} per tile, in tile order."""
    if len(captions) != len(params_list):
        raise ValueError(f"got {len(captions)} captions but {len(params_list)} params")
    return {
        "format": GRID_FORMAT,
        "version": FORMAT_VERSION,
        "items": [
            {"caption": str(c), "params": None if p is None else p.validate().shareable().to_dict()}
            for c, p in zip(captions, params_list)
        ],
    }


def grid_png_bytes(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    params_list: Sequence[GenerationParams | None],
    title: str | None = None,
    **grid_kwargs: Any,
) -> bytes:
    """The grid PNG with metadata, in memory (download buttons); save_grid_png writes exactly this."""
    if len(params_list) != len(images):
        raise ValueError(f"got {len(images)} images but {len(params_list)} params")
    metadata = grid_metadata(captions, params_list)
    grid = make_grid(images, captions, title=title, **grid_kwargs)
    chunks: list[tuple[str, str, bool]] = [(METADATA_KEY, dumps(metadata), True)]
    if title:
        chunks.append(("Title", title, False))
    return png_encode(grid, chunks)


def save_grid_png(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    params_list: Sequence[GenerationParams | None],
    path: str | Path,
    title: str | None = None,
    **grid_kwargs: Any,
) -> Path:
    """Write a comparison grid PNG whose metadata lists every tile's caption and params; atomic."""
    return atomic_write(path, grid_png_bytes(images, captions, params_list, title, **grid_kwargs))


__all__ = ["GridLayout", "grid_layout", "grid_metadata", "grid_png_bytes", "make_grid", "save_grid_png"]
