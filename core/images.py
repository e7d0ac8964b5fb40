"""Reading a user's photo (and the mask painted on it) defensively, with Pillow.

A photo comes from anywhere: a phone (EXIF-rotated, 4032x3024), a scanner (16-bit, CMYK), the web
(palette, transparency), or is no image at all. `load_photo` turns every such file into one RGB
picture at a working size Stable Diffusion can take (each side a multiple of 8, the longer one at
most `max_side`, the aspect kept), with a `notes` list of what was changed that a user may care
about; `load_mask` turns a painted mask into a binary array at that working size. Each failure is
an `ImageError` subclass whose message says what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UserError

# The largest photo we open: 50 megapixels (an 8K frame is 33; a phone's is 12-48). A decompression
# bomb is a small file that claims a huge canvas; it is refused from its header, before decoding.
MAX_PIXELS = 50_000_000
# The largest photo file we read: 50 megapixels of 16-bit RGBA, uncompressed, is 400 MB.
MAX_FILE_BYTES = 512 * 2**20
DEFAULT_MAX_SIDE = 512  # SD 1.x's native size: a larger working size mostly costs time
MIN_SIDE = 64  # the smallest side GenerationParams accepts
MULTIPLE = 8  # the VAE's downsampling factor: latents need each side to divide by it

Source = str | Path | bytes


class ImageError(UserError, ValueError):
    """A photo or mask that cannot be used; the message says why and what to do."""


class NotAnImageError(ImageError):
    """The file is not an image Pillow can read (or is empty): said without naming Pillow."""


class TruncatedImageError(ImageError):
    """The file starts as an image but its data ends early (an interrupted download or copy)."""


class DamagedImageError(ImageError):
    """The file is complete but its data is corrupt (a checksum inside it does not match): Pillow
    decodes a PNG with damaged image data without a word, as black or streaked rows."""


class ImageTooLargeError(ImageError):
    """The image claims more pixels than MAX_PIXELS (possibly a decompression bomb)."""


class MaskError(ImageError):
    """A mask that would make the edit meaningless: nothing painted, or everything."""


@dataclass(frozen=True)
class Photo:
    """A decoded photo at its working size. `sha256` is of the file's bytes: reproducing checks it."""

    image: Image.Image  # RGB, `size` == working size
    sha256: str
    name: str
    original_size: tuple[int, int]  # (width, height) as stored in the file, before EXIF rotation
    notes: tuple[str, ...] = field(default_factory=tuple)
    upright_size: tuple[int, int] | None = None  # after EXIF rotation, before the working size: a mask's shape

    @property
    def shape(self) -> tuple[int, int]:
        """(width, height) of the photo as seen, full size: what a mask made for it must match."""
        return self.upright_size or self.size

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


@dataclass(frozen=True)
class Mask:
    """A binary mask at the photo's working size: True where the edit may change the photo."""

    region: np.ndarray  # bool (height, width)
    sha256: str
    name: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fraction(self) -> float:
        return float(self.region.mean())


