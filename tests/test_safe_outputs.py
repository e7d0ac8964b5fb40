"""`--out` and `atomic_write` never replace what is not a regular file, refuse read-only targets
unless forced, and fail before any work when the name (or its temp name) cannot be created."""

from __future__ import annotations

import os
import stat

import pytest

import core.engine
from core.cli import main
from core.export import ExportError, atomic_write, check_target, read_params


class NoEngine:
    """Stands in for the Engine: a refusal must come before any model is built."""

    built = 0

    def __init__(self, *args, **kwargs):
        NoEngine.built += 1
        raise AssertionError("the engine was built before --out was checked")


@pytest.fixture
def no_engine(monkeypatch):
    NoEngine.built = 0
    monkeypatch.setattr(core.engine, "Engine", NoEngine)
    return NoEngine


def _cli_error(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_fifo_is_never_replaced(tmp_path, no_engine, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    err = _cli_error(["generate", "--models", "tiny", "--out", str(fifo)], capsys)
    assert "not a regular file" in err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and no_engine.built == 0
    with pytest.raises(ExportError, match="not a regular file"):
        atomic_write(fifo, b"data")  # the write itself refuses too, not only the CLI's check
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert list(tmp_path.iterdir()) == [fifo]  # no temp file left behind


def test_device_node_and_links_to_it_are_refused(tmp_path, no_engine, capsys):
    link = tmp_path / "null.png"
    link.symlink_to("/dev/null")
    for target in ("/dev/null", str(link)):
        err = _cli_error(["generate", "--models", "tiny", "--out", target], capsys)
        assert "not a regular file" in err
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode) and no_engine.built == 0


def test_read_only_file_needs_force(tmp_path, no_engine, capsys):
    """Also as root (a container's usual user), whom os.access lets write anything."""
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")
    target.chmod(0o444)
    err = _cli_error(["generate", "--models", "tiny", "--out", str(target)], capsys)
    assert "read-only" in err and "--force" in err and no_engine.built == 0
    assert target.read_bytes() == b"precious"
    assert check_target(target, force=True) == target  # --force lets it through to the write


def test_read_only_check_applies_to_root_too(tmp_path, monkeypatch):
    """os.access answers for root as well: the check itself, whoever runs it."""
    target = tmp_path / "keep.png"
    target.write_bytes(b"x")
    monkeypatch.setattr(os, "access", lambda p, mode: os.fspath(p) != os.fspath(target))
    with pytest.raises(ExportError, match="read-only"):
        check_target(target)


def test_a_name_too_long_fails_up_front(tmp_path, no_engine, capsys):
    name = "a" * 246 + ".png"  # a valid 250-character name whose temp name (+18) is not
    err = _cli_error(["generate", "--models", "tiny", "--out", str(tmp_path / name)], capsys)
    assert "name too long" in err and "250 characters (at most 237)" in err and no_engine.built == 0
    folder = "d" * 256  # a folder that would be created is checked too
    with pytest.raises(ExportError, match="256 characters \\(at most 255\\)"):
        check_target(tmp_path / folder / "x.png")
    assert list(tmp_path.iterdir()) == []  # the probe left nothing


def test_folder_without_slash_still_asks_for_a_file_name(tmp_path):
    with pytest.raises(ExportError, match="is a folder"):
        check_target(tmp_path, default_name="x.png")


@pytest.mark.parametrize("command", ["generate", "edit"])
def test_an_out_name_that_is_not_a_png_is_refused_before_any_work(command, tmp_path, no_engine, capsys):
    """PNG bytes under out.jpg (or a name with no extension) would mislead every viewer: said at once."""
    from PIL import Image

    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    Image.new("RGB", (64, 64)).save(photo)
    args = [command, "--models", "tiny"] + (["--image", str(photo)] if command == "edit" else [])
    err = _cli_error([*args, "--out", str(tmp_path / "out.jpg")], capsys)
    assert err.endswith("the image is written as a PNG (its settings travel in the PNG's metadata): name it out.png")
    err = _cli_error([*args, "--out", str(tmp_path / "noext")], capsys)
    assert err.endswith(f"name it noext.png, or {tmp_path / 'noext'}/ for a folder")
    assert no_engine.built == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_trailing_slash_is_a_folder(tmp_path):
    assert check_target(f"{tmp_path}/new/", default_name="img.png") == tmp_path / "new" / "img.png"
    assert not (tmp_path / "new").exists()  # created by the write, not by the check
    with pytest.raises(ExportError, match="is a folder"):
        check_target(f"{tmp_path}/new/")  # no name to generate: say so


def test_generate_out_folder_writes_a_seed_named_file_inside(tmp_path, capsys, samples):
    out = tmp_path / "renders"
    args = ["generate", "--models", "tiny", "--audio", str(next(iter(samples.values()))), "--prompt", "a test"]
    args += ["--size", "64x64", "--steps", "1", "--seed", "7", "--quiet", "--out", f"{out}/"]
    assert main(args) == 0
    written = out / "clap2diff-7.png"
    assert written.is_file() and not (tmp_path / "renders").is_file()
    assert read_params(written).seed == 7
    assert str(written) in capsys.readouterr().out


@pytest.mark.parametrize("command", ["sweep", "compare", "evaluate", "train", "prepare"])
def test_a_folder_that_cannot_be_made_is_refused_before_any_work(command, tmp_path, no_engine, capsys, samples):
    """--out below a file, or a file itself: one line before any model is built (a sweep or a
    comparison used to render everything and then end in a traceback)."""
    clip = str(samples["rain"])
    args = {
        "sweep": ["sweep", "--models", "tiny", "--audio", clip, "--x", "seed=1,2", "--no-scores"],
        "compare": ["compare", "--models", "tiny", "--audio", clip],
        "evaluate": ["evaluate", "--models", "tiny", "--data", str(tmp_path)],
        "train": ["train", "--data", str(tmp_path), "--models", "tiny"],
        "prepare": ["prepare", "--videos", str(tmp_path), "--csv", str(tmp_path / "rows.csv")],
    }[command]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    err = _cli_error([*args, "--out", str(a_file / "run")], capsys)
    assert f"{a_file} is not a writable folder" in err
    err = _cli_error([*args, "--out", str(a_file)], capsys)
    assert f"{a_file} is a file: give a folder" in err
    assert no_engine.built == 0 and a_file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_folder_command_replaces_its_own_earlier_files_and_needs_a_name(tmp_path):
    """sweep, compare, evaluate and train have no --force: their folder's own files of an earlier run
    (read-only or not) are theirs to replace, so only the folder itself is checked."""
    from core.export import check_folder

    earlier = tmp_path / "scores.csv"
    earlier.write_text("earlier run")
    earlier.chmod(0o444)
    assert check_folder(tmp_path, first_file="scores.csv") == tmp_path
    with pytest.raises(ExportError, match="^no folder given: name the folder to write into$"):
        check_folder("", first_file="scores.csv")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["generate", "edit", "compare", "sweep"])
