"""The PNG metadata code pinned exactly (mutation testing found what the round-trip tests let
through): the JSON form, the `extra` block, the chunks written, and every error message."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from core.export.formats import METADATA_KEY, PARAMETERS_KEY, WRITTEN_SINCE_V1, ExportError
from core.export.metadata import (
    _describe,
    _jsonable,
    dumps,
    extra_from_result,
    png_bytes,
    png_encode,
    read_grid,
    read_metadata,
    read_params,
)
from core.params import GenerationParams
from core.trace import HeardLabel, Trace


@dataclass
class _Point:
    x: int
    y: float


def test_jsonable_keeps_plain_values_and_converts_the_rest():
    assert [_jsonable(v) for v in (None, True, 3, "s")] == [None, True, 3, "s"]
    assert _jsonable(True) is True and _jsonable(1) == 1 and type(_jsonable(True)) is bool
    assert _jsonable(0.5) == 0.5 and _jsonable(math.inf) is None and _jsonable(math.nan) is None
    assert _jsonable({1: (2, {3})}) == {"1": [2, [3]]}
    assert _jsonable(Path("a/b.wav")) == "a/b.wav"
    assert _jsonable(np.float32(0.25)) == 0.25 and _jsonable(np.arange(3)) == [0, 1, 2]
    assert _jsonable(_Point(1, math.inf)) == {"x": 1, "y": None}

    class OnlyItem:
        def item(self):
            return 7

    assert _jsonable(OnlyItem()) == 7
    assert _jsonable(object).startswith("<class 'object'")  # anything else: its text


def test_dumps_is_compact_unicode_and_refuses_nan():
    assert dumps({"a": [1, 2], "p": "천둥"}) == '{"a":[1,2],"p":"천둥"}'
    with pytest.raises(ValueError):
        dumps({"x": math.nan})


def test_extra_from_result_records_device_dtype_timings_heard_and_skipped():
    trace = Trace(steps=2, heard={"mix": [HeardLabel("rain", "rain falling", "weather", 0.75, 0.3)]})
    trace.skipped_levels = ["ambience"]

    @dataclass
    class Result:
        device: str
        dtype: str
        timings: dict
        trace: Trace

    extra = extra_from_result(Result("cpu", "torch.float32", {"denoise": 1.234567, "total": 2.0}, trace))
    assert extra == {
        "device": "cpu",
        "dtype": "torch.float32",
        "timings": {"denoise": 1.2346, "total": 2.0},
        "heard": {
            "mix": [
                {"label": "rain", "phrase": "rain falling", "category": "weather", "weight": 0.75, "similarity": 0.3}
            ]
        },  # fmt: skip
        "skipped_levels": ["ambience"],
    }
    assert extra_from_result(object()) == {}


def test_png_encode_writes_itxt_and_text_chunks_and_converts_odd_modes():
    with pytest.raises(TypeError, match="^expected a PIL image, got ndarray$"):
        png_encode(np.zeros((2, 2)), [])
    data = png_encode(Image.new("CMYK", (4, 4)), [("k1", "ascii", False), ("k2", "ascii too", True)])
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        chunks = {k: type(v).__name__ for k, v in im.text.items()}
    assert b"tEXtk1" in data and b"iTXtk2" in data and chunks == {"k1": "str", "k2": "iTXt"}
    with Image.open(io.BytesIO(png_encode(Image.new("P", (4, 4)), []))) as im:
        assert im.mode == "P"  # PNG stores it as it is
    with Image.open(io.BytesIO(png_encode(Image.new("1", (4, 4), 1), []))) as im:
        assert im.mode == "1" and im.getpixel((0, 0)) == 255  # bilevel stays bilevel


def test_png_bytes_puts_the_json_in_itxt_and_the_summary_in_text():
    data = png_bytes(Image.new("RGB", (8, 8)), GenerationParams(prompt="rain"))
    assert f"iTXt{METADATA_KEY}".encode() in data and f"tEXt{PARAMETERS_KEY}".encode() in data


def test_describe_names_a_file_without_its_folder():
    assert _describe("/srv/a/b.png") == "'b.png'" and _describe(Path("x/c.png")) == "'c.png'"
    buf = io.BytesIO(b"")
    buf.name = "/tmp/up/d.png"
    assert _describe(buf) == "'d.png'"
    assert _describe(b"raw") == "the data" and _describe(io.BytesIO()) == "the data"


def _png_with(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(METADATA_KEY, text)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


@pytest.mark.parametrize(
    "metadata, message",
    [
        ("[1]", "the data: the CLAP2Diff metadata is broken (expected a JSON object)"),
        (
            '{"format": "x", "version": 1}',
            "the data: unknown CLAP2Diff metadata format 'x' (expected 'clap2diff/params' or 'clap2diff/grid')",
        ),  # fmt: skip
        (
            '{"format": "clap2diff/params", "version": true}',
            "the data: the CLAP2Diff metadata has an invalid version True",
        ),
        ('{"format": "clap2diff/params", "version": 0}', "the data: the CLAP2Diff metadata has an invalid version 0"),
        ('{"format": "clap2diff/grid"}', "the data: the CLAP2Diff metadata is broken (it has no format version)"),
        (
            '{"format": "clap2diff/params", "version": 99}',
            "the data was written by a newer CLAP2Diff Studio (format version 99); this one reads version 1",
        ),  # fmt: skip
    ],
)
def test_read_metadata_messages(metadata, message):
    with pytest.raises(ExportError) as err:
        read_metadata(_png_with(metadata))
    assert str(err.value) == message


def test_read_params_and_read_grid_messages():
    grid = _png_with(json.dumps({"format": "clap2diff/grid", "version": 1, "items": [{}, {}]}))
    with pytest.raises(ExportError, match="^the data is a comparison grid of 2 images, not a single image: "):
        read_params(grid)
    single = png_bytes(Image.new("RGB", (4, 4)), GenerationParams())
    with pytest.raises(ExportError, match="^the data is a single image, not a comparison grid: use read_params$"):
        read_grid(single)
    for items, message in (
        ("null", "the data: the grid metadata is broken (no list of items)"),
        ("[3]", "the data: grid item 1 is broken (expected a JSON object)"),
    ):
        with pytest.raises(ExportError) as err:
            read_grid(_png_with('{"format": "clap2diff/grid", "version": 1, "items": ' + items + "}"))
        assert str(err.value) == message
    bad_params = json.dumps({**GenerationParams().to_dict(), "steps": 0})
    bad = _png_with(
        '{"format": "clap2diff/grid", "version": 1, "items": [{"caption": "a", "params": ' + bad_params + "}]}"
    )
    with pytest.raises(ExportError) as err:
        read_grid(bad)
    assert str(err.value).startswith("the data (grid item 1): the embedded parameters are invalid: steps")
    assert err.value.field == "steps"
    ok = _png_with('{"format": "clap2diff/grid", "version": 1, "items": [{"params": null}, {"caption": 5}]}')
    assert [(i.caption, i.params) for i in read_grid(ok)] == [("", None), ("5", None)]
    with pytest.raises(ExportError) as err:
        read_params(_png_with('{"format": "clap2diff/params", "version": 1, "params": [1]}'))
    assert str(err.value) == "the data: the embedded parameters are missing or not a JSON object"


def test_reading_files_and_streams(tmp_path):
    path = tmp_path / "img.png"
    path.write_bytes(png_bytes(Image.new("RGB", (4, 4)), GenerationParams(seed=5)))
    assert read_params(path).seed == read_params(str(path)).seed == 5
    with path.open("rb") as fh:
        fh.read(10)  # a stream not at its start is read from the start
        assert read_params(fh).seed == 5
    with pytest.raises(ExportError) as err:
        read_params(tmp_path / "none.png")
    assert str(err.value) == f"'none.png': file not found ({tmp_path / 'none.png'})"
    with pytest.raises(ExportError) as err:
        read_params(tmp_path)
    assert str(err.value) == f"'{tmp_path.name}': is a folder, not a PNG file"
    with pytest.raises(ExportError, match="^cannot read a PNG from a int$"):
        read_params(3)
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(ExportError) as err:
        read_params(jpeg.getvalue())
    assert str(err.value).startswith("the data is a JPEG image, not a PNG: CLAP2Diff Studio stores its parameters")
    with pytest.raises(ExportError, match=r"^the data is not a PNG image \(not an image file at all, or damaged\)$"):
        read_params(b"plain text, not an image")


def test_messages_name_the_file_and_say_why(tmp_path, monkeypatch, capsys):
    import os

    import core.export.metadata as metadata

    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    with pytest.raises(ExportError) as err:
        read_params(plain)
    assert str(err.value) == (
        "'plain.png' has no CLAP2Diff parameters: this PNG was not made by CLAP2Diff Studio or its metadata was stripped"
    )
    summary_only = tmp_path / "a1111.png"
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, "a cat\nSteps: 20")
    Image.new("RGB", (4, 4)).save(summary_only, pnginfo=info)
    with pytest.raises(
        ExportError, match=r"stripped \(it has an A1111-style 'parameters' text, but that is only a summary\)$"
    ):
        read_params(summary_only)

    grid = tmp_path / "grid.png"
    grid.write_bytes(_png_with(json.dumps({"format": "clap2diff/grid", "version": 1, "items": [{}]})))
    with pytest.raises(ExportError) as err:
        read_params(grid)
    assert str(err.value) == (
        "'grid.png' is a comparison grid of 1 images, not a single image: open one of its images to reproduce "
        "it (`python -m core params` lists them)"
    )
    from core.cli import main

    capsys.readouterr()
    assert main(["params", str(grid)]) == 0  # as it says: the tiles listed
    assert json.loads(capsys.readouterr().out) == [{"caption": "", "params": None}]
    single = tmp_path / "one.png"
    single.write_bytes(png_bytes(Image.new("RGB", (4, 4)), GenerationParams()))
    with pytest.raises(ExportError, match="^'one.png' is a single image"):
        read_grid(single)
    nested = tmp_path / "deep.png"
    nested.write_bytes(_png_with('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    with pytest.raises(ExportError) as err:
        read_metadata(nested)
    assert str(err.value) == "'deep.png': the CLAP2Diff metadata is broken (JSON nested too deeply)"
    missing = tmp_path / "missing.png"
    missing.write_bytes(_png_with('{"format": "clap2diff/params", "version": 1}'))
    with pytest.raises(ExportError) as err:
        read_params(missing)
    assert err.value.field == "params"
    typed = tmp_path / "typed.png"
    full = GenerationParams().to_dict()
    typed.write_bytes(
        _png_with(json.dumps({"format": "clap2diff/params", "version": 1, "params": {**full, "seed": "x"}}))
    )
    with pytest.raises(ExportError) as err:
        read_params(typed)
    assert str(err.value).startswith("'typed.png': the embedded parameters are invalid: seed")
    # A key every PNG has carried since format 1, deleted by hand: refused by name, never defaulted.
    no_seed = {k: v for k, v in full.items() if k not in ("seed", "steps")}
    typed.write_bytes(_png_with(json.dumps({"format": "clap2diff/params", "version": 1, "params": no_seed})))
    with pytest.raises(ExportError) as err:
        read_params(typed)
    assert str(err.value).startswith("'typed.png': the embedded parameters lack 'seed', 'steps', which every")
    assert err.value.field == "seed"
    # Settings added after the first build (the content hashes, gates, ...) may be absent: an older PNG.
    older = {k: v for k, v in full.items() if k in WRITTEN_SINCE_V1} | {"seed": 7}
    typed.write_bytes(_png_with(json.dumps({"format": "clap2diff/params", "version": 1, "params": older})))
    assert read_params(typed) == GenerationParams(seed=7)

    # Files that are not PNG files at all: said before anything is read.
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    with pytest.raises(ExportError) as err:
        read_params(tmp_path / "loop.png")
    assert str(err.value) == "'loop.png' cannot be opened (Too many levels of symbolic links)"
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ExportError) as err:
        read_params(tmp_path / "pipe.png")
    assert str(err.value) == "'pipe.png' is not a regular file (a pipe, socket or device): give a PNG file"
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * (3 * 2**20))
    monkeypatch.setattr(metadata, "MAX_PNG_BYTES", 3 * 2**20)
    with pytest.raises(ExportError, match="not a PNG image"):  # exactly at the limit: read (and refused as not a PNG)
        read_params(big)
    monkeypatch.setattr(metadata, "MAX_PNG_BYTES", 3 * 2**20 - 1)
    with pytest.raises(ExportError) as err:
        read_params(big)
    assert str(err.value) == "'big.png' is 3 MB: too large for a PNG made by CLAP2Diff Studio"


def test_unreadable_pngs_say_what_they_are():
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(ExportError) as err:
        read_params(jpeg.getvalue())
    assert str(err.value) == (
        "the data is a JPEG image, not a PNG: CLAP2Diff Studio stores its parameters only in PNG files"
    )
    data = png_bytes(Image.new("RGB", (64, 64)), GenerationParams())
    broken = data[: data.index(b"iTXt") + 30]  # cut inside the metadata chunk
    with pytest.raises(ExportError, match=r"^the data could not be read as a PNG \(damaged or truncated: "):
        read_params(broken)

    class Named(io.BytesIO):
        name = 5  # not a file name: the message says "the data"

    assert _describe(Named()) == "the data"


def test_a_whole_number_too_large_for_a_float_is_refused_by_name_not_a_traceback():
    """A hand-edited PNG's 10**400 reached math.isfinite, which raised OverflowError past every except."""
    from core.edit.export import read_edit

    huge = "1" + "0" * 400
    params = GenerationParams().to_json()[:-1] + f', "guidance": {huge}}}'
    with pytest.raises(ExportError) as err:
        read_params(_png_with('{"format": "clap2diff/params", "version": 1, "params": ' + params + "}"))
    assert err.value.field == "guidance"
    assert str(err.value) == (
        "the data: the embedded parameters are invalid: "
        "guidance: must be between 0 and 50 (got a whole number of about 401 digits)"
    )
    edit = '{"image_path": "a.png", "denoise": ' + huge + "}"
    data = '{"format": "clap2diff/params", "version": 1, "params": ' + GenerationParams().to_json()
    with pytest.raises(ExportError) as err:
        read_edit(_png_with(data + ', "edit": ' + edit + "}"))
    assert err.value.field == "denoise"
    assert str(err.value) == (
        "the data: the embedded edit settings are invalid: "
        "denoise: must be between 0 and 1 (got a whole number of about 401 digits)"
    )