def _read(source: Source, what: str) -> tuple[bytes, str]:
    """The file's bytes, refusing first what cannot be a photo: a pipe would block forever, a
    device never ends, a file over MAX_FILE_BYTES would fill the memory before its header is read."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), what
    path = Path(source).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotAnImageError(f"{what} {path}: file not found") from None
    except OSError as exc:  # a symlink loop, a folder without permission, a name too long
        raise NotAnImageError(f"{what} {path} cannot be opened ({exc.strerror or exc}): check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise NotAnImageError(f"{what} {path} is a folder: choose an image file (JPEG, PNG, WebP, ...)")
    if not stat.S_ISREG(info.st_mode):
        raise NotAnImageError(
            f"{what} {path} is not a regular file (a pipe, socket or device): choose an image file (JPEG, PNG, WebP, ...)"
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # bounded: the file may have grown since stat
    except OSError as exc:
        raise NotAnImageError(
            f"{what} {path.name} cannot be read ({exc.strerror or exc}): check its permissions"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(
            f"{what} {path.name} is over {MAX_FILE_BYTES // 2**20} MB, more than a {MAX_PIXELS // 10**6}-megapixel "
            "photo needs: choose a smaller copy (e.g. a JPEG export)"
        )
    return data, path.name


def _open(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open and fully decode, refusing a canvas over `max_pixels` from its header alone."""
    if not data:
        raise NotAnImageError(f"{name} is empty (0 bytes): choose the image file again")
    im: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.size[0] * im.size[1] > max_pixels:
                raise ImageTooLargeError(_too_large(name, _size_text(*im.size), max_pixels))
            im.load()
            _verify(data)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise NotAnImageError(
            f"{name} is not an image file this studio reads: choose a JPEG, PNG, WebP, BMP or TIFF file"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses a canvas over twice its own limit inside Image.open, before `im` exists:
        # its message still carries the pixel count
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = _size_text(*im.size) if im is not None else f"{int(pixels[1]) / 1e6:.1f} megapixels" if pixels else None
        raise ImageTooLargeError(_too_large(name, size, max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
            raise TruncatedImageError(
                f"{name} is truncated (its data ends early, e.g. an interrupted download): choose a complete copy"
            ) from None
        if "checksum" in str(exc):
            raise DamagedImageError(
                f"{name} is damaged: its data does not match its own checksums (a corrupted download or copy), "
                "so it would show as black or streaked: choose an undamaged copy"
            ) from None
        raise NotAnImageError(f"{name} could not be decoded ({exc}): it is damaged or not an image") from None
    return im


def _verify(data: bytes) -> None:
    """Check the file's own checksums (every chunk's CRC in a PNG), on a fresh reader: decoding
    stops once it has every row, so damaged image data decodes to wrong pixels without an error
    (Pillow's `verify` must run before a load, hence the second open)."""
    with Image.open(io.BytesIO(data)) as probe:
        probe.verify()


def _size_text(width: int, height: int) -> str:
    return f"{width}x{height} = {width * height / 1e6:.1f} megapixels"


def _too_large(name: str, size: str | None, limit: int) -> str:
    return (
        f"{name} is {size or 'too large'}, over the limit of {limit / 1e6:.0f} megapixels "
        "(a file this large may be a decompression bomb): scale it down first"
    )


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Any mode to 8-bit RGB, noting the conversions that can change what the edit sees."""
    if getattr(im, "n_frames", 1) > 1:
        notes.append(f"it has {im.n_frames} frames: the first one is edited")
    mode = im.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        if mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0
        im = Image.fromarray(np.clip(np.rint(values / top * 255.0), 0, 255).astype(np.uint8))
        notes.append("16-bit (or floating-point) image reduced to 8 bits per channel")
        mode = "L"
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB: colours may shift slightly (no colour profile is applied)")
        return im.convert("RGB")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            notes.append("transparent areas filled with white (the edit sees them as white)")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("1", "L"):
        notes.append("grayscale image: the edit works in colour and may add colour to it")
    return im.convert("RGB")


LONG_SIDE_FLOOR = 4 * MIN_SIDE  # a small max_side still keeps an aspect up to 4:1


def _cap(max_side: int) -> int:
    """`max_side` rounded down to a multiple of 8 (and at least 64): `--max-side 517` would otherwise
    give a 517-px side that the UNet refuses only once the models have loaded."""
    return max(MIN_SIDE, max_side // MULTIPLE * MULTIPLE)


def working_size(width: int, height: int, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """Each side a multiple of 8, the longer at most `max_side` and each at least 64, aspect kept
    (to within the rounding to 8 px). Where both cannot hold (a 64-px preview of a 3:2 photo), the
    shorter side stays 64 and the longer passes `max_side` up to `LONG_SIDE_FLOOR` (96×64, not a
    squashed 64×64); only beyond 4:1 is the aspect given up."""
    max_side = _cap(max_side)
    scale = min(1.0, max_side / max(width, height))
    scale = max(scale, MIN_SIDE / min(width, height))
    longest = max(max_side, LONG_SIDE_FLOOR)

    def side(n: int) -> int:
        return max(MIN_SIDE, min(longest, int(round(n * scale / MULTIPLE)) * MULTIPLE))

    return side(width), side(height)


MASK_ASPECT_SLACK = 0.06  # log aspect ratio: the working size's rounding to 8 px moves it by up to ~3 %


def _aspect_gap(a: tuple[int, int], b: tuple[int, int]) -> float:
    return abs(math.log((a[0] / a[1]) / (b[0] / b[1])))


def load_photo(source: Source, max_side: int = DEFAULT_MAX_SIDE, max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode a user's photo into RGB at its working size; raise ImageError for what cannot work."""
    data, name = _read(source, "photo")
    im = _open(data, name, max_pixels)
    original = im.size
    notes: list[str] = []
    if _orientation(im) not in (None, 1):
        notes.append("turned upright as its EXIF orientation says")
        im = ImageOps.exif_transpose(im)
    im = _to_rgb(im, notes)
    upright = im.size
    size = working_size(*im.size, max_side=max_side)
    if size != im.size:
        how = _aspect_change(size, im.size, max_side)
        notes.append(
            f"resized from {im.size[0]}x{im.size[1]} to the working size {size[0]}x{size[1]} (sides a multiple of 8, {how})"
        )
        im = im.resize(size, Image.Resampling.LANCZOS)
    return Photo(im, hashlib.sha256(data).hexdigest(), name, original, tuple(notes), upright)


def _aspect_change(size: tuple[int, int], was: tuple[int, int], max_side: int) -> str:
    """What the working size did to the aspect, truthfully: kept exactly, changed slightly by the
    rounding to 8 px (400x300 -> 400x304: 1.3 %), or changed by the bounds on each side."""
    if size[0] * was[1] == size[1] * was[0]:
        return "aspect kept"
    if _aspect_gap(size, was) < 0.1:  # only the rounding
        change = abs((size[0] / size[1]) / (was[0] / was[1]) - 1) * 100
        return f"so its aspect changed slightly, by {change:.1f} %"
    return f"each side from {MIN_SIDE} to {max(_cap(max_side), LONG_SIDE_FLOOR)} px, so its aspect changed"


def _orientation(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - broken EXIF is the same as none
        return None


def load_reference(source: Source, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A whole image, upright and in 8-bit RGB at its own size: what a reference-match score
    compares a render with, decoded as defensively as a photo."""
    data, name = _read(source, "reference image")
    return _to_rgb(ImageOps.exif_transpose(_open(data, name, max_pixels)), [])


def load_mask(
    source: Source, size: tuple[int, int], max_pixels: int = MAX_PIXELS, shape: tuple[int, int] | None = None
) -> Mask:
    """A mask image as a binary region at `size` (the photo's working size).

    Painted strokes on a transparent canvas (a drawing component's output) use the alpha channel;
    an opaque image uses its brightness: white (>= 50 %) marks what may change. A mask of another
    aspect than the photo's `shape` (its upright full size, default `size`) is refused: stretched,
    it would change another region than the one painted (a mask made for another photo, or for
    this one before it was turned upright)."""
    data, name = _read(source, "mask")
    said = "the mask" if name == "mask" else f"the mask {name}"  # "text.png is not an image" would not say which
    im = ImageOps.exif_transpose(_open(data, said, max_pixels))
    shape = shape or size
    if all(_aspect_gap(im.size, other) > MASK_ASPECT_SLACK for other in (shape, size)):
        raise MaskError(
            f"the mask {name} is {im.size[0]}x{im.size[1]} and the photo {shape[0]}x{shape[1]}: a mask must have "
            "the photo's shape (stretched, it would mark another region); make it on this photo as shown, upright"
        )
    notes: list[str] = []
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    alpha = im.convert("RGBA").getchannel("A") if has_alpha else None
    if alpha is not None and alpha.getextrema()[0] < 255:
        gray = alpha  # strokes on a transparent canvas
    else:
        gray = _to_rgb(im, []).convert("L")
    full = gray
    if gray.size != size:
        notes.append(f"mask of {gray.size[0]}x{gray.size[1]} scaled to the photo's working size {size[0]}x{size[1]}")
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    region = np.asarray(gray, dtype=np.uint8) >= 128
    if not region.any() and gray.size != full.size and np.asarray(full, dtype=np.uint8).max() >= 128:
        # Scaled down (a preview's smaller working size), strokes thinner than the scale faded
        # under half: the user painted, so every pixel they touch is the region (none was before).
        region = np.asarray(gray, dtype=np.uint8) > 0
        notes.append("the painted region is thinner than a pixel at this size: every pixel it touches may change")
    if not region.any():
        raise MaskError(
            f"the mask {name} is empty (nothing painted white): paint the region to change, "
            "or leave out the mask to edit the whole photo"
        )
    if region.all():
        raise MaskError(
            f"the mask {name} covers the whole photo, so it restricts nothing: leave out the mask to edit "
            "the whole photo, or paint only the region to change"
        )
    return Mask(region, hashlib.sha256(data).hexdigest(), name, tuple(notes))


__all__ = [
    "DEFAULT_MAX_SIDE",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "DamagedImageError",
    "ImageError",
    "ImageTooLargeError",
    "Mask",
    "MaskError",
    "NotAnImageError",
    "Photo",
    "TruncatedImageError",
    "load_mask",
    "load_photo",
    "load_reference",
    "working_size",
]
