"""core/images.py: every awkward photo or mask a user may bring, and the message each one gets."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from core import images
from core.errors import UserError
from core.images import (
    DamagedImageError,
    ImageTooLargeError,
    MaskError,
    NotAnImageError,
    TruncatedImageError,
    load_mask,
    load_photo,
    load_reference,
    working_size,
)


def encode(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def gradient(w: int = 96, h: int = 64) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def test_every_image_error_is_a_user_error():
    for cls in (NotAnImageError, TruncatedImageError, DamagedImageError, ImageTooLargeError, MaskError):
        assert issubclass(cls, UserError)


def test_a_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello, not a picture")
    with pytest.raises(NotAnImageError, match=r"notes\.jpg is not an image file this studio reads: choose a JPEG"):
        load_photo(path)


def test_an_empty_file_and_a_missing_file_and_a_folder(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(NotAnImageError, match=r"empty\.png is empty \(0 bytes\)"):
        load_photo(tmp_path / "empty.png")
    with pytest.raises(NotAnImageError, match="file not found"):
        load_photo(tmp_path / "nope.png")
    with pytest.raises(NotAnImageError, match="is a folder: choose an image file"):
        load_photo(tmp_path)


@pytest.mark.timeout(20)  # reading a pipe once blocked forever
@pytest.mark.parametrize("kind", ["pipe", "loop", "large"])
def test_a_pipe_a_symlink_loop_or_a_huge_file_is_refused_before_reading(tmp_path, monkeypatch, kind):
    path = tmp_path / "photo.png"
    if kind == "pipe":
        os.mkfifo(path)  # no writer: a read would wait for one forever
        message = (
            f"{path} is not a regular file (a pipe, socket or device): choose an image file (JPEG, PNG, WebP, ...)"
        )
    elif kind == "loop":
        path.symlink_to(path)
        message = f"{path} cannot be opened (Too many levels of symbolic links): check the path"
    else:
        path.write_bytes(encode(gradient()))
        monkeypatch.setattr(images, "MAX_FILE_BYTES", path.stat().st_size - 1)
        message = (
            "photo.png is over 0 MB, more than a 50-megapixel photo needs: choose a smaller copy (e.g. a JPEG export)"
        )
    error = NotAnImageError if kind != "large" else ImageTooLargeError
    for load, what in ((load_photo, "photo"), (lambda p: load_mask(p, (64, 64)), "mask")):
        with pytest.raises(error) as err:
            load(path)
        assert str(err.value) == f"{what} {message}"


def test_a_file_exactly_at_the_size_limit_is_read(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    path.write_bytes(encode(gradient()))
    monkeypatch.setattr(images, "MAX_FILE_BYTES", path.stat().st_size)
    assert load_photo(path).size == (96, 64)


def test_a_reference_image_is_upright_rgb_at_its_own_size_and_refused_like_a_photo(tmp_path):
    stored = np.zeros((32, 64, 3), np.uint8)  # landscape as stored, its left half red
    stored[:, :32, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: portrait, red on top
    path = tmp_path / "ref.png"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    upright = np.asarray(load_reference(path))
    assert upright.shape == (64, 32, 3) and upright[:32, :, 0].min() == 255 and upright[32:, :, 0].max() == 0
    with pytest.raises(ImageTooLargeError, match="over the limit of 50 megapixels"):
        load_reference(encode(Image.new("1", (8000, 7000))))
    with pytest.raises(NotAnImageError, match=r"^reference image .*nope\.png: file not found$"):
        load_reference(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_file_is_refused_as_truncated(fmt):
    data = encode(gradient(128, 128), fmt)
    with pytest.raises(TruncatedImageError, match=r"is truncated \(its data ends early"):
        load_photo(data[: len(data) // 2])


def _zeroed_inside_idat(data: bytes, count: int = 200) -> bytes:
    """A complete PNG whose image data has `count` bytes zeroed halfway through its first IDAT chunk."""
    at = data.index(b"IDAT") + 4
    length = int.from_bytes(data[at - 8 : at - 4], "big")
    start = at + length // 2 - count // 2
    return data[:start] + bytes(count) + data[start + count :]


def test_a_png_with_damaged_image_data_is_refused_as_damaged_not_shown_black_or_streaked(tmp_path):
    """Pillow decodes a PNG with damaged image data without an error (it stops once it has every
    row): the photo showed black and streaked. Its chunk checksums say it is damaged."""
    photo = encode(gradient(400, 300))
    damaged = _zeroed_inside_idat(photo)
    with Image.open(io.BytesIO(damaged)) as im:
        im.load()  # what let it through: Pillow alone says nothing
    (tmp_path / "street.png").write_bytes(damaged)
    with pytest.raises(DamagedImageError, match=r"^street\.png is damaged: its data does not match its own checksums"):
        load_photo(tmp_path / "street.png")
    with pytest.raises(DamagedImageError, match="is damaged"):  # a mask too
        load_mask(damaged, (400, 304), shape=(400, 300))
    assert load_photo(photo).size == (400, 304)  # the undamaged file is fine


def test_a_decompression_bomb_is_refused_from_its_header_with_the_limit_named():
    bomb = encode(Image.new("1", (8000, 7000)))  # 56 megapixels in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLargeError) as err:
        load_photo(bomb)
    assert "8000x7000 = 56.0 megapixels, over the limit of 50 megapixels" in str(err.value)
    assert "decompression bomb" in str(err.value)
    with pytest.raises(ImageTooLargeError, match="over the limit of 1 megapixels"):
        load_photo(encode(gradient(1200, 1000)), max_pixels=1_000_000)


def test_a_canvas_pillow_itself_refuses_on_opening_is_refused_as_too_large():
    """Over twice Pillow's own limit (~179 Mpx) Image.open raises before the image exists."""
    bomb = encode(Image.new("1", (20000, 10000)))  # 200 megapixels in a few kB
    for load in (load_photo, lambda data: load_mask(data, (64, 64))):
        with pytest.raises(ImageTooLargeError) as err:
            load(bomb)
        assert "is 200.0 megapixels, over the limit of 50 megapixels" in str(err.value)


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    values = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    photo = load_photo(encode(Image.fromarray(values)))
    pixels = np.asarray(photo.image)
    assert pixels.shape == (64, 64, 3)
    assert pixels[0, 0, 0] == 0 and pixels[-1, -1, 0] == 255 and 120 <= pixels[32, 0, 0] <= 135
    assert "16-bit (or floating-point) image reduced to 8 bits per channel" in photo.notes


