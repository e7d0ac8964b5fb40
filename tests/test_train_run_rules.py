"""The rules a run folder keeps, without training: a Stop pressed while a run starts is kept, one
left from an earlier run is not; Resume needs a checkpoint and never branches a run in two; a
`final/` counts once written whole; a failed run with checkpoints resumes; a stage's `--init`
keeps the previous stage's adapter weights exactly, whatever the UNet's dtype."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from core.train import checkpoint as ckpt
from core.train.config import TrainError
from core.train.launch import start_training
from core.train.runs import run_info
from core.train.stop import STOP_FILE, StopRequest, request_stop


def _checkpoint(run: Path, step: int) -> Path:
    folder = run / ckpt.CHECKPOINTS / ckpt.step_name(step)
    folder.mkdir(parents=True)
    (folder / ckpt.STATE_FILE).write_text(json.dumps({"step": step}))
    return folder


def test_a_stop_asked_before_the_run_started_is_cleared_one_asked_since_is_kept(tmp_path):
    stale = request_stop(tmp_path)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))  # an earlier run's, never picked up
    with StopRequest(tmp_path) as stop:
        assert not stop.requested and not stale.exists()
    request_stop(tmp_path)  # pressed while this process was loading its models: after it started
    with StopRequest(tmp_path) as stop:
        assert stop.requested and stop.reason == f"{STOP_FILE} file"
    assert not stale.exists()  # taken: the next run starts clean


class _Launched:
    pid = os.getpid()


def test_the_launcher_clears_an_earlier_stop_and_says_at_once_when_nothing_resumes(tmp_path, monkeypatch):
    """Resume of a run with no complete checkpoint is refused before any process starts (the page
    shows it; the child would only have written it into train.log)."""
    launched: list[list[str]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda command, **_: launched.append(command) or _Launched())
    run = tmp_path / "run"
    (run / ckpt.CHECKPOINTS / ckpt.step_name(4)).mkdir(parents=True)  # cut short: no state file
    (run / ckpt.RUN_CONFIG).write_text("{}")
    with pytest.raises(TrainError, match="no complete checkpoint"):
        start_training(run=run, resume=True)
    assert launched == [] and not (run / "status.json").exists()
    _checkpoint(run, 2)
    request_stop(run)  # pressed on the run's last session, after it had stopped
    start_training(run=run, resume=True)
    assert len(launched) == 1 and "--resume" in launched[0]
    assert not (run / STOP_FILE).exists()


def test_resuming_an_older_checkpoint_is_refused_while_later_ones_exist(tmp_path):
    """Going on from step 2 with step 4 in the folder would write steps 3, 4... again beside the
    other timeline's (and prune the new ones first): refused, saying how to do it."""
    run = tmp_path / "run"
    two, four = _checkpoint(run, 2), _checkpoint(run, 4)
    with pytest.raises(TrainError, match=r"checkpoints after step-0000002 \(step-0000004\)"):
        ckpt.resolve_resume(run, str(two))
    assert ckpt.resolve_resume(run, str(four)) == four and ckpt.resolve_resume(run, "latest") == four
    (four / ckpt.STATE_FILE).unlink()  # a save that was killed: not a checkpoint
    assert ckpt.resolve_resume(run, str(two)) == two


class _OneProcess:
    is_main_process = True

    def wait_for_everyone(self) -> None:
        pass

    def save_state(self, folder: str) -> None:
        (Path(folder) / "model.safetensors").write_bytes(b"state")


def test_a_checkpoint_just_saved_is_never_pruned(tmp_path):
    run = tmp_path / "run"
    _checkpoint(run, 8)  # numbered above the one saved (a run folder put together by hand)
    saved = ckpt.save_checkpoint(_OneProcess(), run, 3, {"step": 3}, export=lambda folder: None, keep=1)
    assert saved.is_dir() and (saved / ckpt.STATE_FILE).is_file()
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [3, 8]


def test_a_checkpoint_one_step_later_also_refuses_resuming_the_one_before(tmp_path):
    run = tmp_path / "run"
    two, _ = _checkpoint(run, 2), _checkpoint(run, 3)
    with pytest.raises(TrainError, match=r"checkpoints after step-0000002 \(step-0000003\)"):
        ckpt.resolve_resume(run, str(two))


def test_a_new_run_is_refused_in_a_folder_that_holds_checkpoints_of_another(tmp_path):
    run = tmp_path / "run"
    ckpt.check_fresh_run(run)  # nothing there yet
    _checkpoint(run, 2)
    with pytest.raises(TrainError, match="already holds a training run: continue it with --resume latest"):
        ckpt.check_fresh_run(run)


