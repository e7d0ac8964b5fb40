"""Training as a user met it in a hands-on review (own data with bad rows, a full disk, the CLI's
words): each test names what went wrong before its fix."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from core.train.config import TrainError
from core.train.loop import train
from core.train.metrics import read_status
from core.train.runs import run_info
from tests.train_helpers import tiny_config, write_pair

QUIET = dict(progress=False, images=False, log=lambda _: None)


def _dataset_with_many_bad_rows(root):
    """Two good rows, 22 rows whose audio is missing, and a silent clip last: only decoding tells
    that one, so it came last among the skipped rows and fell outside the twenty status.json names."""
    good = [write_pair(root, i) for i in range(2)]
    silent = write_pair(root, 2, silent=True)
    rows = [*good, *({"audio": f"clips/gone{i}.wav", "image": good[0]["image"], "caption": "x"} for i in range(22))]
    rows.insert(3, silent)  # line 4: among the missing ones, not after them
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_every_skipped_row_is_listed_by_line_in_the_run_folder(train_bundle, tmp_path):
    data = _dataset_with_many_bad_rows(tmp_path / "data")
    said: list[str] = []
    config = tiny_config(data, tmp_path / "run", 1, stage_steps=(1, 1, 1), val_rows=0)
    result = train(config, bundle=train_bundle, progress=False, images=False, log=said.append)
    assert result.state == "done" and result.rows_used == 2
    listed = (tmp_path / "run" / "skipped_rows.txt").read_text().splitlines()
    assert len(listed) == 23 and listed[1].startswith("line 4: audio clips/2.wav is silent")
    assert listed[0] == "line 3: audio clips/gone0.wav does not exist" and listed[-1].startswith("line 25: ")
    assert [row.line for row in run_info(tmp_path / "run").skipped()] == [3, 4, *range(5, 26)]
    data_line = next(s for s in said if s.startswith("data: "))
    assert "line 4: audio clips/2.wav is silent" in data_line and ".;" not in data_line  # the reason's full stop
    assert data_line.endswith(
        "and 20 more (20x audio file missing); every skipped row and why: run/skipped_rows.txt"
    ), data_line


def test_a_full_disk_while_saving_is_said_and_the_run_resumes_from_its_last_checkpoint(
    train_bundle, train_data, tmp_path, monkeypatch
):
    """A disk that fills during a checkpoint ended the run with torch's traceback; its status.json
    stayed 'saving' (the Train page said 'killed, or the machine restarted'), since writing the
    failure failed too, and that second error hid the first."""
    from core.train import checkpoint as ckpt
    from core.train import metrics

    run = tmp_path / "run"
    half = run / "checkpoints" / "step-0000002"
    write, write_status = ckpt.atomic_write, metrics.atomic_write

    def disk_fills(path, data):  # what torch.save says when the disk fills under it
        if Path(path).parent == half:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 7232 vs 7120")
        return write(path, data)

    def no_room_beside_it(path, data):  # the disk stays full while the half-saved checkpoint is there
        if half.exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_status(path, data)

    monkeypatch.setattr(ckpt, "atomic_write", disk_fills)
    monkeypatch.setattr(metrics, "atomic_write", no_room_beside_it)
    monkeypatch.setattr(ckpt, "_free_bytes", lambda folder: 0)
    config = tiny_config(train_data, run, 1, stage_steps=(3, 3, 3), checkpoint_every=1, val_rows=0)
    with pytest.raises(TrainError) as caught:
        train(config, bundle=train_bundle, **QUIET)
    said = str(caught.value)
    assert said == (
        "run: No space left on device while saving a checkpoint (step-0000002): free some space on its disk, then "
        "resume it (--resume latest, or Resume on the Train page): it goes on from step-0000001."
    )
    assert not half.exists() and read_status(run)["state"] == "failed" and read_status(run)["error"] == said
    monkeypatch.undo()
    result = train(config, resume="latest", bundle=train_bundle, **QUIET)
    assert result.state == "done" and result.step == 3


def test_a_status_the_disk_refuses_does_not_hide_why_the_run_ended(train_bundle, train_data, tmp_path, monkeypatch):
    from core.train import metrics

    def refuse_failures(path, data):
        if b'"failed"' in data:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(path, data)

    write = metrics.atomic_write
    monkeypatch.setattr(metrics, "atomic_write", refuse_failures)
    config = tiny_config(train_data, tmp_path / "run", 1, init=str(tmp_path / "nothing"))
    with pytest.raises(TrainError, match="--init .*nothing: no checkpoint there"):
        train(config, bundle=train_bundle, **QUIET)


def _fake_run(root: Path, finished: bool) -> Path:
    """A run folder's marker files only: what the command line reads of it before any model loads."""
    run = root / "s2"
    (run / "checkpoints" / "step-0000010").mkdir(parents=True)
    (run / "train_config.json").write_text(json.dumps({"models": "tiny"}))
    if finished:
        (run / "final").mkdir()
        (run / "final" / "training.json").write_text(json.dumps({"config": {"models": "tiny"}}))
    return run