def test_cmyk_is_converted_with_a_note():
    cmyk = gradient(64, 64).convert("CMYK")
    photo = load_photo(encode(cmyk, "JPEG"))
    assert photo.image.mode == "RGB"
    assert any(n.startswith("CMYK image converted to RGB") for n in photo.notes)


def test_palette_with_transparency_and_alpha_are_flattened_on_white():
    rgba = gradient(64, 64).convert("RGBA")
    rgba.putalpha(Image.new("L", (64, 64), 0).point(lambda _: 0))
    photo = load_photo(encode(rgba))
    assert np.all(np.asarray(photo.image) == 255)
    assert "transparent areas filled with white (the edit sees them as white)" in photo.notes
    opaque = load_photo(encode(gradient(64, 64).convert("RGBA")))
    assert opaque.notes == ()  # fully opaque alpha changes nothing: no note
    palette = gradient(64, 64).convert("P")
    palette.info["transparency"] = 0
    assert any("transparent" in n for n in load_photo(encode(palette, transparency=0)).notes)
    assert load_photo(encode(gradient(64, 64).convert("P"))).notes == ()


def test_grayscale_is_noted_because_the_edit_may_add_colour():
    photo = load_photo(encode(gradient(64, 64).convert("L")))
    assert photo.image.mode == "RGB"
    assert "grayscale image: the edit works in colour and may add colour to it" in photo.notes


def test_exif_rotation_is_honoured():
    im = gradient(96, 64)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    photo = load_photo(encode(im, "JPEG", exif=exif.tobytes(), quality=95))
    assert photo.original_size == (96, 64)
    assert photo.size == (64, 96)
    assert "turned upright as its EXIF orientation says" in photo.notes
    # the top-left of the upright photo is the stored image's bottom-left (red 0, green high)
    r, g, _ = np.asarray(photo.image)[2, 2].astype(int)
    assert r < 40 and g > 200


def test_odd_sizes_get_a_working_size_that_divides_by_8_and_keeps_the_aspect():
    assert working_size(4032, 3024) == (512, 384)
    assert working_size(1001, 333) == (512, 168)
    assert working_size(50, 30) == (104, 64)  # too small: the shorter side grows to 64
    assert working_size(512, 512) == (512, 512)

    photo = load_photo(encode(gradient(203, 101)), max_side=200)
    assert photo.size == (200, 96) and photo.original_size == (203, 101)
    assert photo.notes == (  # 2.01:1 -> 2.08:1: said as it is, not "aspect kept"
        "resized from 203x101 to the working size 200x96 (sides a multiple of 8, so its aspect changed slightly, "
        "by 3.7 %)",
    )
    assert load_photo(encode(gradient(400, 300))).notes == (  # the review's 400x300 photo
        "resized from 400x300 to the working size 400x304 (sides a multiple of 8, so its aspect changed slightly, "
        "by 1.3 %)",
    )
    assert load_photo(encode(gradient(1024, 768))).notes == (  # 4:3 exactly: kept, and said so
        "resized from 1024x768 to the working size 512x384 (sides a multiple of 8, aspect kept)",
    )
    assert load_photo(encode(gradient(96, 64))).notes == ()  # already fine: untouched, nothing said
    strip = load_photo(encode(gradient(2000, 20)), max_side=64)  # 100:1 cannot be kept: the note says so
    assert strip.size == (256, 64)
    assert strip.notes == (
        "resized from 2000x20 to the working size 256x64 (sides a multiple of 8, each side from 64 to 256 px, "
        "so its aspect changed)",
    )
    wide = load_photo(encode(gradient(2000, 40)))  # 8:1 at the default 512: the note names the real bounds
    assert wide.size == (512, 64) and "each side from 64 to 512 px, so its aspect changed" in wide.notes[0]