def test_saving_keeps_the_newest_checkpoints_as_many_as_asked(tmp_path):
    """keep=2: the two newest stay, older ones go, and a folder a killed save left goes too."""
    run = tmp_path / "run"
    for step in (1, 2, 3):
        _checkpoint(run, step)
    (run / ckpt.CHECKPOINTS / ckpt.step_name(5)).mkdir()  # no state file: a save that was killed
    ckpt.save_checkpoint(_OneProcess(), run, 4, {"step": 4}, export=lambda folder: None, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [3, 4]
    assert sorted(p.name for p in (run / ckpt.CHECKPOINTS).iterdir()) == [ckpt.step_name(3), ckpt.step_name(4)]


def test_a_final_folder_counts_once_written_whole_and_a_failed_run_resumes(tmp_path):
    from core.train.metrics import STATUS_FILE

    run = tmp_path / "run"
    six = _checkpoint(run, 6)
    for folder in (six, final := run / ckpt.FINAL):
        folder.mkdir(exist_ok=True)
        for name in ("config.json", "projector.safetensors"):  # final/: killed before the adapters'
            (folder / name).write_text("{}")
    (run / STATUS_FILE).write_text(json.dumps({"state": "failed", "error": "CUDA out of memory", "step": 7}))
    info = run_info(run)
    assert info.final is None and info.resumable == six
    assert ckpt.resolve_init(run) == six  # not the final/ cut short
    with pytest.raises(TrainError):
        ckpt.resolve_init(final)
    (final / "training.json").write_text("{}")
    info = run_info(run)
    assert info.final == final and info.resumable is None  # finished: nothing to resume
    assert ckpt.resolve_init(run) == final


def test_a_final_folder_rewritten_and_killed_midway_no_longer_counts_as_written(tmp_path):
    """write_final removes the old marker first: a second write of final/ that dies in the export
    leaves a run with no final/, not one whose new weights are half written under the old marker."""
    from core.train.metrics import STATUS_FILE

    run = tmp_path / "run"
    ckpt.write_final(run, export=lambda folder: folder.mkdir(parents=True, exist_ok=True), card="# run", training={})
    (run / STATUS_FILE).write_text(json.dumps({"state": "done", "step": 6}))
    assert run_info(run).final == run / ckpt.FINAL

    def dies(folder: Path) -> None:
        raise OSError("killed while exporting")

    with pytest.raises(OSError):
        ckpt.write_final(run, export=dies, card="# run", training={})
    assert run_info(run).final is None


def test_a_run_whose_process_is_gone_is_interrupted_and_resumes_and_runs_list_newest_first(tmp_path):
    """'training' in a status nobody writes any more is a run killed without a word: said as
    interrupted, resumable from its last checkpoint; the runs list puts the latest activity first."""
    from core.train.metrics import STATUS_FILE
    from core.train.runs import list_runs

    for name, updated, state in [("killed", 100.0, "training"), ("later", 200.0, "done")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / STATUS_FILE).write_text(json.dumps({"state": state, "updated": updated}))
    four = _checkpoint(tmp_path / "killed", 4)
    runs = list_runs(tmp_path)
    assert [(r.name, r.state) for r in runs] == [("later", "done"), ("killed", "interrupted")]
    assert runs[1].resumable == four


def test_a_stage_init_keeps_the_adapter_weights_exactly_on_an_fp16_unet(train_bundle, tmp_path):
    """Mixed precision loads the UNet in fp16; the adapters train in fp32 and must start from the
    previous stage's fp32 weights, not from their fp16 rounding."""
    from safetensors.torch import load_file

    from core.attention import AudioAdapters, AudioState
    from core.projector import ADAPTERS_FILE, AudioProjector, ProjectorConfig, save_projector

    unet = copy.deepcopy(train_bundle.pipe.unet).half()
    previous = AudioAdapters(copy.deepcopy(train_bundle.pipe.unet), AudioState())
    torch.manual_seed(0)
    with torch.no_grad():
        for processor in previous.trained_processors().values():
            for p in processor.parameters():
                p.add_(torch.randn_like(p) * 1e-3)  # stage-2 steps: below fp16's resolution at ~1
    config = ProjectorConfig(input_dim=16, hidden_dim=16, expand_dim=32, output_dim=32, layers=1, heads=4)
    save_projector(AudioProjector(config), tmp_path)
    ckpt.save_adapters(previous, tmp_path)
    adapters = AudioAdapters(unet, AudioState())
    ckpt.load_init(tmp_path, adapters, input_dim=16, output_dim=32)
    saved = load_file(str(tmp_path / ADAPTERS_FILE))
    loaded = adapters.trained_state()
    assert saved.keys() == loaded.keys()
    assert all(loaded[k].dtype == torch.float32 and torch.equal(loaded[k], saved[k]) for k in saved)


def _finished_run(run: Path, models: str) -> Path:
    final = run / ckpt.FINAL
    final.mkdir(parents=True)
    for name in ("config.json", "projector.safetensors"):
        (final / name).write_text("{}")
    (run / ckpt.RUN_CONFIG).write_text(json.dumps({"models": models}))
    (final / "training.json").write_text(json.dumps({"config": {"models": Path(models).name}}))
    return final


def test_the_launcher_refuses_at_once_an_init_trained_on_other_models(tmp_path, monkeypatch):
    """The Train page's models and its "Start from" run must agree: said before any process starts
    (the child would load the models first, then fail on the tiny init's widths). The same models
    named otherwise (sd15 and its hub id, a local folder by its path) are the same."""
    from core.models import SD15_HUB_ID
    from tests.train_helpers import tiny_config

    launched: list[list[str]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda command, **_: launched.append(command) or _Launched())
    _finished_run(tmp_path / "s1", "tiny")
    config = tiny_config(tmp_path, tmp_path / "s2", 2, models="sd15", init=str(tmp_path / "s1"))
    with pytest.raises(TrainError, match=r"was trained on the models tiny, not sd15"):
        start_training(config)
    assert launched == [] and not (tmp_path / "s2").exists()
    _finished_run(tmp_path / "hub", "sd15")
    assert ckpt.check_init(config.replace(models=SD15_HUB_ID, init=str(tmp_path / "hub"))) == tmp_path / "hub/final"
    local = tmp_path / "models" / "my-sd"
    local.mkdir(parents=True)
    _finished_run(tmp_path / "mine", str(local))  # training.json: "my-sd"; its run's config: the path
    assert ckpt.init_models(tmp_path / "mine" / "final") == str(local)
    assert ckpt.check_init(config.replace(models=str(local), init=str(tmp_path / "mine"))) is not None


def test_the_latest_validation_is_the_newest_step_folder_with_an_image(tmp_path):
    """A step folder whose first image is still being written (or failed) is not shown yet; the
    exported weights beside them are no step."""
    from core.train.validation import VALIDATION, latest_validation

    root = tmp_path / VALIDATION
    assert latest_validation(tmp_path) is None
    for step, image in ((4, True), (12, True), (16, False)):
        (root / ckpt.step_name(step)).mkdir(parents=True)
        if image:
            (root / ckpt.step_name(step) / "row-00001.png").write_bytes(b"png")
    (root / ".weights").mkdir()
    assert latest_validation(tmp_path) == root / "step-0000012"


def test_validation_images_are_asked_of_the_engine_with_the_runs_seed_steps_and_size(tmp_path):
    """What the engine is asked (a recording engine): trained mode on the weights just exported, the
    run's seed (not the generation default), val_steps, the training resolution, one clip per row,
    saved as row-<line>.png; the training's adapters taken off for it and put back."""
    from types import SimpleNamespace

    from PIL import Image

    from core.train.dataset import load_dataset
    from core.train.features import Sample
    from core.train.validation import Validator
    from tests.train_helpers import make_dataset, tiny_config

    data = make_dataset(tmp_path / "data", n=3)
    config = tiny_config(data, tmp_path / "run", 2, seed=5, val_steps=3, resolution=48, val_rows=2)
    rows = load_dataset(data).rows
    validator = Validator(tmp_path / "run", config, None, [Sample(r, "c", "t", "l") for r in rows], images=False)
    asked, calls = [], []
    validator.engine = SimpleNamespace(
        generate=lambda p: asked.append(p) or SimpleNamespace(image=Image.new("RGB", (p.width, p.height)))
    )
    exported = []
    folder = validator.images(7, exported.append, lambda: calls.append("off"), lambda: calls.append("on"))
    weights = tmp_path / "run" / "validation" / ".weights"
    assert (
        exported == [weights] and calls == ["off", "on"] and folder == tmp_path / "run" / "validation" / "step-0000007"
    )
    assert [(p.mode, p.checkpoint, p.seed, p.steps, p.width, p.height) for p in asked] == [
        ("trained", str(weights), 5, 3, 48, 48)
    ] * 2
    assert [p.audio_path for p in asked] == [str(r.audio) for r in rows[:2]]
    assert sorted(p.name for p in folder.iterdir()) == ["row-00001.png", "row-00002.png"]


@pytest.mark.parametrize(
    ("pid", "started", "alive"),
    [("self", "self", True), ("self", 1, False), (0, None, False), (-1, None, False)],
)
def test_a_run_is_alive_only_while_its_own_process_is(tmp_path, pid, started, alive):
    """A live pid started at another time is the system's reuse of a dead run's pid; 0 and -1 name
    process groups (os.kill would succeed), never a run."""
    from core.train.launch import training_alive
    from core.train.metrics import STATUS_FILE, process_started

    pid = os.getpid() if pid == "self" else pid
    started = process_started(pid) if started == "self" else started
    (tmp_path / STATUS_FILE).write_text(json.dumps({"state": "training", "pid": pid, "pid_started": started}))
    assert training_alive(tmp_path) is alive


def test_a_run_that_skips_no_row_removes_the_list_an_earlier_attempt_wrote(tmp_path):
    """A resumed run on a mended dataset: skipped_rows.txt would otherwise still list the rows mended."""
    from core.train.dataset import SkippedRow
    from core.train.metrics import read_skipped, write_skipped

    said = write_skipped(tmp_path, [SkippedRow(3, "audio a.wav does not exist")], True)
    assert said == f"; every skipped row and why: {tmp_path.name}/skipped_rows.txt"
    assert [(s.line, s.reason) for s in read_skipped(tmp_path)] == [(3, "audio a.wav does not exist")]
    assert write_skipped(tmp_path, [], False) == "" and read_skipped(tmp_path)  # other processes write nothing
    assert write_skipped(tmp_path, [], True) == "" and read_skipped(tmp_path) is None
