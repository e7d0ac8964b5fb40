"""The demo dataset from the sample clips (core/train/demo.py, `prepare --samples`): a real dataset
that reads back whole, the same pixels everywhere, never half-written, never over another folder."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest
from PIL import Image

from core.cli import EXIT_BAD_INPUT, main
from core.samples import sample_paths
from core.train.dataset import DatasetError, load_dataset
from core.train.demo import DEMO_ROWS, demo_picture, write_demo_dataset


def test_the_demo_dataset_reads_back_as_six_pairs_of_sample_clip_picture_and_caption(tmp_path):
    out = write_demo_dataset(tmp_path / "demo")
    report = load_dataset(out)
    assert not report.skipped and len(report.rows) == len(DEMO_ROWS) == 6
    samples = sample_paths()
    for row, demo in zip(report.rows, DEMO_ROWS, strict=True):
        assert row.caption == demo.caption and row.audio.read_bytes() == samples[demo.clip].read_bytes()
        with Image.open(row.image) as image:
            assert image.format == "PNG" and image.size == (256, 256) and image.mode == "RGB"
    pictures = [np.asarray(Image.open(r.image)) for r in report.rows]
    assert all(not np.array_equal(a, b) for i, a in enumerate(pictures) for b in pictures[i + 1 :])  # six scenes
    assert np.array_equal(pictures[1], np.asarray(demo_picture(DEMO_ROWS[1], 1)))  # drawn by its row's seed
    thunder = pictures[1].astype(int)  # a bright bolt on a dark sky: what the caption says is there
    assert thunder.mean() < 70 and (thunder.min(axis=2) > 200).sum() > 3 * 150


def test_the_demo_dataset_never_writes_into_a_folder_with_something_in_it(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="already exists and is not an empty folder: give a new folder"):
        write_demo_dataset(tmp_path / "mine")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="already exists"):
        write_demo_dataset(tmp_path / "file")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert len(load_dataset(write_demo_dataset(tmp_path / "empty")).rows) == 6  # an empty folder is filled


def test_a_demo_dataset_cut_short_leaves_nothing_behind(tmp_path, monkeypatch):
    """A full disk on the fourth file: no `demo` folder (never a dataset with missing rows), no hidden
    work folder beside it, and the next try makes it whole."""
    import core.train.demo as demo

    real, calls = demo.atomic_write, []

    def full_disk(path, data):
        calls.append(path)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(demo, "atomic_write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_demo_dataset(tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(demo, "atomic_write", real)
    assert len(load_dataset(write_demo_dataset(tmp_path / "demo")).rows) == 6


def test_a_second_writer_finds_the_first_ones_dataset(tmp_path, monkeypatch):
    """Two studio sessions pressing the button at once: the second's rename meets the first's whole
    dataset and keeps it (the second's work folder goes)."""
    import core.train.demo as demo

    real, other = demo.atomic_write, []

    def first_writer_finishes_meanwhile(path, data):
        real(path, data)
        if path.name == "metadata.jsonl" and not other:
            other.append(path)
            write_demo_dataset(tmp_path / "demo")  # the other session, done before this one renames
        return path

    monkeypatch.setattr(demo, "atomic_write", first_writer_finishes_meanwhile)
    write_demo_dataset(tmp_path / "demo")
    assert [p.name for p in tmp_path.iterdir()] == ["demo"] and len(load_dataset(tmp_path / "demo").rows) == 6


def test_prepare_samples_writes_the_demo_and_refuses_video_flags(tmp_path, capsys):
    assert main(["prepare", "--samples", "--out", str(tmp_path / "demo")]) == 0
    assert "6 rows from the sample clips" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "demo" / "metadata.jsonl").read_text().splitlines()]
    assert [r["audio"] for r in rows] == [f"clips/{r.clip}.wav" for r in DEMO_ROWS]
    assert main(["prepare", "--samples", "--out", str(tmp_path / "x"), "--csv", "a.csv"]) == EXIT_BAD_INPUT
    assert "--samples makes the demo dataset from the sample clips: leave out --csv" in capsys.readouterr().err
    assert main(["prepare", "--out", str(tmp_path / "y")]) == EXIT_BAD_INPUT
    assert "give --videos DIR and --csv FILE (or --samples for the demo dataset)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
