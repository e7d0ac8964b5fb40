"""Running a training: exact resume, graceful stops, a kill while saving, two processes, the CLI,
and a run started in its own process as the studio does."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from core.train import checkpoint as ckpt
from core.train import loop
from core.train.loop import train
from core.train.metrics import read_metrics, read_status
from tests.train_helpers import tiny_config
from tests.waiting import wait_until

QUIET = dict(progress=False, images=False, log=lambda _: None)


def run_stage(bundle, data, out, stage, **overrides):
    return train(tiny_config(data, out, stage, **overrides), bundle=bundle, **QUIET)


def test_resume_continues_exactly(train_bundle, train_data, tmp_path):
    """Stopped at step 2 and resumed, a run gives the losses, learning rates (a warm-up over 3 steps:
    the LR schedule's state travels with the checkpoint) and weights of one that never stopped. The
    run folder may be named otherwise on resume (`./runs/a`, a moved folder)."""
    warm = dict(stage_steps=(4, 4, 4), warmup_steps=3)
    whole = run_stage(train_bundle, train_data, tmp_path / "whole", 2, checkpoint_every=2, **warm)

    def stop_at_two(step, record):
        if step == 2:
            (tmp_path / "part" / "STOP").touch()

    config = tiny_config(train_data, tmp_path / "part", 2, checkpoint_every=100, **warm)
    first = train(config, bundle=train_bundle, on_step=stop_at_two, **QUIET)
    assert first.state == "stopped" and first.step == 2
    assert read_status(first.run)["state"] == "stopped" and ckpt.latest_checkpoint(first.run).name == "step-0000002"
    with (first.run / "metrics.jsonl").open("a") as log:  # what a kill after the checkpoint leaves
        log.write(json.dumps({"step": 3, "stage": 2, "loss": 9.0}) + "\n")
    seen: dict[int, dict] = {}
    renamed = config.replace(out=str(tmp_path / "whole" / ".." / "part"))  # the same folder
    rest = train(renamed, resume="latest", bundle=train_bundle, on_step=lambda step, _: seen.setdefault(
        step, read_status(tmp_path / "part")), **QUIET)  # fmt: skip
    assert rest.state == "done"
    # What a page polling the resumed run sees: the checkpoint it goes on from (a stop before its
    # next one still has something to resume), the steps counted on from 2, the time left.
    assert seen[3]["last_checkpoint"] == "checkpoints/step-0000002" and seen[3]["total"] == 4
    assert seen[3]["step"] == 3 and seen[3]["eta_s"] is None and seen[4]["eta_s"] == 0  # a rate from step 3 on
    assert rest.losses[3] == pytest.approx(whole.losses[3], rel=1e-6)
    assert rest.losses[4] == pytest.approx(whole.losses[4], rel=1e-6)
    logged = [(m["step"], m["loss"]) for m in read_metrics(rest.run) if "loss" in m]
    assert [step for step, _ in logged] == [1, 2, 3, 4] and 9.0 not in dict(logged).values()  # no duplicates
    rates = {m["step"]: m["lr"] for m in read_metrics(rest.run) if "lr" in m}
    assert rates == {m["step"]: m["lr"] for m in read_metrics(whole.run) if "lr" in m}
    assert rates[1] < rates[2] < rates[3] == rates[4]  # warming up, then the rate itself
    a = load_file(str(whole.final / "adapters.safetensors"))
    b = load_file(str(rest.final / "adapters.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_new_run_where_an_attempt_saved_no_checkpoint_starts_a_curve_of_its_own(train_bundle, train_data, tmp_path):
    run = tmp_path / "run"
    (run / "validation" / "step-0000099").mkdir(parents=True)
    (run / "validation" / "step-0000099" / "row-00001.png").write_bytes(b"an earlier attempt's")
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 9.0}) + "\n" for s in (0, 1, 2, 3)))
    result = run_stage(train_bundle, train_data, run, 1, stage_steps=(2, 2, 2))
    assert result.state == "done"
    assert [(m["step"], m["loss"] != 9.0) for m in read_metrics(run) if "loss" in m] == [(1, True), (2, True)]
    assert not (run / "validation" / "step-0000099").exists()


def test_time_left_counts_steps_not_the_loading_and_validation_before_them():
    """--quiet (the studio's runs) has no tqdm bar: the estimate is the bar's own, from the first step
    done on, so a long step-0 validation does not inflate it."""
    from core.train.metrics import ProgressBar

    bar = ProgressBar(total=10, initial=0, stage=1, enabled=False)
    assert bar.eta() is None
    bar.update()  # step 1 ends after a long load: its time is not counted
    assert bar.eta() is None
    bar.since -= 2.0  # step 2 takes 2 s
    bar.update()
    assert bar.eta() == pytest.approx(8 * 2.0, rel=0.05)  # 8 steps left at 2 s each


def test_gradient_checkpointing_and_accumulation_change_nothing(train_bundle, train_data, tmp_path, monkeypatch):
    """...and a step's samples per second count every micro-batch of it (a clock of one tick per read)."""
    base = run_stage(train_bundle, train_data, tmp_path / "a", 2, stage_steps=(2, 2, 2), val_rows=0)
    plain = run_stage(
        train_bundle, train_data, tmp_path / "b", 2, stage_steps=(2, 2, 2), val_rows=0, gradient_checkpointing=False
    )
    ticks = itertools.count()
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks)), time=time.time))
    halves = run_stage(
        train_bundle, train_data, tmp_path / "c", 2, stage_steps=(2, 2, 2), val_rows=0, batch_size=1, grad_accum=2
    )
    for other in (plain, halves):
        assert other.losses[2] == pytest.approx(base.losses[2], rel=1e-5)
    assert [m["samples_per_s"] for m in read_metrics(halves.run) if "loss" in m] == [2.0, 2.0]  # 1 x 2 a tick
    assert not any(p.requires_grad for p in train_bundle.pipe.unet.parameters())  # frozen: no gradient for it
    assert "global batch 2 (1 process(es) x 1 x 2 accumulation)" in (halves.final / "README.md").read_text()