def test_a_checkpoint_named_on_the_command_line_is_used_in_trained_mode(tmp_path, monkeypatch, capsys):
    """`generate --checkpoint runs/s2/final` without --mode trained made a zero-shot image and
    recorded no checkpoint; `--checkpoint runs/s2` (the run, as --init takes it) was 'no config.json'."""
    from core.cli import CliError, build_parser
    from core.cli.generate import params_from_args

    monkeypatch.chdir(tmp_path)
    _fake_run(tmp_path / "runs", finished=True)
    clip = "assets/samples/rain.wav"

    def params(*flags: str):
        return params_from_args(build_parser().parse_args(["generate", "--audio", clip, "--prompt", "x", *flags]))

    made = params("--checkpoint", "runs/s2/final")
    assert (made.mode, made.checkpoint, made.models) == ("trained", "runs/s2/final", "tiny")
    assert "note: --checkpoint: trained mode (--mode trained)" in capsys.readouterr().err
    made = params("--checkpoint", "runs/s2")
    assert (made.mode, made.checkpoint) == ("trained", "runs/s2/final")
    assert "note: --checkpoint runs/s2 is a training run: using its final/" in capsys.readouterr().err
    assert params("--mode", "zero-shot", "--checkpoint", "runs/s2/final").mode == "zero-shot"  # as typed
    evaluate = build_parser().parse_args(["evaluate", "--data", "d", "--out", "o", "--checkpoint", "runs/s2/final"])
    assert params_from_args(evaluate).mode == "trained"

    shutil.rmtree(tmp_path / "runs" / "s2" / "final")  # stopped before its end
    with pytest.raises(CliError) as caught:
        params("--checkpoint", "runs/s2")
    assert str(caught.value) == (
        "--checkpoint runs/s2 is a training run that has not finished (no final/): name one of its checkpoints "
        "(runs/s2/checkpoints/step-N), or finish it with python -m core train --out runs/s2 --resume latest"
    )


def test_a_checkpoint_name_is_read_one_way_for_the_command_line_and_the_studio(tmp_path):
    """`--checkpoint RUN` opened RUN/final while the studio's box took only the checkpoint folder:
    both read the name with core.train.layout.checkpoint_of_run now."""
    from core.train.layout import RunCheckpoint, UnfinishedRun, checkpoint_of_run

    run = _fake_run(tmp_path / "runs", finished=True)
    assert checkpoint_of_run(str(run)) == RunCheckpoint(str(run / "final"), run=str(run))
    for folder in (run / "final", run / "checkpoints" / "step-0000010", tmp_path / "no-such-folder"):
        assert checkpoint_of_run(str(folder)) == RunCheckpoint(str(folder))  # as typed: the engine says the rest
    (run / "final" / "training.json").unlink()  # a final/ whose writing was cut short is not one
    with pytest.raises(UnfinishedRun) as caught:
        checkpoint_of_run(str(run))
    assert caught.value.run == str(run) and str(caught.value) == (
        f"{run} is a training run that has not finished (no final/): name one of its checkpoints "
        f"({run / 'checkpoints' / 'step-N'})"
    )


def test_prepare_skips_a_row_with_an_unquoted_comma_and_keeps_a_hand_written_line(tmp_path, capsys):
    """A caption with an unquoted comma was cut at the comma without a word; a line of the dataset's
    metadata.jsonl that is not JSON (a row typed by hand with a slip) was deleted by the next prepare;
    --limit 0 prepared every row and --limit -1 all but the last."""
    from core.cli import main
    from tests.train_helpers import prepare_inputs

    rows = "audiocap_id,youtube_id,start_time,caption\n1,abc,0,a tone\n2,abc,0,a dog, barking\n3,abc,x,no\n"
    videos, csv = prepare_inputs(tmp_path, rows, seconds=2, csv_name="caps.csv")
    out = tmp_path / "data"
    out.mkdir()
    typed = '{"audio": "mine/a.wav", "image": "mine/a.jpg", "caption": "typed by hand",}'
    (out / "metadata.jsonl").write_text(typed + "\n")
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        'skipped line 3: 5 columns where the header has 4: put a caption with a comma in double quotes ("a dog, barking")',
        "skipped line 4: start time 'x' is not a number",
    ]
    lines = (out / "metadata.jsonl").read_text().splitlines()
    assert lines[0] == typed and [json.loads(x)["caption"] for x in lines[1:]] == ["a tone"]

    assert (
        main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(tmp_path / "o"), "--limit", "0"]) == 2
    )
    assert capsys.readouterr().err == "error: --limit 0: give the number of CSV rows to prepare, 1 or more\n"
    assert main(["prepare", "--videos", str(videos), "--csv", str(csv), "--out", str(tmp_path / "two"), "--quiet",
                 "--limit", "2"]) == 0  # fmt: skip
    assert capsys.readouterr().err.count("skipped line") == 1  # line 3 is the second row; line 4 is past the limit


