"""A PNG's text chunks, read without decoding (or sizing up) its pixels.

`Image.open` refuses a canvas over Pillow's decompression-bomb limit before any chunk is looked
at, yet a 14 x 14 sweep of 1024 px tiles is 205 megapixels and its parameters are a few kB of
text. So the chunks are walked here with Pillow's own parser (`PngStream`): the header chunks as
`Image.open` reads them (checksums checked, a damaged file refused), then, if the metadata was
not among them, the chunks after the image data, whose bytes are skipped.
"""

from __future__ import annotations

import struct
from typing import IO

from PIL import ImageFile, PngImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _header_chunks(png: PngImagePlugin.PngStream) -> bytes:
    """Parse the chunks before the image data as `Image.open` does; returns the chunk that ended
    them (IDAT, fdAT or IEND), the file positioned after it. Damage raises SyntaxError or OSError."""
    assert png.fp is not None
    while True:
        try:
            cid, pos, length = png.read()
        except struct.error:
            raise SyntaxError("truncated PNG file (it ends inside a chunk header)") from None
        try:
            data = png.call(cid, pos, length)
        except EOFError:  # the image data (or the end) is reached: skip its bytes, keep its checksum's place
            png.fp.seek(pos + length + 4)
            return cid
        except AttributeError:  # a chunk Pillow has no handler for
            data = ImageFile._safe_read(png.fp, length)
        png.crc(cid, data)


def _later_chunks(png: PngImagePlugin.PngStream) -> None:
    """Parse the text chunks after the image data, leniently: a file that ends without IEND keeps
    what was read, as an image viewer would."""
    assert png.fp is not None
    while True:
        try:
            cid, pos, length = png.read()
        except struct.error:
            return
        if cid == b"IEND":
            return
        try:
            png.call(cid, pos, length)  # text chunks are parsed (within Pillow's text memory cap)
        except (EOFError, AttributeError):  # IDAT / fdAT / a chunk Pillow has no handler for
            png.fp.seek(pos + length)
        png.fp.read(4)  # CRC


def png_text_chunks(fp: IO[bytes], wanted: str) -> dict[str, str]:
    """Every text chunk of the PNG `fp` (positioned just after its signature, already checked).
    The chunks after the image data are read only when `wanted` is not before it."""
    png = PngImagePlugin.PngStream(fp)
    last = _header_chunks(png)
    if not png.im_mode or min(png.im_size) <= 0:
        raise SyntaxError("no valid image header (IHDR)")
    if last != b"IEND" and wanted not in png.im_text:
        _later_chunks(png)
    return {k: v for k, v in png.im_text.items() if isinstance(v, str)}


__all__ = ["PNG_SIGNATURE", "png_text_chunks"]
