"""Export that reproduces an image exactly: PNGs with embedded parameters, comparison grids, ZIPs.

Every PNG the studio writes carries two text chunks:

* ``clap2diff`` (iTXt, UTF-8): ``{"format": "clap2diff/params", "version": 1, "params": {...},
  "extra": {...}}``. ``params`` is ``GenerationParams.to_dict()`` and is all that is needed to
  reproduce the image; ``extra`` is informational (heard labels, device, timings) and never read back
  into a generation.
* ``parameters``: the readable text users know from A1111 and other SD tools (prompt, then
  ``Negative prompt: ...``, then one ``Key: value, ...`` line), so other tools and humans can see
  the settings at a glance.

Comparison grids carry ``{"format": "clap2diff/grid", "version": 1, "items": [{"caption", "params"}]}``.
Every file is written atomically (a temp file in the same folder, then ``os.replace``), so a crash
or a full disk never leaves a half-written PNG where a good one (or none) was.

No torch, no streamlit: this module is imported by the CLI, the studio and the tests alike.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, UnidentifiedImageError

from core.params import GenerationParams, ParamsError

from .errors import UserError

PARAMS_FORMAT = "clap2diff/params"
GRID_FORMAT = "clap2diff/grid"
MANIFEST_FORMAT = "clap2diff/manifest"
FORMAT_VERSION = 1
METADATA_KEY = "clap2diff"  # the PNG text chunk holding our JSON
PARAMETERS_KEY = "parameters"  # the A1111-style readable text chunk
MANIFEST_NAME = "params.json"  # the manifest inside every ZIP we write
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Source = str | Path | bytes | bytearray | memoryview | IO[bytes]

# PNG can store these modes losslessly as they are; anything else is converted to RGB first.
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


class ExportError(UserError, ValueError):
    """A PNG/ZIP could not be read back or written. The message is meant for the user.

    `field` names the parameter at fault when the embedded params fail validation (else None),
    so the studio can point at it the same way it does for a ParamsError.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# ================================================================================================
# Readable "parameters" text (A1111 style)
# ================================================================================================
def _num(value: Any) -> str:
    """Numbers as people write them: 1.0 -> "1", 0.1 -> "0.1" (shortest exact repr), 60 -> "60"."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _nums(values: Iterable[Any]) -> str:
    return "/".join(_num(v) for v in values)


def _quote(text: str) -> str:
    """Quote a value the way A1111 does when it would break the `Key: value, ...` line."""
    if any(c in text for c in ',:"\n\r'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _audio_text(params: GenerationParams) -> str:
    if params.audio_path is None:
        return "none"
    name = re.split(r"[\\/]", params.audio_path)[-1] or params.audio_path
    text = _quote(name)
    if params.audio_sha256:
        text += f" (sha256 {params.audio_sha256[:12]}…)"
    return text


def _sources_text(params: GenerationParams) -> str:
    if params.sources == "bands":
        return f"bands {_nums(params.crossovers)} Hz"
    if params.sources == "stems":
        return "stems " + "/".join(f"{stem}={level}" for stem, level in params.stem_map)
    return params.sources


def parameters_text(params: GenerationParams) -> str:
    """The A1111-style summary stored in the `parameters` chunk (for humans and other SD tools).

    Line 1 is the prompt, then `Negative prompt: ...` (omitted when empty, as A1111 does), then one
    `Key: value, ...` line. It is a summary: read_params never parses it back.
    """
    switch = f"{_nums(params.switch_points)} ({params.switch_style}"
    if params.switch_style == "smooth":
        switch += f", crossfade {_num(params.crossfade)}"
    switch += ")"
    fields: list[tuple[str, str]] = [
        ("Steps", _num(params.steps)),
        ("Sampler", params.scheduler),
        ("CFG scale", _num(params.guidance)),
        ("Seed", _num(params.seed)),
        ("Size", f"{params.width}x{params.height}"),
        ("Model", _quote(params.models)),
        ("Audio", _audio_text(params)),
        ("Audio strength", _num(params.audio_strength)),
        ("Weights", _nums(params.level_weights)),
        ("Norm target", f"{_num(params.norm_target)} ({params.norm_measure})"),
        ("Switch", _quote(switch) if "," in switch else switch),
        ("Gates", _nums(params.gate_scales)),
        ("Sources", _sources_text(params)),
        ("Mode", params.mode),
    ]
    if params.mode == "trained" and params.checkpoint:
        fields.append(("Checkpoint", _quote(params.checkpoint)))
    if params.mode == "zero-shot":
        fields += [("Top-k", _num(params.top_k)), ("Temperature", _num(params.temperature))]
    fields.append(("Split", _nums(params.split)))
    if params.window_start:
        fields.append(("Window start", f"{_num(params.window_start)} s"))
    fields.append(("Version", f"{PARAMS_FORMAT}/{FORMAT_VERSION}"))

    lines = [params.prompt]
    if params.negative_prompt:
        lines.append(f"Negative prompt: {params.negative_prompt}")
    lines.append(", ".join(f"{k}: {v}" for k, v in fields))
    return "\n".join(lines)


# ================================================================================================
# JSON helpers
# ================================================================================================
def _jsonable(value: Any) -> Any:
    """Make `extra` JSON-safe without importing numpy/torch: it is informational, so be lenient."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return _jsonable(value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def params_metadata(params: GenerationParams, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `clap2diff` object for one image. Validates first: never embed params that can't be read back."""
    params.validate()
    return {
        "format": PARAMS_FORMAT,
        "version": FORMAT_VERSION,
        "params": params.to_dict(),
        "extra": _jsonable(dict(extra or {})),
    }