def test_a_small_max_side_keeps_the_aspect_up_to_4_to_1():
    """A 64-px preview of a 3:2 photo is 96x64, not a squashed 64x64; beyond 4:1 the longer side stops."""
    assert working_size(96, 64, 64) == working_size(960, 640, 64) == (96, 64)
    assert working_size(640, 960, 64) == (64, 96) and working_size(640, 960, 128) == (88, 128)
    assert working_size(1000, 250, 64) == (256, 64)
    assert working_size(1000, 100, 64) == (256, 64)  # 10:1: the longer side stops at 256
    assert working_size(1000, 100, 512) == (512, 64)  # as before for a large max_side


def test_a_max_side_not_a_multiple_of_8_is_rounded_down_to_one():
    """`--max-side 517` gives 512-px sides, not a 517-px side the UNet would refuse after the models load."""
    assert working_size(4000, 3000, 517) == (512, 384)
    assert working_size(3000, 4000, 1023) == (760, 1016)
    assert working_size(4000, 1000, 70) == (256, 64)
    assert all(n % 8 == 0 for side in range(64, 600) for n in working_size(1003, 701, side))
    photo = load_photo(encode(gradient(1000, 50)), max_side=517)  # the note names the bound used
    assert photo.size == (512, 64) and "each side from 64 to 512 px, so its aspect changed" in photo.notes[0]


def test_the_photo_hash_is_of_the_file_bytes(tmp_path):
    import hashlib

    data = encode(gradient())
    (tmp_path / "p.png").write_bytes(data)
    photo = load_photo(tmp_path / "p.png")
    assert photo.sha256 == hashlib.sha256(data).hexdigest() and photo.name == "p.png"


def test_a_mask_of_another_size_is_scaled_with_a_note():
    mask = np.zeros((40, 60), np.uint8)
    mask[:, 30:] = 255
    loaded = load_mask(encode(Image.fromarray(mask, "L")), (96, 64))
    assert loaded.region.shape == (64, 96)
    assert loaded.region[:, 50:].all() and not loaded.region[:, :46].any()
    assert "mask of 60x40 scaled to the photo's working size 96x64" in loaded.notes


def test_strokes_on_a_transparent_canvas_are_the_mask():
    canvas = np.zeros((64, 96, 4), np.uint8)
    canvas[10:20, 10:30] = (255, 0, 0, 255)  # red strokes, as a drawing canvas returns them
    loaded = load_mask(encode(Image.fromarray(canvas, "RGBA")), (96, 64))
    assert loaded.region.sum() == 10 * 20 and loaded.region[10:20, 10:30].all()
    assert loaded.notes == ()


def test_an_empty_or_a_full_mask_is_said_plainly():
    with pytest.raises(MaskError, match=r"the mask is empty \(nothing painted white\)|is empty \(nothing painted"):
        load_mask(encode(Image.new("L", (96, 64), 0)), (96, 64))
    with pytest.raises(MaskError, match="covers the whole photo, so it restricts nothing: leave out the mask"):
        load_mask(encode(Image.new("L", (96, 64), 255)), (96, 64))
    with pytest.raises(NotAnImageError, match="mask"):
        load_mask(b"GIF89a nonsense", (96, 64))