def test_a_disk_that_fills_during_the_run_is_one_line_not_a_traceback(
    command, tmp_path, monkeypatch, capsys, samples, edit_files
):
    """--out passed its checks, then the disk filled while the models ran: the write's OSError is
    the CLI's one line naming the file, and no temp file is left behind."""
    import errno

    clip = str(samples["rain"])
    quick = ["--models", "tiny", "--steps", "1", "--quiet"]
    out = tmp_path / "out"
    args = {
        "generate": ["generate", *quick, "--audio", clip, "--size", "64x64", "--out", str(out / "a.png")],
        "edit": ["edit", *quick, "--image", str(edit_files / "p.png"), "--out", str(out / "a.png")],
        "compare": ["compare", *quick, "--audio", clip, "--sources", "mix", "--size", "64x64", "--out", str(out)],
        "sweep": [
            "sweep",
            *quick,
            "--audio",
            clip,
            "--size",
            "64x64",
            "--x",
            "seed=1",
            "--no-scores",
            "--out",
            str(out),
        ],
    }[command]
    out.mkdir()
    engine = core.engine.Engine

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    class FillsTheDisk(engine):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            monkeypatch.setattr(os, "fsync", full_disk)

    monkeypatch.setattr(core.engine, "Engine", FillsTheDisk)
    err = _cli_error(args, capsys)
    what = out / "a.png" if command in ("generate", "edit") else f"into {out}"
    assert err == f"error: could not write {what}: No space left on device (free some space, or choose another --out)"
    assert list(out.iterdir()) == []
