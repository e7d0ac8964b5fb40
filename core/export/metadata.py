"""PNG metadata: what CLAP2Diff embeds in every image and grid, and reading it back.

Every PNG carries two text chunks:

* ``clap2diff`` (iTXt, UTF-8): ``{"format": "clap2diff/params", "version": 1, "params": {...},
  "extra": {...}}``. ``params`` is ``GenerationParams.to_dict()`` and is all that is needed to
  reproduce the image; ``extra`` is informational (heard labels, device, timings) and never read back
  into a generation.
* ``parameters``: the readable A1111-style summary (core/export/infotext.py).

Comparison grids carry ``{"format": "clap2diff/grid", "version": 1, "items": [{"caption", "params"}]}``
(core/export/grid.py). Reading back turns every failure into one ExportError that says what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from core.params import GenerationParams, ParamsError

from .atomic import atomic_write
from .formats import (
    FORMAT_VERSION,
    GRID_FORMAT,
    METADATA_KEY,
    PARAMETERS_KEY,
    PARAMS_FORMAT,
    WRITTEN_SINCE_V1,
    ExportError,
)
from .infotext import parameters_text
from .pngtext import PNG_SIGNATURE, png_text_chunks

if TYPE_CHECKING:
    from core.trace import GenerationResult

Source = str | Path | bytes | bytearray | memoryview | IO[bytes]

# PNG can store these modes losslessly as they are; anything else is converted to RGB first.
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


# ================================================================================================
# JSON
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


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def params_metadata(params: GenerationParams, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `clap2diff` object for one image. Validates first: never embed params that can't be read back."""
    params.validate()
    return {
        "format": PARAMS_FORMAT,
        "version": FORMAT_VERSION,
        "params": params.shareable().to_dict(),
        "extra": _jsonable(dict(extra or {})),
    }


def extra_from_result(result: GenerationResult) -> dict[str, Any]:
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
# PNG with embedded params
# ================================================================================================
def png_encode(image: Image.Image, chunks: Sequence[tuple[str, str, bool]]) -> bytes:
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
    return png_encode(
        image,
        [(METADATA_KEY, dumps(metadata), True), (PARAMETERS_KEY, parameters_text(params), False)],
    )


def save_png(
    image: Image.Image,
    params: GenerationParams,
    path: str | Path,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the image with its params to `path` atomically; creates parent folders."""
    return atomic_write(path, png_bytes(image, params, extra))


def save_result(result: GenerationResult, path: str | Path) -> Path:
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


MAX_PNG_BYTES = 512 * 1024 * 1024  # a PNG of ours is a few MB; beyond this it is not one to trust


def _regular_file(p: Path, what: str) -> Path:
    """`p` if it is a regular file of a sane size: a pipe would block forever, a device never ends."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise ExportError(f"{what}: file not found ({p})") from None
    except OSError as exc:  # a symlink loop, no permission, a name too long
        raise ExportError(f"{what} cannot be opened ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ExportError(f"{what}: is a folder, not a PNG file")
    if not stat.S_ISREG(info.st_mode):
        raise ExportError(f"{what} is not a regular file (a pipe, socket or device): give a PNG file")
    if info.st_size > MAX_PNG_BYTES:
        raise ExportError(f"{what} is {info.st_size / 2**20:.0f} MB: too large for a PNG made by CLAP2Diff Studio")
    return p


def _not_a_png(fp: IO[bytes], what: str) -> ExportError:
    """The refusal of a file without PNG's signature, naming its format when Pillow knows it."""
    fp.seek(0)
    with Image.open(fp) as im:  # an unknown format raises UnidentifiedImageError
        return ExportError(
            f"{what} is a {im.format} image, not a PNG: CLAP2Diff Studio stores its parameters only in PNG files"
        )


def _read_text_chunks(source: Source) -> dict[str, str]:
    """Open a PNG and return its text chunks, turning every failure into a clear ExportError.
    Its pixels are never decoded, so a grid over Pillow's decompression-bomb limit reads back."""
    what = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        opened: Any = io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)):
        opened = _regular_file(Path(source), what)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        opened = io.BytesIO(source.read())
    else:
        raise ExportError(f"cannot read a PNG from a {type(source).__name__}")
    try:
        with opened.open("rb") if isinstance(opened, Path) else opened as fp:
            if fp.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                raise _not_a_png(fp, what)
            return png_text_chunks(fp, METADATA_KEY)
    except ExportError:
        raise
    except UnidentifiedImageError:
        raise ExportError(f"{what} is not a PNG image (not an image file at all, or damaged)") from None
    except Image.DecompressionBombError as exc:  # another format's header, opened to name it
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
    except RecursionError:
        raise ExportError(f"{what}: the CLAP2Diff metadata is broken (JSON nested too deeply)") from None
    except ValueError as exc:  # invalid JSON, or a number too long to convert (Python's digit limit)
        raise ExportError(f"{what}: the CLAP2Diff metadata is broken (not valid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{what}: the CLAP2Diff metadata is broken (expected a JSON object)")
    fmt, version = data.get("format"), data.get("version")
    if fmt not in (PARAMS_FORMAT, GRID_FORMAT):
        raise ExportError(
            f"{what}: unknown CLAP2Diff metadata format {fmt!r} (expected {PARAMS_FORMAT!r} or {GRID_FORMAT!r})"
        )
    if version is None:
        raise ExportError(f"{what}: the CLAP2Diff metadata is broken (it has no format version)")
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
    if missing := [name for name in WRITTEN_SINCE_V1 if name not in data]:
        raise ExportError(
            f"{what}: the embedded parameters lack {', '.join(map(repr, missing))}, which every CLAP2Diff PNG "
            "stores (the metadata was edited): it cannot be reproduced exactly",
            field=missing[0],
        )
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
            "open one of its images to reproduce it (`python -m core params` lists them)"
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


__all__ = [
    "GridItem",
    "Source",
    "extra_from_result",
    "params_metadata",
    "png_bytes",
    "read_grid",
    "read_metadata",
    "read_params",
    "save_png",
    "save_result",
]
