"""Training data: dataset rows with reasons, the content-addressed feature cache, prepare from videos."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from core.cli import main
from core.train.dataset import DatasetError, SkippedRow, load_dataset, skipped_text
from core.train.features import Encoders, FeatureStore, prepare_features
from tests.train_helpers import dominant_hz, make_dataset, make_video, prepare_inputs, write_pair


def write_bad_dataset(root):
    """Three good rows and one of each kind of bad row."""
    rows = [write_pair(root, i) for i in range(3)]
    silent = write_pair(root, 3, silent=True)
    (root / "clips" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (root / "frames" / "note.png").write_text("not an image")
    lines = [json.dumps(r) for r in rows] + [
        "{not json",
        json.dumps({"audio": "clips/missing.wav", "image": rows[0]["image"], "caption": "x"}),
        json.dumps({"audio": rows[0]["audio"], "image": rows[0]["image"], "caption": "   "}),
        json.dumps({"audio": rows[0]["audio"], "image": "frames/note.png", "caption": "x"}),
        json.dumps({"image": rows[0]["image"], "caption": "x"}),
        json.dumps(silent),
        json.dumps({"audio": "clips/broken.wav", "image": rows[1]["image"], "caption": "broken"}),
        json.dumps({"audio": str(root / "clips" / "gone.wav"), "image": rows[1]["image"], "caption": "absolute"}),
    ]
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n\n")
    return root


def test_bad_rows_are_skipped_with_their_reasons(tmp_path, train_bundle):
    report = load_dataset(write_bad_dataset(tmp_path))
    assert [r.line for r in report.rows] == [1, 2, 3, 9]  # a silent clip needs decoding to be told
    reasons = {s.line: s.reason for s in report.skipped}
    assert reasons[4].startswith("not valid JSON")
    assert reasons[5] == "audio clips/missing.wav does not exist"
    assert reasons[6] == "empty caption"
    assert (
        reasons[7] == "image frames/note.png is not an image file (JPEG, PNG, WebP, BMP or TIFF) that can be read"
    )  # as written, like the audio's
    assert (
        reasons[8] == 'no "audio" field (the line has "image", "caption"; each line needs "audio", "image", "caption")'
    )
    assert reasons[10] == "audio clips/broken.wav is damaged or not audio (its .wav header cannot be read)"
    assert reasons[11] == "audio gone.wav does not exist"  # an absolute path by its name: no folder of this machine
    assert report.total_seconds == pytest.approx(4.0)  # from the headers: 3 good clips + the silent one
    store = FeatureStore(tmp_path / "cache")
    samples, failed = prepare_features(report.rows, store, Encoders(train_bundle, 64), latents=True)
    assert [s.row.line for s in samples] == [1, 2, 3]
    assert [f.line for f in failed] == [9]
    assert "silent" in failed[0].reason
    junk = tmp_path / "clips" / "junk.m4a"  # no header libsndfile reads, but ffmpeg may: decoding tells
    junk.write_bytes(b"\x00\x00\x00\x18ftypM4A junk")
    row = dataclasses.replace(report.rows[0], audio=junk)
    assert (
        "could not be decoded" in prepare_features([row], store, Encoders(train_bundle, 64), latents=True)[1][0].reason
    )


def test_a_misnamed_field_or_a_caption_that_is_not_text_is_said_as_such(tmp_path):
    """A user's own metadata.jsonl: a field under another name ('img') is named with the fields the
    line has; a number for a caption is not an 'empty caption'; a summary counts missing files as one kind."""
    row = write_pair(tmp_path, 0)
    lines = [
        {"audio": row["audio"], "img": row["image"], "caption": "x"},
        {"audio": row["audio"], "image": row["image"], "caption": 5},
        {"sound": row["audio"], "picture": row["image"]},
        *({"audio": f"clips/gone{i}.wav", "image": row["image"], "caption": "x"} for i in range(5)),
    ]
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = load_dataset(tmp_path)
    reasons = [s.reason for s in report.skipped]
    assert (
        reasons[0]
        == 'no "image" field (the line has "audio", "img", "caption"; each line needs "audio", "image", "caption")'
    )
    assert reasons[1] == "the caption is not text (got 5): write it in double quotes"
    assert reasons[2] == (
        'no "audio", "image", "caption" fields (the line has "sound", "picture"; each line needs "audio", "image", "caption")'
    )
    assert report.summary().endswith("and 5 more (5x audio file missing)")


def test_labels_must_be_a_list_of_text_and_a_caption_is_trained_without_its_spaces(tmp_path):
    row = write_pair(tmp_path, 0)
    lines = [
        {**row, "caption": "  a harbour at night  ", "labels": ["rain", "gulls"]},
        {**row, "labels": [1, 2]},
        {**row, "labels": "rain"},
        {**row, "caption": "   "},
    ]
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = load_dataset(tmp_path)
    assert [(r.line, r.caption, r.labels, r.audio_name) for r in report.rows] == [
        (1, "a harbour at night", ("rain", "gulls"), "clips/0.wav")
    ]
    assert [(s.line, s.reason) for s in report.skipped] == [
        (2, '"labels" must be a list of strings'),
        (3, '"labels" must be a list of strings'),
        (4, "empty caption"),
    ]


def test_a_fourth_skipped_row_is_counted_not_dropped():
    rows = [SkippedRow(i, "empty caption", "empty caption") for i in (2, 5, 7, 9)]
    assert skipped_text(rows[:3]) == "line 2: empty caption; line 5: empty caption; line 7: empty caption"
    assert skipped_text(rows).endswith("line 7: empty caption; and 1 more (1x empty caption)")


def test_zero_usable_rows_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "metadata.jsonl").write_text('{"audio": "a.wav", "image": "b.png", "caption": "c"}\n')
    with pytest.raises(DatasetError, match="no usable rows"):
        load_dataset(tmp_path).require_rows()
    assert main(["train", "--data", str(tmp_path), "--models", "tiny", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {tmp_path.name}/metadata.jsonl has no usable rows (1 skipped: line 1: audio a.wav does not exist); fix the rows listed, or use another dataset."
    ]


def test_features_are_computed_once_and_keyed_by_content(tmp_path, train_bundle):
    data = make_dataset(tmp_path / "a", n=3)
    store = FeatureStore(tmp_path / "cache")
    first = Encoders(train_bundle, 64)
    samples, _ = prepare_features(load_dataset(data).rows, store, first, latents=True)
    assert first.clap.audio_calls == 3  # one pass per clip: its features never depend on its batch
    latent = store.get("latent", samples[0].latent)
    assert latent.shape == (4, 8, 8)
    # the same files in another folder under other names: the same features, nothing recomputed
    moved = tmp_path / "b"
    shutil.copytree(data, moved)
    (moved / "clips" / "0.wav").rename(moved / "clips" / "renamed.wav")
    meta = (moved / "metadata.jsonl").read_text().replace("clips/0.wav", "clips/renamed.wav")
    (moved / "metadata.jsonl").write_text(meta)
    again = Encoders(train_bundle, 64)
    samples_b, _ = prepare_features(load_dataset(moved).rows, FeatureStore(tmp_path / "cache"), again, latents=True)
    assert again.clap.audio_calls == 0 and again.clap.text_calls == 0
    assert [(s.clap, s.text, s.latent) for s in samples_b] == [(s.clap, s.text, s.latent) for s in samples]
    # another resolution is another latent
    other = prepare_features(load_dataset(data).rows, store, Encoders(train_bundle, 128), latents=True)[0]
    assert other[0].latent != samples[0].latent and other[0].clap == samples[0].clap


def test_prepare_cuts_clip_and_middle_frame_and_resumes(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "abc.mp4")
    make_video(videos / "def_000002.mkv", seconds=11)  # VGGSound-style file name
    csv = tmp_path / "audiocaps.csv"
    csv.write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "101,abc,1,a tone rising\n"
        "102,def,2,another tone\n"
        "103,nothere,0,missing video\n"
        "104,abc,x,bad start\n"
    )
    out = tmp_path / "dataset"
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    assert "2 rows ready (2 new, 0 already there); 2 failed" in capsys.readouterr().out
    samples, rate = sf.read(out / "clips" / "101.wav")
    assert rate == 48000 and samples.ndim == 1 and samples.shape[0] == 480000  # 10 s, mono
    assert dominant_hz(samples[4800:24000]) == pytest.approx(300, abs=5)  # second 1 of the video
    assert dominant_hz(samples[-24000:-4800]) == pytest.approx(1200, abs=5)  # second 10
    frame = np.asarray(Image.open(out / "frames" / "101.jpg"), dtype=float)
    np.testing.assert_allclose(frame[32, 32, :2], [120, 135], atol=6)  # the frame at 1 + 5 = 6 s
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert rows == [
        {"audio": "clips/101.wav", "image": "frames/101.jpg", "caption": "a tone rising"},
        {"audio": "clips/102.wav", "image": "frames/102.jpg", "caption": "another tone"},
    ]
    report = json.loads((out / "prepare_report.json").read_text())
    assert [(f["line"], f["reason"]) for f in report["failed"]] == [  # by line, the CSV's own among the videos'
        (4, "nothere: no such video in the videos folder"),
        (5, "start time 'x' is not a number"),
    ]
    assert len(load_dataset(out).rows) == 2
    # resumable: done rows are not cut again, an interrupted row is
    mtime = (out / "clips" / "101.wav").stat().st_mtime_ns
    (out / "clips" / "102.wav").unlink()
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    assert "2 rows ready (1 new, 1 already there)" in capsys.readouterr().out
    assert (out / "clips" / "101.wav").stat().st_mtime_ns == mtime


def test_prepare_without_quiet_shows_its_progress_line_and_writes_the_dataset(tmp_path, capsys):
    """Every other prepare test passes --quiet; without it the progress callback once crashed."""
    rows = "audiocap_id,youtube_id,start_time,caption\n101,abc,1,a tone rising\n102,gone,0,missing video\n"
    videos, csv = prepare_inputs(tmp_path, rows)
    out = tmp_path / "dataset"
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"{out}: 1 rows ready (1 new, 0 already there); 1 failed"
    # one line redrawn in place, ended before the skipped row is named
    assert captured.err == (
        f"\r1/2  {'101':<40}\r2/2  {'102':<40}\nskipped line 3: gone: no such video in the videos folder\n"
    )
    assert sf.info(out / "clips" / "101.wav").frames == 480000 and (out / "frames" / "101.jpg").is_file()
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert rows == [{"audio": "clips/101.wav", "image": "frames/101.jpg", "caption": "a tone rising"}]


def test_prepare_errors_are_one_line(tmp_path, capsys):
    csv = tmp_path / "x.csv"
    csv.write_text("youtube_id,start_time,caption\n")
    assert main(["prepare", "--videos", str(tmp_path / "nope"), "--csv", str(csv), "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err.startswith("error: --videos ")
    (tmp_path / "v").mkdir()
    (tmp_path / "bad.csv").write_text("name,when\nfoo,1\n")
    args = ["prepare", "--videos", str(tmp_path / "v"), "--out", str(tmp_path / "d")]
    assert main([*args, "--csv", str(tmp_path / "bad.csv")]) == 2
    assert "has no column names prepare knows" in capsys.readouterr().err
    (tmp_path / "none.csv").write_text("youtube_id,start_time,caption\nzzz,0,gone\n")
    assert main([*args, "--csv", str(tmp_path / "none.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: no row of none.csv could be prepared (line 2: zzz: no such video in the videos folder); "
        "every reason is in d/prepare_report.json."
    )


def test_a_video_ffmpeg_cannot_read_is_one_row_named_without_its_folder(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "zzz.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"junk" * 64)
    (tmp_path / "one.csv").write_text("youtube_id,start_time,caption\nzzz,0,junk\n")
    out = tmp_path / "d"
    assert (
        main(["prepare", "--videos", str(videos), "--csv", str(tmp_path / "one.csv"), "--out", str(out), "--quiet"])
        == 2
    )
    (failed,) = json.loads((out / "prepare_report.json").read_text())["failed"]
    assert failed["reason"].startswith("zzz: cannot be decoded (") and "zzz.mp4" in failed["reason"]
    assert str(tmp_path) not in failed["reason"] and str(tmp_path) not in capsys.readouterr().err


def test_a_row_too_large_to_decode_is_skipped_and_an_absolute_audio_path_is_named_by_its_file(tmp_path, monkeypatch):
    rows = [write_pair(tmp_path, i) for i in range(2)]
    Image.new("RGB", (300, 300)).save(tmp_path / "frames" / "big.png")
    lines = [rows[0] | {"audio": str(tmp_path / "clips" / "0.wav")}, rows[1] | {"image": "frames/big.png"}]
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # PIL refuses twice this: 300² is beyond
    report = load_dataset(tmp_path)
    assert [(r.line, r.audio_name) for r in report.rows] == [(1, "0.wav")]  # its reports never name the folder
    assert [(s.line, s.reason) for s in report.skipped] == [
        (2, "image frames/big.png is too large to decode safely (over 40,000 pixels)")
    ]


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_an_image_cut_off_after_its_header_is_skipped_before_training(tmp_path, suffix):
    """Its header opens, so it used to count as usable and fail in the feature pass (or the page's preview)."""
    row = write_pair(tmp_path, 0)
    cut = tmp_path / "frames" / f"cut.{suffix}"
    noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)  # kB of pixels past the header
    Image.fromarray(noise, "RGB").save(cut)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    lines = [row, {**row, "image": f"frames/cut.{suffix}"}]
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    report = load_dataset(tmp_path)
    assert [r.line for r in report.rows] == [1]
    assert [(s.line, s.reason) for s in report.skipped] == [
        (2, f"image frames/cut.{suffix} is damaged or incomplete (it stops before its last pixel)")
    ]