def test_sigterm_stops_after_a_checkpoint(train_bundle, train_data, tmp_path):
    def terminate(step, record):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    config = tiny_config(train_data, tmp_path / "run", 1)
    result = train(config, bundle=train_bundle, on_step=terminate, **QUIET)
    assert result.state == "stopped" and result.step == 2 and result.final is None
    assert ckpt.read_state(ckpt.latest_checkpoint(result.run))["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers put back


def test_kill_while_saving_leaves_the_previous_checkpoint(train_bundle, train_data, tmp_path, monkeypatch):
    calls = []
    real = ckpt.export_engine_files

    def dies_on_second_save(projector, adapters, folder):
        calls.append(folder)
        real(projector, adapters, folder)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the process were killed half-way through the save

    monkeypatch.setattr(ckpt, "export_engine_files", dies_on_second_save)
    config = tiny_config(train_data, tmp_path / "run", 1, checkpoint_every=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, bundle=train_bundle, **QUIET)
    run = tmp_path / "run"
    assert read_status(run)["state"] == "failed"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000002", "step-0000004"]
    assert not (run / "checkpoints" / "step-0000004" / ckpt.STATE_FILE).exists()  # never completed
    assert ckpt.latest_checkpoint(run).name == "step-0000002"
    monkeypatch.setattr(ckpt, "export_engine_files", real)
    result = train(config, resume="latest", bundle=train_bundle, **QUIET)
    assert result.state == "done" and result.final is not None
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000002", "step-0000004", "step-0000006"]


def test_two_processes_give_the_loss_of_one(train_bundle, train_data, tmp_path):
    """torchrun with 2 CPU processes (gloo, accelerate's MULTI_CPU) and batch 1 each = 1 process, batch 2."""
    one = run_stage(train_bundle, train_data, tmp_path / "one", 2, stage_steps=(3, 3, 3), val_rows=0)
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000), "-m", "core",
        "train", "--data", str(train_data), "--stage", "2", "--models", "tiny", "--out", str(tmp_path / "two"),
        "--steps", "3", "--lr", "1e-3", "--warmup-steps", "0", "--batch-size", "1", "--resolution", "64",
        "--log-every", "1", "--val-rows", "0", "--val-every", "0", "--projector", "hidden_dim=16,expand_dim=32,layers=1,heads=4",
        "--quiet", "--no-images",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, cwd=Path(__file__).parent.parent, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    two = {m["step"]: m["loss"] for m in read_metrics(tmp_path / "two") if "loss" in m}
    assert list(two) == [1, 2, 3]
    for step, loss in two.items():
        assert loss == pytest.approx(one.losses[step], rel=1e-5)
    a = load_file(str(one.final / "projector.safetensors"))
    b = load_file(str(tmp_path / "two" / "final" / "projector.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5  # lr 1e-3: a step moves weights ~1e-3


def test_cli_train_and_its_errors(train_data, tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "run"
    args = ["train", "--data", str(train_data), "--models", "tiny", "--out", str(out), "--resolution", "64"]
    small = [
        "--steps",
        "2",
        "--projector",
        "hidden_dim=16,expand_dim=32,layers=1,heads=4",
        "--quiet",
        "--val-rows",
        "0",
    ]
    assert main(["train", "--models", "tiny", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "error: --data DATASET is required"
    assert main([*args, "--resume", "latest"]) == 2
    assert capsys.readouterr().err.strip() == "error: run is not a training run (no train_config.json): check --out."
    assert main([*args, *small, "--init", str(tmp_path / "nothing")]) == 2
    assert "--init" in capsys.readouterr().err
    assert main([*args, *small]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().endswith("final  stage 1, 2 steps, 6 rows")
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["stage_steps"] == [2, 2000, 1000]
    assert (saved["val_steps"], saved["warmup_steps"]) == (4, 0)  # a tiny run starts sized down, as on the Train page
    assert main([*args, *small]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: run already holds a finished training run (its final/): choose another --out folder "
        f"(the next stage starts from it with --init {out})."
    )
    assert main(["train", "--out", str(out), "--resume", "latest"]) == 2  # nothing left to do: not a second final/
    assert capsys.readouterr().err.strip() == (
        f"error: run is finished (its final/ is written): nothing to resume; the next stage starts from it with --init {out}."
    )
    assert main(["train", "--out", str(out), "--resume", "latest", "--batch-size", "3"]) == 2
    assert "these flags change them: --batch-size (leave them out" in capsys.readouterr().err
    assert main([*args, *small[:2], "--out", str(tmp_path / "r2"), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --batch-size: must be between 1 and 10000000 (got 0)"
    shutil.rmtree(out)


def test_a_resumed_runs_status_starts_where_the_run_was(tmp_path):
    """Before the resumed process's first word (it imports torch first), the page polling the run
    must not see step 0 of ?, nor lose the checkpoint it resumes from."""
    from core.train.metrics import Status

    before = {"state": "stopped", "stage": 2, "step": 107, "total": 2000, "loss": 0.25, "pid": 1,
              "last_checkpoint": "checkpoints/step-0000107", "rows_used": 4, "error": "old"}  # fmt: skip
    (tmp_path / "status.json").write_text(json.dumps(before))
    Status(tmp_path, True, resumed=True, stage=2).update(state="starting", pid=4242)
    after = read_status(tmp_path)
    assert {k: after[k] for k in ("step", "total", "last_checkpoint", "loss", "rows_used")} == {
        "step": 107,
        "total": 2000,
        "last_checkpoint": "checkpoints/step-0000107",
        "loss": 0.25,
        "rows_used": 4,
    }
    assert (after["state"], after["pid"], after["error"]) == ("starting", 4242, None)  # its own, not the old
    Status(tmp_path, True, stage=1).update(state="starting")  # a new run starts from nothing
    assert (read_status(tmp_path)["step"], read_status(tmp_path)["last_checkpoint"]) == (0, None)


def test_a_killed_run_of_this_process_is_not_alive_though_not_yet_waited_for(tmp_path):
    """A run the server started and the OOM killer ended stays a zombie until waited for: `os.kill(pid,
    0)` still answers, so the Train page showed it training (and refused Start) until someone pressed Stop.
    Once reaped, its pid may be given to another process: the recorded start time tells them apart."""
    from core.train.launch import training_alive
    from core.train.metrics import process_started

    # A process that lives until killed: it waits for input that never comes.
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        (tmp_path / "status.json").write_text(json.dumps({"state": "training", "pid": child.pid}))
        assert training_alive(tmp_path)
        os.kill(child.pid, signal.SIGKILL)
        wait_until(lambda: not training_alive(tmp_path), "the killed run to count as gone")
        (tmp_path / "status.json").write_text(json.dumps({"state": "training", "pid": 0}))
        assert not training_alive(tmp_path)  # 0 names a process group, never a run
        started = process_started(os.getpid())
        assert started is not None  # Linux: /proc
        for recorded, alive in ((started, True), (started + 1, False), (None, True)):  # a pid given again: gone
            (tmp_path / "status.json").write_text(json.dumps({"state": "training", "pid": os.getpid(),
                                                              "pid_started": recorded}))  # fmt: skip
            assert training_alive(tmp_path) is alive, recorded
    finally:
        child.kill()
        child.communicate()  # reaped, its stdin closed


def test_a_run_in_its_own_process_starts_reports_and_stops(train_data, tmp_path):
    """What the studio's Train page does: start a run as a separate process, follow its status and
    metrics, ask it to stop; it saves a checkpoint and exits 130 (interrupted: the studio reads
    status.json, never the exit status), and can be resumed from there."""
    from core import TrainConfig, request_stop, start_training, training_alive

    config = tiny_config(train_data, tmp_path / "run", 1, stage_steps=(100000, 1, 1), checkpoint_every=100000)
    assert isinstance(config, TrainConfig)
    process = start_training(config)
    assert read_status(config.out)["state"] in ("starting", "preparing") and training_alive(config.out)
    wait_until(
        lambda: (read_status(config.out) or {}).get("step", 0) >= 2 or process.poll() is not None,
        lambda: (Path(config.out) / "train.log").read_text()[-2000:],
    )
    request_stop(config.out)
    assert process.wait(timeout=120) == 130, (Path(config.out) / "train.log").read_text()[-2000:]
    status = read_status(config.out)
    assert status["state"] == "stopped" and not training_alive(config.out)
    step = ckpt.read_state(ckpt.latest_checkpoint(config.out))["step"]
    assert step == status["step"] >= 2 and status["last_checkpoint"] == f"checkpoints/{ckpt.step_name(step)}"
    assert [m["step"] for m in read_metrics(config.out) if "loss" in m][-1] == step
    assert "stopped at step" in (Path(config.out) / "train.log").read_text()


def _cli_run(train_data, out, *more):
    return ["train", "--data", str(train_data), "--out", str(out), "--steps", "1", "--val-rows", "0", "--quiet",
            "--no-images", *more]  # fmt: skip


def test_a_stage_trains_on_the_models_of_its_init_and_refuses_others(train_data, tmp_path, capsys):
    """`train --stage 2 --init runs/s1` without --models goes on with the models s1 was trained with
    (the README's commands after a tiny stage 1), as generate follows a checkpoint's; naming other
    models is refused before any run folder is made."""
    from core.cli import main

    s1, s2 = tmp_path / "runs" / "s1", tmp_path / "runs" / "s2"
    assert main(_cli_run(train_data, s1, "--models", "tiny")) == 0
    capsys.readouterr()
    assert main(_cli_run(train_data, s2, "--stage", "2", "--init", str(s1))) == 0
    assert f"note: using the models {s1} was trained with, tiny" in capsys.readouterr().err
    saved = json.loads((s2 / "train_config.json").read_text())
    assert (saved["models"], saved["resolution"]) == ("tiny", 64)  # sized down as a tiny run starts
    assert json.loads((s2 / "final" / "training.json").read_text())["config"]["models"] == "tiny"
    s3 = tmp_path / "runs" / "s3"
    assert main(_cli_run(train_data, s3, "--stage", "3", "--init", str(s2), "--models", "sd15")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --init {s2} was trained on the models tiny, not sd15: ") and "stage 1" in err
    assert not s3.exists()


def test_models_that_do_not_load_leave_no_run_folder(train_data, tmp_path, capsys, monkeypatch):
    """A new run whose models fail to load trained nothing: no folder that looks like a failed run
    (the same --out is used again). A folder that was there before (the studio's) keeps its status."""
    from core.cli import main
    from core.models import ModelUnavailable
    from core.train import loop

    def unavailable(spec, **_):
        raise ModelUnavailable(f"{spec} is not available offline")

    monkeypatch.setattr(loop, "load_models", unavailable)
    out = tmp_path / "runs" / "s1"
    assert main(_cli_run(train_data, out, "--models", "tiny")) == 2
    assert capsys.readouterr().err.strip() == "error: tiny is not available offline"
    assert not out.exists()
    out.mkdir(parents=True)
    assert main(_cli_run(train_data, out, "--models", "tiny")) == 2
    assert read_status(out)["state"] == "failed" and read_status(out)["error"] == "tiny is not available offline"


def test_the_hints_name_the_run_as_typed_so_they_work_from_the_same_folder(train_data, tmp_path, capsys, monkeypatch):
    """`train --out "runs/my s1"` twice, or `--resume latest` once it is finished: the hint's --init
    names the run as --out had it (quoted for the shell), not by its last part, which names no run here."""
    import shlex

    from core.cli import main

    monkeypatch.chdir(tmp_path)
    run = "runs/my s1"
    assert main(_cli_run(train_data, run, "--models", "tiny")) == 0
    capsys.readouterr()
    for again in (_cli_run(train_data, run, "--models", "tiny"), ["train", "--out", run, "--resume", "latest"]):
        assert main(again) == 2
        hint = capsys.readouterr().err.strip()
        assert hint.endswith(("with --init 'runs/my s1').", "with --init 'runs/my s1'.")), hint
        typed = shlex.split(hint.rsplit("--init ", 1)[1].rstrip(".)"))[0]
        assert ckpt.resolve_init(typed).resolve() == tmp_path / "runs" / "my s1" / "final"  # following it works


def test_a_stopped_run_exits_130_and_says_how_to_go_on(train_data, tmp_path, capsys):
    """A stop is not a finish: exit 130, so `train ... && train --init` goes no further; stopped before
    its first step, it offers no `--resume latest`, which would have nothing to go on from."""
    from core.cli import EXIT_INTERRUPTED, main
    from core.train.stop import request_stop

    s0 = tmp_path / "runs" / "s0"
    request_stop(s0)  # asked after this process started: the run stops before its first step
    assert main(_cli_run(train_data, s0, "--models", "tiny")) == EXIT_INTERRUPTED
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("stopped before step 1 of 1: nothing trained, no checkpoint. Start it again with the same command.")
    )


def test_a_stage_from_a_stopped_run_says_and_records_which_checkpoint_it_starts_from(
    train_bundle, train_data, tmp_path, capsys
):
    """A stage whose --init run has no final/ starts from its latest checkpoint: said on stderr, and
    recorded as that checkpoint in the model card and training.json (not as the run, never finished)."""
    from core.cli import main

    def stop_at_two(step, record):
        if step == 2:
            (tmp_path / "runs" / "s1" / "STOP").touch()

    s1, s2 = tmp_path / "runs" / "s1", tmp_path / "runs" / "s2"
    stopped = train(tiny_config(train_data, s1, 1), bundle=train_bundle, on_step=stop_at_two, **QUIET)
    assert stopped.state == "stopped" and stopped.step == 2
    assert main(_cli_run(train_data, s2, "--stage", "2", "--init", str(s1))) == 0
    assert f"note: {s1} has no final/ (stopped at step 2 of 6): starting from its checkpoint step-0000002" in (
        capsys.readouterr().err
    )
    training = json.loads((s2 / "final" / "training.json").read_text())
    assert training["config"]["init"] == "s1/checkpoints/step-0000002"
    assert "started from `s1/checkpoints/step-0000002`" in (s2 / "final" / "README.md").read_text()


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--steps", "0"], "--steps: must be a whole number between 1 and 10000000 (got 0)"),
        (["--stage", "2", "--lr", "-1"], "--lr: must be a number between 1e-09 and 1 (got -1)"),
        (
            ["--projector", "foo=2"],
            "--projector: no setting 'foo': a projector's sizes are hidden_dim, expand_dim, layers, heads",
        ),  # fmt: skip
        (["--projector", "layers=0"], "--projector: layers must be a whole number of at least 1 (got 0)"),
        (["--temperature", "2,0"], "--temperature (end): must be a number between 0.01 and 100 (got 0)"),
    ],
)
def test_a_setting_out_of_range_is_named_by_the_flag_typed(train_data, tmp_path, capsys, flags, said):
    """Not `stage_steps: value 1 must be ...` (no such flag; "value 1" an index into a per-stage
    tuple), nor a projector's sizes listed when the problem is a key that is none of them."""
    from core.cli import main

    assert main(["train", "--data", str(train_data), "--models", "tiny", "--out", str(tmp_path / "r"), *flags]) == 2
    assert capsys.readouterr().err.strip() == f"error: {said}"
    assert not (tmp_path / "r").exists()


def test_resume_names_the_flags_that_would_change_the_run_and_a_saved_config_its_fields(train_data, tmp_path, capsys):
    from core.cli import main

    run = tmp_path / "runs" / "s1"
    run.mkdir(parents=True)
    (run / "train_config.json").write_text(tiny_config(train_data, run, 1).to_json())
    assert main(["train", "--out", str(run), "--resume", "latest", "--steps", "8", "--lr", "0.01"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --resume continues s1 with the settings it started with; these flags change them: --steps, --lr "
        f"(leave them out; to train on with them, start a new run from its weights: --init {run} --data {train_data} "
        "--out NEW)."
    )
    saved = json.loads((run / "train_config.json").read_text())
    saved["stage_steps"] = [6, 0, 6]  # another stage's entry, in a file: named as the file names it
    (tmp_path / "c.json").write_text(json.dumps(saved))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "r2"), "--steps", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: stage_steps: value 2 must be a whole number between 1 and 10000000 (got 0)"
    )


def test_each_stage_reads_its_own_steps_learning_rate_and_temperature():
    """A stage-2 run of (30, 20, 10) steps runs 20 at its own rate; stage 3 anneals over its own 10."""
    from core.train.config import TrainConfig

    two = TrainConfig(stage=2, stage_steps=(30, 20, 10), learning_rates=(1e-3, 1e-4, 1e-5), temperature=(2.0, 0.5))
    assert (two.steps, two.lr, two.uses_unet) == (20, 1e-4, True)
    three = two.replace(stage=3)
    assert (three.steps, three.lr, three.uses_unet) == (10, 1e-5, True)
    assert [three.temperature_at(s) for s in (0, 9, 12)] == [2.0, 0.5, 0.5]  # the last step at the end value
    assert three.temperature_at(3) == pytest.approx(1.5)
    assert not two.replace(stage=1).uses_unet


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"resolution": 100}, "resolution"),
        ({"projector": (("layers", 0),)}, "projector"),
        ({"stage": 2, "gate_scales": (0.0, 0.0, 0.0)}, "gate_scales"),
        ({"out": "  "}, "out"),
    ],
)
def test_a_setting_that_makes_no_sense_is_refused_by_name(changes, field):
    from core.params import ParamsError
    from core.train.config import TrainConfig

    good = TrainConfig(data="d", out="o", models="tiny")
    assert good.validate() is good
    assert good.replace(stage=2, gate_scales=(0.0, 0.0, 1.0)).validate()  # one group above 0 is enough
    with pytest.raises(ParamsError) as caught:
        good.replace(**changes).validate()
    assert caught.value.field == field


def test_a_batch_is_said_to_repeat_rows_only_when_larger_than_the_usable_rows():
    from core.train.config import repeats_note, starting_config

    assert repeats_note(4, 3) == "more than the 3 usable rows: each step repeats them"
    assert repeats_note(4, 4) == repeats_note(4, 0) == ""
    tiny, sd = starting_config("tiny"), starting_config("sd15")
    assert (tiny.resolution, tiny.val_steps, tiny.warmup_steps) == (64, 4, 0)
    assert (sd.resolution, sd.warmup_steps) == (512, 100)


def test_the_method_defaults_are_the_documented_ones():
    """docs/ARCHITECTURE.md 'Stages': half the samples without caption, stage 3 at 1e-5 with
    0.1 x alignment, temperature 2.0 -> 0.5 with cross-fades temperature x 0.1 wide (seed 001)."""
    from core.train.config import TrainConfig

    c = TrainConfig()
    assert (c.caption_dropout, c.align_weight, c.anneal_crossfade, c.temperature) == (0.5, 0.1, 0.1, (2.0, 0.5))
    assert (c.stage_steps, c.learning_rates, c.resolution) == ((3000, 2000, 1000), (1e-4, 1e-4, 1e-5), 512)


def test_a_stop_a_checkpoint_and_the_last_step_are_each_logged_and_a_resume_validates_only_at_its_end(
    train_bundle, train_data, tmp_path
):
    """log_every 4 of 6 steps, a checkpoint every 5: the steps logged are the stop (2), the 4th, the
    checkpoint (5) and the last (6); after a save the run says "training" again. A checkpoint holds the
    optimizer as configured (its weight decay). A resumed run does not validate again at the step it
    resumes from, nor warn of a changed dataset."""
    config = tiny_config(train_data, tmp_path / "run", 1, log_every=4, checkpoint_every=5)

    def stop_at_two(step, record):
        if step == 2:
            (tmp_path / "run" / "STOP").touch()

    first = train(config, bundle=train_bundle, on_step=stop_at_two, **QUIET)
    assert first.state == "stopped" and list(first.losses) == [2]
    held = torch.load(ckpt.latest_checkpoint(first.run) / "optimizer.bin", weights_only=True)  # what resumes
    assert [g["weight_decay"] for g in held["param_groups"]] == [config.weight_decay, 0.0] and held["state"]
    said: list[str] = []
    states: dict[int, str] = {}  # what a page polling the run reads after each step

    def poll(step, record):
        states[step] = read_status(tmp_path / "run")["state"]

    rest = train(config, resume="latest", bundle=train_bundle, on_step=poll, **QUIET | dict(log=said.append))
    assert rest.state == "done" and list(rest.losses) == [4, 5, 6]
    assert states == {3: "training", 4: "training", 5: "training", 6: "training"}
    assert [m["step"] for m in read_metrics(rest.run) if "loss" in m] == [2, 4, 5, 6]
    assert [m["step"] for m in read_metrics(rest.run) if "val_loss" in m] == [0, 6]
    assert [p.name for _, p in ckpt.list_checkpoints(rest.run)] == ["step-0000002", "step-0000005", "step-0000006"]
    assert not [line for line in said if "dataset changed" in line]


def test_more_validation_clips_than_usable_rows_validates_on_every_row(train_bundle, train_data, tmp_path):
    """--val-rows 7 on six usable rows: the six, the same numbers as --val-rows 6 (not an IndexError)."""
    six = run_stage(train_bundle, train_data, tmp_path / "six", 1, stage_steps=(1, 1, 1), val_rows=6)
    seven = run_stage(train_bundle, train_data, tmp_path / "seven", 1, stage_steps=(1, 1, 1), val_rows=7)
    assert seven.val_losses == six.val_losses and sorted(seven.val_losses) == [0, 1]