def test_a_sha256_is_lowercase_hex_only():
    from core.params import ParamsError

    for bad in ("X" * 64, "0123456789abcdeX" * 4):
        with pytest.raises(ParamsError):
            GenerationParams(audio_sha256=bad).validate()


def _claiming(data: bytes, width: int, height: int) -> bytes:
    """The PNG `data` with an IHDR that claims another size, its checksum recomputed: a huge canvas
    made without allocating it."""
    import struct
    import zlib

    ihdr = struct.pack(">II", width, height) + data[24:29]  # bit depth, colour type, ... kept
    return data[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[33:]


def test_a_png_over_pillows_bomb_limit_reads_back_without_decoding_its_pixels():
    """A 14 x 14 sweep of 1024 px tiles is 205 megapixels, over the 179 Image.open accepts at all;
    its parameters are text chunks, read without sizing up or decoding the pixels."""
    from core.export.grid import grid_metadata

    meta = grid_metadata(["a", "b"], [GenerationParams(seed=1), GenerationParams(seed=2)])
    grid = _claiming(png_encode(Image.new("RGB", (4, 4)), [(METADATA_KEY, dumps(meta), True)]), 14336, 14336)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(grid))  # what reading back went through
    assert [(i.caption, i.params.seed) for i in read_grid(grid)] == [("a", 1), ("b", 2)]
    single = _claiming(png_bytes(Image.new("RGB", (4, 4)), GenerationParams(seed=5)), 200_000, 200_000)
    assert read_params(single) == GenerationParams(seed=5)  # 40 gigapixels claimed: never decoded


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda d: d[:29] + bytes([d[29] ^ 1]) + d[30:], "broken PNG file (bad header checksum in b'IHDR')"),
        (lambda d: d[:10], "truncated PNG file (it ends inside a chunk header)"),
        (lambda d: d[:8] + d[d.rindex(b"IEND") - 4 :], "no valid image header (IHDR)"),
        (lambda d: d[:12] + b"I?DR" + d[16:], "broken PNG file (chunk b'I?DR')"),
    ],
)
def test_a_damaged_png_header_is_refused_though_its_pixels_are_never_read(damage, reason):
    data = png_bytes(Image.new("RGB", (4, 4)), GenerationParams())
    with pytest.raises(ExportError) as err:
        read_params(damage(data))
    assert str(err.value) == f"the data could not be read as a PNG (damaged or truncated: {reason})"