def test_a_file_rewritten_at_the_same_size_is_read_again_and_the_memory_keeps_the_latest_used(tmp_path):
    """The hash index is keyed by (path, size, mtime): a clip replaced by one of the same length is
    another clip. The in-memory cache drops the least recently used feature first."""
    import os

    clip = tmp_path / "a.wav"
    clip.write_bytes(b"one clip")
    store = FeatureStore(tmp_path / "cache", memory=2)
    first = store.file_hash(clip)
    clip.write_bytes(b"two clip")
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 1_000_000))
    assert store.file_hash(clip) != first
    store.flush()
    assert FeatureStore(tmp_path / "cache").file_hash(clip) == store.file_hash(clip)  # the index on disk
    for key in ("k1", "k2"):
        store.put("clap", key, torch.full((2,), float(key[1])))
    store.get("clap", "k1")  # used last: k2 is the one dropped for k3
    store.put("clap", "k3", torch.zeros(2))
    shutil.rmtree(tmp_path / "cache" / "clap")
    assert [store.has("clap", k) for k in ("k1", "k2", "k3")] == [True, False, True]


def test_latents_are_of_the_centre_of_an_image_not_of_it_squeezed(train_bundle):
    """A 96x64 image at resolution 64 is encoded as its middle 64x64, as `latents` promises."""
    pixels = np.zeros((64, 96, 3), np.uint8)
    pixels[:, :16], pixels[:, 16:80], pixels[:, 80:] = (250, 0, 0), (0, 200, 40), (0, 0, 250)
    encoders = Encoders(train_bundle, 64)
    wide = encoders.latents([Image.fromarray(pixels)])
    middle = encoders.latents([Image.fromarray(pixels[:, 16:80].copy())])
    torch.testing.assert_close(wide, middle, rtol=0, atol=1e-5)