def test_a_thin_painted_stroke_scaled_down_to_a_previews_size_stays_a_region():
    """A 1-px stroke on a 512 px mask faded to a quarter grey at a 128 px preview: the preview said
    "the mask is empty (nothing painted white)" while the full-size edit changed the stroke. Only a
    region that would be empty widens; a stroke that survives the scale keeps the 50 % rule."""
    thin = np.zeros((512, 512), np.uint8)
    thin[200, 100:400] = 255  # one row of paint
    full = load_mask(encode(Image.fromarray(thin, "L")), (512, 512))
    assert full.region.sum() == 300 and not full.notes
    small = load_mask(encode(Image.fromarray(thin, "L")), (128, 128))
    rows, columns = np.flatnonzero(small.region.any(axis=1)), np.flatnonzero(small.region.any(axis=0))
    assert list(rows) == [49, 50] and (columns[0], columns[-1]) == (24, 100)  # its place at 1/4 scale, whole
    assert any("thinner than a pixel" in n for n in small.notes)
    thick = thin.copy()
    thick[196:204, 100:400] = 255  # 8 rows: 2 at 1/4 scale, the 50 % rule as before
    kept = load_mask(encode(Image.fromarray(thick, "L")), (128, 128))
    assert list(np.flatnonzero(kept.region.any(axis=1))) == [49, 50] and not any("thinner" in n for n in kept.notes)


def _half_white(width: int, height: int) -> bytes:
    region = np.zeros((height, width), np.uint8)
    region[:, : width // 2] = 255
    return encode(Image.fromarray(region, "L"))


def test_a_mask_of_another_shape_than_the_photo_is_refused_not_stretched():
    """A landscape mask on a portrait photo (made before the photo was turned upright, or for
    another photo) would mark another region; the same shape at any size, or the working size of
    a panorama whose working size gave its aspect up, is the photo's."""
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    photo = load_photo(encode(gradient(400, 300), "JPEG", exif=exif.tobytes()))
    assert photo.shape == (300, 400) and photo.size == (304, 400)
    with pytest.raises(MaskError, match=r"is 400x300 and the photo 300x400: a mask must have the photo's shape"):
        load_mask(_half_white(400, 300), photo.size, shape=photo.shape)
    assert load_mask(_half_white(150, 200), photo.size, shape=photo.shape).fraction == pytest.approx(0.5, abs=0.02)
    assert load_mask(_half_white(256, 64), (256, 64), shape=(1200, 200)).region.shape == (64, 256)


def test_an_exif_orientation_of_1_is_upright_already_and_nothing_is_said():
    exif = Image.Exif()
    exif[0x0112] = 1  # "normal": phones write it on every upright photo
    photo = load_photo(encode(gradient(96, 64), "PNG", exif=exif.tobytes()))
    assert photo.size == (96, 64) and photo.notes == ()


def test_a_mask_stored_sideways_with_an_exif_orientation_is_turned_upright_as_its_photo_is():
    """A mask saved by a phone's editor is stored as its sensor reads and shown upright by its EXIF
    tag, as the photo is: the region used is the one seen, not the stored pixels laid on the photo."""
    stored = np.zeros((64, 96), np.uint8)
    stored[:, :24] = 255  # the stored left quarter: the top quarter once turned upright (orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    mask = load_mask(encode(Image.fromarray(stored, "L"), "PNG", exif=exif.tobytes()), (64, 96))
    assert mask.region.shape == (96, 64)
    assert mask.region[:24].all() and not mask.region[24:].any()


def test_a_dark_sixteen_bit_image_stays_dark():
    """A 16-bit image is scaled by its 16-bit range even when every value is under 256 (a night shot):
    read as 8-bit it would come out 257 times brighter."""
    values = np.full((64, 64), 200, np.uint16)
    assert np.asarray(load_photo(encode(Image.fromarray(values))).image).max() <= 1


def test_half_transparent_pixels_are_blended_on_white_and_said():
    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[..., 3] = 200  # black, mostly opaque
    photo = load_photo(encode(Image.fromarray(rgba, "RGBA")))
    assert np.all(np.asarray(photo.image) == 55)  # 255 x (1 - 200/255)
    assert "transparent areas filled with white (the edit sees them as white)" in photo.notes


def test_a_photo_is_scaled_down_smoothly_not_by_dropping_pixels():
    """A 1-px checkerboard halved is an even grey (LANCZOS), not all black or all white (a pixel kept in four)."""
    checker = (np.indices((128, 192)).sum(0) % 2 * 255).astype(np.uint8)
    photo = load_photo(encode(Image.fromarray(checker, "L")), max_side=96)
    assert photo.size == (96, 64)
    assert np.abs(np.asarray(photo.image, np.int16)[8:-8, 8:-8] - 128).max() <= 8


def test_an_opaque_rgba_mask_is_read_by_its_brightness_and_half_grey_counts_as_painted():
    """Full alpha everywhere marks nothing (an editor's RGBA export of a black-and-white mask): the
    brightness does, and white means >= 50 % (128 of 255)."""
    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, 48:, :3] = 128
    mask = load_mask(encode(Image.fromarray(rgba, "RGBA")), (96, 64))
    assert mask.region[:, 48:].all() and not mask.region[:, :48].any()
