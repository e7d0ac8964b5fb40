"""core.export: PNG metadata round trip, atomic writes, clear errors, grids and ZIPs. Offline, fast."""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest tests/...` without `python -m`
    sys.path.insert(0, str(ROOT))

from core import export  # noqa: E402
from core.export import (  # noqa: E402
    ExportError,
    atomic,
    default_filename,
    grid_layout,
    make_grid,
    png_bytes,
    read_grid,
    read_metadata,
    read_params,
    sanitize_filename,
    save_grid_png,
    save_png,
    write_zip,
    zip_bytes,
)
from core.params import GenerationParams, ParamsError  # noqa: E402


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def params() -> GenerationParams:
    """Non-default values everywhere a round trip could go wrong: tuples, stem_map, 0.1, unicode."""
    return GenerationParams(
        prompt="천둥 치는 바다 — thunder over a stormy sea, «night» 🌩",
        negative_prompt="blurry, low quality",
        seed=4_000_000_001,
        steps=30,
        guidance=0.1,
        width=640,
        height=384,
        scheduler="euler",
        audio_path="/data/sounds/thunder, storm.wav",
        audio_sha256="ab12" * 16,
        window_start=2.5,
        top_k=7,
        temperature=0.3,
        audio_strength=1.25,
        gate_scales=(0.1, 0.2, 0.30000000000000004),
        norm_target=42.5,
        norm_measure="tensor",
        split=(40, 20, 17),
        level_weights=(0.7, 0.1, 1.0 / 3.0),
        switch_points=(0.25, 0.8),
        switch_style="smooth",
        crossfade=0.15,
        sources="stems",
        crossovers=(200.0, 5000.5),
        stem_map=(("vocals", "foreground"), ("drums", "ambience"), ("bass", "background"), ("other", "ambience")),
        models="tiny",
    ).validate()


@pytest.fixture
def image() -> Image.Image:
    """A 64x48 gradient: every pixel distinct enough that a lossy or shifted write would show."""
    img = Image.new("RGB", (64, 48))
    img.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(48) for x in range(64)])
    return img


def _png_with_text(chunks: dict[str, str], size: tuple[int, int] = (16, 16)) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    buf = io.BytesIO()
    Image.new("RGB", size, "gray").save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _metadata_png(obj: object) -> bytes:
    return _png_with_text({"clap2diff": json.dumps(obj)})


def _envelope(params: dict) -> dict:
    return {"format": "clap2diff/params", "version": 1, "params": params, "extra": {}}


# -- round trip ----------------------------------------------------------------------------------
def test_round_trip_params_and_pixels(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    path = save_png(image, params, tmp_path / "new" / "folder" / "out.png", extra={"device": "cpu"})
    assert path.exists() and path.parent.name == "folder"

    back = read_params(path)
    assert back == params.shareable()  # the clip by name and hash: no folder of this machine
    assert back.audio_path == "thunder, storm.wav" and back.audio_sha256 == params.audio_sha256
    assert back.to_json() == params.shareable().to_json()
    assert isinstance(back.split, tuple) and isinstance(back.stem_map, tuple)
    assert read_params(str(path)) == params.shareable()
    assert read_params(path.read_bytes()) == params.shareable()
    with open(path, "rb") as fh:  # file-like (e.g. Streamlit's UploadedFile)
        assert read_params(fh) == params.shareable()

    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == image.size
        assert im.convert("RGB").tobytes() == image.tobytes()

    meta = read_metadata(path)
    assert meta["format"] == "clap2diff/params" and meta["version"] == 1
    assert meta["params"] == params.shareable().to_dict()
    assert meta["extra"] == {"device": "cpu"}


def test_save_png_writes_exactly_png_bytes(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    data = png_bytes(image, params, extra={"k": 1})
    path = save_png(image, params, tmp_path / "a.png", extra={"k": 1})
    assert path.read_bytes() == data


def test_rgba_and_default_params_round_trip(tmp_path: Path) -> None:
    img = Image.new("RGBA", (8, 8), (10, 20, 30, 128))
    path = save_png(img, GenerationParams(), tmp_path / "d.png")
    assert read_params(path) == GenerationParams()
    with Image.open(path) as im:
        assert im.mode == "RGBA" and im.getpixel((0, 0)) == (10, 20, 30, 128)


def test_extra_is_made_json_safe(params: GenerationParams, image: Image.Image) -> None:
    class Tensorish:
        def tolist(self) -> list[float]:
            return [1.0, float("inf")]

    extra = {"timings": {"total": 1.5}, "bad": float("nan"), "arr": Tensorish(), "p": Path("/x/y")}
    meta = read_metadata(png_bytes(image, params, extra=extra))
    assert meta["extra"] == {"timings": {"total": 1.5}, "bad": None, "arr": [1.0, None], "p": "/x/y"}


def test_invalid_params_are_not_written(tmp_path: Path, image: Image.Image) -> None:
    with pytest.raises(ParamsError, match="steps"):
        save_png(image, GenerationParams(steps=0), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_extra_from_result_and_save_result(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    from core.trace import GenerationResult, HeardLabel, Trace

    heard = HeardLabel(label="thunder", phrase="lightning storm", category="weather", weight=0.8, similarity=0.4)
    trace = Trace(steps=params.steps, heard={"mix": [heard]}, skipped_levels=["ambience"])
    result = GenerationResult(
        image=image, params=params, trace=trace, timings={"total": 2.0}, device="cuda", dtype="float16"
    )
    path = export.save_result(result, tmp_path / "r.png")
    meta = read_metadata(path)
    assert read_params(path) == params.shareable()
    assert meta["extra"]["device"] == "cuda" and meta["extra"]["timings"] == {"total": 2.0}
    assert meta["extra"]["heard"]["mix"][0]["label"] == "thunder"
    assert meta["extra"]["skipped_levels"] == ["ambience"]


# -- the readable `parameters` text ------------------------------------------------------------------
def test_parameters_text_chunk(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    path = save_png(image, params, tmp_path / "p.png")
    with Image.open(path) as im:
        text = im.text["parameters"]
    lines = text.split("\n")
    assert lines[0] == params.prompt
    assert lines[1] == "Negative prompt: blurry, low quality"
    line = lines[2]
    assert "Steps: 30" in line
    assert "Seed: 4000000001" in line
    assert "CFG scale: 0.1" in line
    assert "Size: 640x384" in line
    assert "Sampler: euler" in line
    assert f"Weights: 0.7/0.1/{1.0 / 3.0!r}" in line
    assert "Norm target: 42.5 (tensor)" in line
    assert "Gates: 0.1/0.2/0.30000000000000004" in line
    assert '"thunder, storm.wav" (sha256 ab12ab12ab12…)' in line  # commas quoted, folder dropped
    assert "/data/sounds" not in line


def test_parameters_text_defaults_match_the_house_example() -> None:
    p = GenerationParams(prompt="a storm", seed=123, audio_path="thunder.wav", audio_sha256="ab12" + "0" * 60)
    text = export.parameters_text(p)
    assert text.startswith(
        "a storm\nSteps: 25, Sampler: dpmpp, CFG scale: 7.5, Seed: 123, Size: 512x512, "
        "Model: sd15, Audio: thunder.wav (sha256 ab1200000000…), Audio strength: 1, "
        "Weights: 0.7/0.5/0.3, Norm target: 60 (token), Switch: 0.4/0.7 (hard), "
        "Gates: 0/1/1, Sources: mix"
    )
    assert "Negative prompt" not in text  # omitted when empty, as A1111 does


def test_parameters_text_names_a_trained_checkpoint_by_its_run_and_keeps_the_prompt_on_one_line() -> None:
    """A shared PNG says which run made it, never the server's folder; a Windows line break in the
    prompt (CR LF) cannot start a second line that other tools would read as the negative prompt."""
    p = GenerationParams(
        prompt="a harbour\r\nNegative prompt: fog",
        mode="trained",
        checkpoint="/srv/runs/harbour/final",
        checkpoint_sha256="cd" * 32,
    )
    lines = export.parameters_text(p).split("\n")
    assert lines[0] == "a harbour\\r\\nNegative prompt: fog" and len(lines) == 2
    assert "Checkpoint: harbour/final (sha256 cdcdcdcdcdcd…)" in lines[1] and "/srv" not in lines[1]
    assert export.unescape_line(lines[0]) == p.prompt


# -- atomic writes ---------------------------------------------------------------------------------
def test_failure_inside_pil_save_leaves_nothing(
    tmp_path: Path, params: GenerationParams, image: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG\r\n\x1a\n partial")  # type: ignore[attr-defined]
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    dest = tmp_path / "out.png"
    with pytest.raises(OSError, match="simulated"):
        save_png(image, params, dest)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_failure_while_writing_file_keeps_old_file_and_no_temp(
    tmp_path: Path, params: GenerationParams, image: Image.Image, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out.png"
    dest.write_bytes(b"old content")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(f"{where} failed (simulated)")

    monkeypatch.setattr(atomic.os, where, boom)
    with pytest.raises(OSError, match="simulated"):
        save_png(image, params, dest)
    assert dest.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_failure_for_new_file_leaves_no_file(
    tmp_path: Path, params: GenerationParams, image: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("simulated")))
    for writer in (
        lambda p: save_png(image, params, p),
        lambda p: save_grid_png([image], ["a"], [params], p),
        lambda p: write_zip([("a.png", png_bytes(image, params))], p),
    ):
        with pytest.raises(OSError):
            writer(tmp_path / "dest.bin")
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_normal_permissions(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_png(image, params, tmp_path / "perm.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# -- clear errors ------------------------------------------------------------------------------------
def test_plain_png_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(ExportError, match="not made by CLAP2Diff Studio or its metadata was stripped"):
        read_params(path)


def test_a1111_png_without_clap2diff_chunk() -> None:
    data = _png_with_text({"parameters": "a cat\nSteps: 20, Seed: 1"})
    with pytest.raises(ExportError, match="metadata was stripped.*only a summary"):
        read_params(data)


def test_invalid_json() -> None:
    with pytest.raises(ExportError, match="not valid JSON"):
        read_params(_png_with_text({"clap2diff": '{"format": "clap2diff/params", '}))


def test_json_not_an_object() -> None:
    with pytest.raises(ExportError, match="expected a JSON object"):
        read_params(_metadata_png([1, 2, 3]))


def test_unknown_param_key() -> None:
    with pytest.raises(ExportError, match="brightness: unknown parameter") as info:
        read_params(_metadata_png(_envelope({**GenerationParams().to_dict(), "brightness": 3})))
    assert info.value.field == "brightness"


def test_param_failing_validation_names_the_field() -> None:
    with pytest.raises(ExportError, match="invalid.*steps: must be between 1 and 500") as info:
        read_params(_metadata_png(_envelope({**GenerationParams().to_dict(), "steps": 0})))
    assert info.value.field == "steps"
    assert isinstance(info.value, ValueError)


def test_param_wrong_type() -> None:
    with pytest.raises(ExportError, match="split") as info:
        read_params(_metadata_png(_envelope({**GenerationParams().to_dict(), "split": 77})))
    assert info.value.field == "split"


def test_missing_params_object() -> None:
    with pytest.raises(ExportError, match="parameters are missing"):
        read_params(_metadata_png({"format": "clap2diff/params", "version": 1}))


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ({"format": "something/else", "version": 1, "params": {}}, "unknown CLAP2Diff metadata format"),
        ({"format": "clap2diff/params", "version": 2, "params": {}}, "newer CLAP2Diff Studio.*version 2"),
        ({"format": "clap2diff/params", "version": "1", "params": {}}, "invalid version"),
        ({"format": "clap2diff/params", "params": {}}, "it has no format version"),
    ],
)
def test_wrong_format_or_version(envelope: dict, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        read_params(_metadata_png(envelope))


def test_jpeg_is_not_a_png(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (8, 8)).save(path, format="JPEG")
    with pytest.raises(ExportError, match="'photo.jpg' is a JPEG image, not a PNG"):
        read_params(path)


def test_text_file_is_not_a_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not an image")
    with pytest.raises(ExportError, match="'notes.png' is not a PNG image"):
        read_params(path)
    with pytest.raises(ExportError, match="not a PNG image"):
        read_metadata(b"")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="file not found"):
        read_params(tmp_path / "nope.png")
    with pytest.raises(ExportError, match="is a folder"):
        read_params(tmp_path)


def test_truncated_png(params: GenerationParams, image: Image.Image) -> None:
    data = png_bytes(image, params)
    # Metadata sits before the pixel data, so a cut-off tail still yields the params...
    assert read_params(data[: len(data) - 40]) == params.shareable()
    # ...but a file cut inside the header is reported, not crashed on.
    with pytest.raises(ExportError):
        read_params(data[:20])


def test_text_chunk_after_image_data_is_found(params: GenerationParams) -> None:
    """Other tools may put text chunks after IDAT; read them too."""
    base = _png_with_text({})
    chunk_data = b"clap2diff\x00\x00\x00\x00\x00" + json.dumps(
        {"format": "clap2diff/params", "version": 1, "params": params.to_dict()}
    ).encode("utf-8")
    import struct
    import zlib

    chunk = struct.pack(">I", len(chunk_data)) + b"iTXt" + chunk_data
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + chunk_data) & 0xFFFFFFFF)
    iend = base.rindex(b"IEND") - 4
    data = base[:iend] + chunk + base[iend:]
    assert read_params(data) == params


# -- grids ---------------------------------------------------------------------------------------------
def _background_only(img: Image.Image, box: tuple[int, int, int, int], bg: tuple[int, int, int]) -> bool:
    crop = img.crop(box)
    return crop.tobytes() == Image.new("RGB", crop.size, bg).tobytes()


def test_grid_size_captions_and_resizing(image: Image.Image) -> None:
    other = Image.new("RGB", (100, 100), (0, 0, 255))  # different size: resized to 64x48
    captions = ["weights 0.7/0.5/0.3", "norm 0", "a much longer caption that has to wrap over lines"]
    grid = make_grid([image, other, image], captions, columns=2, caption_height=30, gap=0)
    assert grid.size == (2 * 64, 2 * (48 + 30))
    bg = (255, 255, 255)
    # every caption strip (including the wrapped one) has ink; the empty 4th cell has none
    for col, row in [(0, 0), (1, 0), (0, 1)]:
        box = (col * 64, row * 78 + 48, col * 64 + 64, row * 78 + 78)
        assert not _background_only(grid, box, bg), (col, row)
    assert _background_only(grid, (64, 78, 128, 156), bg)
    # the resized tile fills its cell exactly
    assert grid.getpixel((64 + 32, 24)) == (0, 0, 255)
    assert grid.getpixel((0, 0)) == image.getpixel((0, 0))


def test_grid_layout_defaults_and_title(image: Image.Image) -> None:
    images = [image] * 6
    captions = [f"seed {i}" for i in range(6)]
    layout = grid_layout(images, captions)
    assert (layout.columns, layout.rows) == (3, 2)
    assert layout.caption_height > 0
    grid = make_grid(images, captions)
    assert grid.size == layout.size
    titled = make_grid(images, captions, title="thunder.wav: seeds 0-5")
    assert titled.size[1] > grid.size[1] and titled.size[0] == grid.size[0]
    tl = grid_layout(images, captions, title="thunder.wav: seeds 0-5")
    assert not _background_only(titled, (0, 0, titled.size[0], tl.title_height), (255, 255, 255))


def test_grid_default_columns_and_caption_lines(image: Image.Image) -> None:
    """Up to four images in one row, more in a near-square; a caption gets at most four lines."""
    assert [grid_layout([image] * n, [""] * n).columns for n in (1, 4, 5, 9, 10)] == [1, 4, 3, 3, 4]
    heights = [grid_layout([image], ["\n".join("abcdefg"[:n])]).caption_height for n in (1, 3, 4, 5, 7)]
    assert heights[0] < heights[1] < heights[2] == heights[3] == heights[4]  # lines beyond 4 add nothing


def test_grid_rejects_mismatched_inputs(image: Image.Image) -> None:
    with pytest.raises(ValueError, match="captions"):
        make_grid([image, image], ["one"])
    with pytest.raises(ValueError, match="at least one"):
        make_grid([], [])


def test_grid_png_metadata_lists_every_item(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    variants = [params, params.replace(seed=1), params.replace(level_weights=(0.1, 0.2, 0.3))]
    captions = ["base", "seed 1", "weights 0.1/0.2/0.3"]
    path = save_grid_png([image] * 3, captions, variants, tmp_path / "grids" / "g.png", title="compare")
    meta = read_metadata(path)
    assert meta["format"] == "clap2diff/grid" and meta["version"] == 1
    assert [item["caption"] for item in meta["items"]] == captions
    assert [item["params"] for item in meta["items"]] == [p.shareable().to_dict() for p in variants]
    items = read_grid(path)
    assert [(i.caption, i.params) for i in items] == [(c, v.shareable()) for c, v in zip(captions, variants)]
    with pytest.raises(ExportError, match="comparison grid of 3 images"):
        read_params(path)
    with pytest.raises(ExportError, match="not a comparison grid"):
        read_grid(png_bytes(image, params))


# -- names and zips ---------------------------------------------------------------------------------
def test_default_filename(params: GenerationParams) -> None:
    name = default_filename(params)
    assert name.startswith("clap2diff_4000000001_thunder-over-a-stormy-sea")
    assert name.endswith(".png") and name.isascii() and "/" not in name
    assert default_filename(params.replace(steps=31)) != name
    assert default_filename(params) == name
    korean = GenerationParams(prompt="천둥", audio_path="/a/Rain Heavy.wav")
    assert default_filename(korean).startswith("clap2diff_0_rain-heavy_")
    assert default_filename(GenerationParams()).startswith("clap2diff_0_image_")


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\me\\a b.png", "a_b.png"),
        ("천둥.png", "png"),
        ("..", "image.png"),
        ("CON.png", "_CON.png"),
        ("ok-name_1.png", "ok-name_1.png"),
        ("a" * 150 + ".png", "a" * 96 + ".png"),  # at most 100 characters, the extension kept
        ("a" * 150, "a" * 100),
    ],
)
def test_sanitize_filename(raw: str, safe: str) -> None:
    assert sanitize_filename(raw) == safe


def test_zip_contains_pngs_and_manifest(tmp_path: Path, params: GenerationParams, image: Image.Image) -> None:
    variants = [params, params.replace(seed=7), params.replace(prompt="second")]
    items = [(default_filename(p), png_bytes(image, p)) for p in variants]
    items.append(("../evil/" + items[0][0], items[0][1]))  # unsafe + duplicate name
    path = write_zip(items, tmp_path / "zips" / "batch.zip")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert "params.json" in names
        pngs = [n for n in names if n != "params.json"]
        assert len(pngs) == 4 and len(set(pngs)) == 4
        assert all("/" not in n and not n.startswith(".") for n in names)
        for name, p in zip(pngs, variants + [params]):
            assert read_params(zf.read(name)) == p.shareable()
        manifest = json.loads(zf.read("params.json"))
    assert manifest["format"] == "clap2diff/manifest"
    assert [f["file"] for f in manifest["files"]] == pngs
    assert [GenerationParams.from_dict(f["metadata"]["params"]) for f in manifest["files"]] == [
        p.shareable() for p in variants + [params]
    ]


def test_zip_bytes_keeps_foreign_files_and_reports_them(image: Image.Image) -> None:
    plain = io.BytesIO()
    image.save(plain, format="PNG")
    data = zip_bytes([("params.json", plain.getvalue())])  # also must not clobber the manifest
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("params.json"))
        (entry,) = manifest["files"]
        assert entry["file"] == "params_2.json" and entry["metadata"] is None
        assert "not made by CLAP2Diff Studio" in entry["error"]
        assert zf.read("params_2.json") == plain.getvalue()