def test_a_clip_shorter_than_ten_seconds_gives_the_frame_at_its_middle(tmp_path, capsys):
    """A 4 s video cut from 1 s: 3 s of audio and the frame shown at 2.5 s (the clip's middle), not
    the one at 6 s (past the end) nor a later one of second 3."""
    videos, csv = prepare_inputs(tmp_path, "youtube_id,start_time,caption\nshort,1,a short tone\n", "short.mp4", 4)
    out = tmp_path / "dataset"
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    samples, rate = sf.read(out / "clips" / "short_000001.wav")
    assert samples.shape[0] == pytest.approx(3 * rate, abs=rate // 20)
    frame = np.asarray(Image.open(out / "frames" / "short_000001.jpg"), dtype=float)
    np.testing.assert_allclose(frame[32, 32, :2], [40, 215], atol=6)  # second 2: (20 x 2, 255 - 20 x 2)


def test_rows_whose_features_another_process_did_not_compute_are_skipped_with_that_reason(tmp_path, train_bundle):
    """compute=False (every process, after the shards were filled): a row with nothing in the cache
    and no failure recorded is skipped, not handed to training to fail at its first batch."""
    data = make_dataset(tmp_path / "a", n=2)
    samples, skipped = prepare_features(
        load_dataset(data).rows, FeatureStore(tmp_path / "empty"), Encoders(train_bundle, 64), True, compute=False
    )
    assert samples == [] and [(s.line, s.group) for s in skipped] == [(1, "no features"), (2, "no features")]
    assert skipped[0].reason == "features missing from the cache (another process failed to compute them)"


def test_clips_of_one_video_at_starts_apart_by_less_than_a_second_are_two_rows_and_trimmed_ones_start_at_zero(
    tmp_path, capsys
):
    """Starts 1 and 1.5 of one video: short_000001 and short_1.500, each its own audio (not one row
    counted as done by the other); 3.5 leaves half a second: no row. Prepared again, metadata.jsonl
    lists each row once, and a row it already had for another clip. --trimmed: the file is the clip, cut from 0 s whatever the CSV says."""
    rows = "youtube_id,start_time,caption\nshort,1,one\nshort,1.5,half\nshort,3.5,too late\n"
    videos, csv = prepare_inputs(tmp_path, rows, "short.mp4", 4)
    out = tmp_path / "dataset"
    out.mkdir()
    (out / "metadata.jsonl").write_text(
        json.dumps({"audio": "clips/mine.wav", "image": "m.png", "caption": "x"}) + "\n"
    )
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    assert [r["audio"] for r in map(json.loads, (out / "metadata.jsonl").read_text().splitlines())] == [
        "clips/mine.wav",  # a row of the folder's own: kept
        "clips/short_000001.wav",
        "clips/short_1.500.wav",
    ]
    assert json.loads((out / "prepare_report.json").read_text())["failed"] == [
        {"line": 4, "reason": "short: the video has 0.5 s of audio after 3.5 s "
         "(if the files are already cut to their clips, pass --trimmed)"}  # under a second: no row
    ]  # fmt: skip
    listed = (out / "metadata.jsonl").read_text()
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    assert (out / "metadata.jsonl").read_text() == listed  # prepared again: each row once, not twice
    one, half = sf.read(out / "clips" / "short_000001.wav")[0], sf.read(out / "clips" / "short_1.500.wav")[0]
    assert dominant_hz(one[4800:43200]) == pytest.approx(300, abs=5)  # 1.1-1.9 s: second 1
    assert dominant_hz(half[28800:67200]) == pytest.approx(400, abs=5)  # 2.1-2.9 s: second 2
    trimmed = tmp_path / "trimmed"
    csv.write_text("youtube_id,start_time,caption\nshort,2,cut already\n")
    assert (
        main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(trimmed), "--trimmed", "--quiet"])
        == 0
    )
    clip, rate = sf.read(trimmed / "clips" / "short_000002.wav")
    assert clip.shape[0] == pytest.approx(4 * rate, abs=rate // 20) and dominant_hz(clip[4800:43200]) == pytest.approx(
        200, abs=5
    )