def extra_from_result(result: Any) -> dict[str, Any]:
    """Informational `extra` for a core.trace.GenerationResult: what was heard, where, how long."""
    extra: dict[str, Any] = {}
    for name in ("device", "dtype"):
        if getattr(result, name, None) is not None:
            extra[name] = str(getattr(result, name))
    timings = getattr(result, "timings", None)
    if timings:
        extra["timings"] = {k: round(float(v), 4) for k, v in dict(timings).items()}
    trace = getattr(result, "trace", None)
    heard = getattr(trace, "heard", None)
    if heard:
        extra["heard"] = {src: [_jsonable(h) for h in labels] for src, labels in heard.items()}
    skipped = getattr(trace, "skipped_levels", None)
    if skipped:
        extra["skipped_levels"] = list(skipped)
    return extra


# ================================================================================================
# Atomic writes
# ================================================================================================
def _atomic_write(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` via a temp file in the same folder + os.replace.

    A reader never sees a partial file; on any error the temp file is removed and an existing
    file at `path` is left untouched. The temp file is created with mode 0o666 minus the umask,
    like a normal file (tempfile's 0o600 would make exported PNGs private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# ================================================================================================
# PNG with embedded params
# ================================================================================================
def _png_encode(image: Image.Image, chunks: Sequence[tuple[str, str, bool]]) -> bytes:
    """Encode `image` as PNG with text chunks (key, value, force_itxt)."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(image).__name__}")
    if image.mode not in _PNG_MODES:
        image = image.convert("RGB")
    info = PngImagePlugin.PngInfo()
    for key, value, itxt in chunks:
        if itxt:
            info.add_itxt(key, value)
        else:
            info.add_text(key, value)  # tEXt when latin-1 encodable, iTXt otherwise
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def png_bytes(image: Image.Image, params: GenerationParams, extra: Mapping[str, Any] | None = None) -> bytes:
    """The PNG file, with metadata, in memory (for download buttons; save_png writes exactly this)."""
    metadata = params_metadata(params, extra)
    return _png_encode(
        image,
        [(METADATA_KEY, _dumps(metadata), True), (PARAMETERS_KEY, parameters_text(params), False)],
    )


def save_png(
    image: Image.Image,
    params: GenerationParams,
    path: str | Path,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the image with its params to `path` atomically; creates parent folders."""
    return _atomic_write(path, png_bytes(image, params, extra))


def save_result(result: Any, path: str | Path) -> Path:
    """save_png for a GenerationResult, with heard labels, device and timings in `extra`."""
    return save_png(result.image, result.params, path, extra=extra_from_result(result))


# ================================================================================================
# Reading back
# ================================================================================================
def _describe(source: Source) -> str:
    if isinstance(source, (str, Path)):
        return f"'{Path(source).name}'"
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return f"'{Path(name).name}'"
    return "the data"


def _read_text_chunks(source: Source) -> dict[str, str]:
    """Open a PNG and return its text chunks, turning every failure into a clear ExportError."""
    what = _describe(source)
    fp: Any
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise ExportError(f"{what}: file not found ({p})")
        if p.is_dir():
            raise ExportError(f"{what}: is a folder, not a PNG file")
        fp = p
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        fp = io.BytesIO(source.read())
    else:
        raise ExportError(f"cannot read a PNG from a {type(source).__name__}")
    try:
        with Image.open(fp) as im:
            if im.format != "PNG":
                raise ExportError(
                    f"{what} is a {im.format} image, not a PNG: CLAP2Diff Studio stores its "
                    "parameters only in PNG files"
                )
            chunks = {k: v for k, v in im.info.items() if isinstance(v, str)}
            if METADATA_KEY not in chunks:
                # Text chunks may also follow the image data; reading those needs a full load.
                chunks.update({k: v for k, v in im.text.items() if isinstance(v, str)})
            return chunks
    except ExportError:
        raise
    except UnidentifiedImageError:
        raise ExportError(f"{what} is not a PNG image (not an image file at all, or damaged)") from None
    except Image.DecompressionBombError as exc:
        raise ExportError(f"{what} is too large to open safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ExportError(f"{what} could not be read as a PNG (damaged or truncated: {exc})") from None


def read_metadata(source: Source) -> dict[str, Any]:
    """The whole `clap2diff` object of a PNG we wrote (an image's params or a grid's items).

    Checks only the envelope (JSON object, known format, supported version); read_params and
    read_grid validate the params themselves.
    """
    what = _describe(source)
    chunks = _read_text_chunks(source)
    raw = chunks.get(METADATA_KEY)
    if raw is None:
        hint = (
            " (it has an A1111-style 'parameters' text, but that is only a summary)" if PARAMETERS_KEY in chunks else ""
        )
        raise ExportError(
            f"{what} has no CLAP2Diff parameters: this PNG was not made by CLAP2Diff Studio "
            f"or its metadata was stripped{hint}"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ExportError(f"{what}: the CLAP2Diff metadata is broken (not valid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{what}: the CLAP2Diff metadata is broken (expected a JSON object)")
    fmt, version = data.get("format"), data.get("version")
    if fmt not in (PARAMS_FORMAT, GRID_FORMAT):
        raise ExportError(
            f"{what}: unknown CLAP2Diff metadata format {fmt!r} (expected {PARAMS_FORMAT!r} or {GRID_FORMAT!r})"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExportError(f"{what}: the CLAP2Diff metadata has an invalid version {version!r}")
    if version > FORMAT_VERSION:
        raise ExportError(
            f"{what} was written by a newer CLAP2Diff Studio (format version {version}); "
            f"this one reads version {FORMAT_VERSION}"
        )
    return data


def _params_from(data: Any, what: str) -> GenerationParams:
    if not isinstance(data, Mapping):
        raise ExportError(f"{what}: the embedded parameters are missing or not a JSON object", field="params")
    try:
        return GenerationParams.from_dict(data).validate()
    except ParamsError as exc:
        raise ExportError(f"{what}: the embedded parameters are invalid: {exc}", field=exc.field) from None
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{what}: the embedded parameters are invalid: {exc}") from None


def read_params(source: Source) -> GenerationParams:
    """The validated GenerationParams embedded in a PNG written by save_png/png_bytes."""
    what = _describe(source)
    data = read_metadata(source)
    if data["format"] == GRID_FORMAT:
        n = len(data.get("items") or [])
        raise ExportError(
            f"{what} is a comparison grid of {n} images, not a single image: "
            "open one of its images (or use read_grid) to reproduce it"
        )
    return _params_from(data.get("params"), what)


@dataclass(frozen=True)
class GridItem:
    """One tile of a comparison grid as stored in its metadata (params None for a reference tile)."""

    caption: str
    params: GenerationParams | None


def read_grid(source: Source) -> list[GridItem]:
    """The captions and validated params of every tile of a grid PNG written by save_grid_png."""
    what = _describe(source)
    data = read_metadata(source)
    if data["format"] != GRID_FORMAT:
        raise ExportError(f"{what} is a single image, not a comparison grid: use read_params")
    items = data.get("items")
    if not isinstance(items, list):
        raise ExportError(f"{what}: the grid metadata is broken (no list of items)")
    out: list[GridItem] = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ExportError(f"{what}: grid item {i} is broken (expected a JSON object)")
        raw = item.get("params")
        params = None if raw is None else _params_from(raw, f"{what} (grid item {i})")
        out.append(GridItem(caption=str(item.get("caption", "")), params=params))
    return out


# ================================================================================================
# Comparison grids
# ================================================================================================
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
            {"caption": str(c), "params": None if p is None else p.validate().to_dict()}
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
    chunks: list[tuple[str, str, bool]] = [(METADATA_KEY, _dumps(metadata), True)]
    if title:
        chunks.append(("Title", title, False))
    return _png_encode(grid, chunks)


def save_grid_png(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    params_list: Sequence[GenerationParams | None],
    path: str | Path,
    title: str | None = None,
    **grid_kwargs: Any,
) -> Path:
    """Write a comparison grid PNG whose metadata lists every tile's caption and params; atomic."""
    return _atomic_write(path, grid_png_bytes(images, captions, params_list, title, **grid_kwargs))


# ================================================================================================
# File names and ZIPs
# ================================================================================================
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}


def _ascii_slug(text: str, max_len: int, sep: str = "-") -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", sep, text).strip(sep)
    if len(slug) > max_len:
        cut = slug[:max_len]
        slug = cut.rsplit(sep, 1)[0] if sep in cut[max_len // 2 :] else cut
    return slug.strip(sep)


def default_filename(params: GenerationParams) -> str:
    """`clap2diff_<seed>_<prompt slug>_<params hash>.png`: readable, and distinct per parameter set.

    The slug falls back to the audio file name (then "image") when the prompt has no ASCII words;
    the 6-hex hash keeps two images of one seed and prompt but different sliders apart.
    """
    slug = _ascii_slug(params.prompt, 40)
    if not slug and params.audio_path:
        slug = _ascii_slug(Path(re.split(r"[\\/]", params.audio_path)[-1]).stem, 40)
    digest = hashlib.sha256(params.to_json().encode("utf-8")).hexdigest()[:6]
    return f"clap2diff_{params.seed}_{slug or 'image'}_{digest}.png"


def sanitize_filename(name: str, default: str = "image.png") -> str:
    """A safe flat file name: no folders, no '..', ASCII letters/digits/._- only, ≤ 100 chars."""
    name = re.split(r"[\\/]", str(name))[-1]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._ ")
    if not name:
        return default
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10]
    stem = stem[: 100 - len(ext) - 1] if ext else name[:100]
    if stem.lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return f"{stem}.{ext}" if ext else stem


def _unique(name: str, taken: set[str]) -> str:
    if name.lower() not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    i = 2
    while True:
        candidate = f"{stem}_{i}.{ext}" if ext else f"{stem}_{i}"
        if candidate.lower() not in taken:
            return candidate
        i += 1


def zip_bytes(items: Sequence[tuple[str, bytes]]) -> bytes:
    """A ZIP of (file name, PNG bytes) plus a `params.json` manifest of every file's metadata.

    Names are sanitised and de-duplicated (the manifest lists the names as stored). A PNG without
    readable CLAP2Diff metadata is still stored, with `metadata: null` and the reason in `error`;
    other files (not PNG, not named .png: e.g. stems as WAV) are stored with `metadata: null` and no error.
    """
    taken = {MANIFEST_NAME}
    entries: list[dict[str, Any]] = []
    buf = io.BytesIO()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for raw_name, data in items:
            name = _unique(sanitize_filename(raw_name), taken)
            taken.add(name.lower())
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED  # PNG data is already deflated
            info.external_attr = 0o644 << 16
            zf.writestr(info, bytes(data))
            entry: dict[str, Any] = {"file": name}
            if bytes(data[:8]) != _PNG_SIGNATURE and not name.lower().endswith(".png"):
                entry["metadata"] = None  # not meant as an image (e.g. a stem's WAV): nothing to read back
            else:
                try:
                    entry["metadata"] = read_metadata(bytes(data))
                except ExportError as exc:
                    entry["metadata"] = None
                    entry["error"] = str(exc)
            entries.append(entry)
        manifest = {"format": MANIFEST_FORMAT, "version": FORMAT_VERSION, "files": entries}
        info = zipfile.ZipInfo(MANIFEST_NAME, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return buf.getvalue()


def write_zip(items: Sequence[tuple[str, bytes]], path: str | Path) -> Path:
    """zip_bytes written atomically to `path` (parent folders created)."""
    return _atomic_write(path, zip_bytes(items))


__all__ = [
    "ExportError",
    "FORMAT_VERSION",
    "GRID_FORMAT",
    "GridItem",
    "GridLayout",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "PARAMS_FORMAT",
    "default_filename",
    "extra_from_result",
    "grid_layout",
    "grid_metadata",
    "grid_png_bytes",
    "make_grid",
    "parameters_text",
    "params_metadata",
    "png_bytes",
    "read_grid",
    "read_metadata",
    "read_params",
    "sanitize_filename",
    "save_grid_png",
    "save_png",
    "save_result",
    "write_zip",
    "zip_bytes",
]