def test_a_csv_without_a_video_or_caption_column_names_the_columns_it_has(tmp_path):
    from core.train.prepare import PrepareError, read_csv

    csv = tmp_path / "mine.csv"
    csv.write_text("vid,start,text\nabc,0,a tone\n")
    with pytest.raises(PrepareError) as caught:
        read_csv(csv)
    assert str(caught.value) == (
        "the CSV mine.csv needs a video column (youtube_id, ytid, file, filename, video, video_id) and a caption "
        "column (caption, label, text); its columns are vid, start, text: rename them"
    )


def test_a_batch_larger_than_the_usable_rows_is_said_in_the_log(train_bundle, train_data, tmp_path):
    """The Train page said it beside the run's settings; the command line said nothing (a batch of
    10000 on 5 rows took 2.7 GB without a word)."""
    said: list[str] = []
    config = tiny_config(train_data, tmp_path / "run", 1, stage_steps=(1, 1, 1), val_rows=0, batch_size=4, grad_accum=2)
    train(config, bundle=train_bundle, progress=False, images=False, log=said.append)
    assert "note: a step's batch of 8 samples is more than the 6 usable rows: each step repeats them" in said


def test_a_metadata_file_saved_by_windows_notepad_reads_every_line(tmp_path):
    """UTF-8 with a byte-order mark and CRLF line ends: line 1 was 'not valid JSON (Unexpected UTF-8 BOM ...)'."""
    from core.train.dataset import load_dataset

    rows = [write_pair(tmp_path, i) for i in range(2)]
    text = "".join(json.dumps(r) + "\r\n" for r in rows)
    (tmp_path / "metadata.jsonl").write_bytes(b"\xef\xbb\xbf" + text.encode())
    report = load_dataset(tmp_path)
    assert [r.line for r in report.rows] == [1, 2] and not report.skipped


def test_a_json_list_instead_of_an_object_per_line_is_said_as_such(tmp_path):
    """Every line of a pretty-printed list was a skipped row 'not valid JSON (Expecting value ...)'."""
    from core.train.dataset import DatasetError, load_dataset

    rows = [write_pair(tmp_path, i) for i in range(2)]
    (tmp_path / "metadata.jsonl").write_text(json.dumps(rows, indent=2))
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path.name}/metadata.jsonl is one JSON list over 12 line(s), not one object per line: write each row "
        'on a line of its own, {"audio": ..., "image": ..., "caption": ...} (JSON Lines).'
    )
    (tmp_path / "metadata.jsonl").write_text(json.dumps(rows[0]) + "\n\n")  # one row: JSON Lines all the same
    assert len(load_dataset(tmp_path).rows) == 1


def test_a_loss_that_is_no_longer_a_number_ends_the_run_with_what_to_change(
    train_bundle, train_data, tmp_path, monkeypatch
):
    """A diverged run (NaN loss: fp16 on a GPU, a learning rate too high) trained on to a final/ of
    NaN weights, whose images are black, without a word."""
    from core.train import loop

    step = loop.optimizer_step
    monkeypatch.setattr(loop, "optimizer_step", lambda *args: step(*args) * float("nan"))
    config = tiny_config(train_data, tmp_path / "run", 1, stage_steps=(4, 4, 4), log_every=2, val_rows=0)
    with pytest.raises(TrainError) as caught:
        train(config, bundle=train_bundle, **QUIET)
    assert str(caught.value).startswith("run: the loss became nan by step 2: training diverged")
    status = read_status(tmp_path / "run")
    assert status["state"] == "failed" and status["step"] == 2 and not (tmp_path / "run" / "final").exists()


def test_no_checkpoint_is_saved_with_weights_of_a_loss_no_longer_a_number(
    train_bundle, train_data, tmp_path, monkeypatch
):
    """The loss is looked at on every checkpoint step, logged or not: with --log-every 3 and
    --checkpoint-every 2, step 2's NaN weights were saved as a checkpoint a resume would go on from."""
    from core.train import loop

    step = loop.optimizer_step
    monkeypatch.setattr(loop, "optimizer_step", lambda *args: step(*args) * float("nan"))
    config = tiny_config(
        train_data, tmp_path / "run", 1, stage_steps=(6, 6, 6), log_every=3, checkpoint_every=2, val_rows=0
    )
    with pytest.raises(TrainError, match=r"^run: the loss became nan by step 2: "):
        train(config, bundle=train_bundle, **QUIET)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*")) == []
