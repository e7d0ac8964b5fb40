"""Start a training run as its own process and follow it: what the studio's Train page calls.

Training never runs inside the caller's process (a Streamlit server must stay responsive and its
engine thread free): `start` launches `python -m core train` in a new session with its output in
RUN/train.log, and returns at once. The run reports through files, so a page that reloads, or
another browser tab, reconnects by reading them: RUN/status.json (`read_status`), RUN/metrics.jsonl
(`read_metrics`), RUN/validation/ (`latest_validation`). `request_stop` asks for a graceful stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..export.atomic import atomic_write, check_folder
from .checkpoint import RUN_CONFIG, check_fresh_run, check_init, read_run_config, resolve_resume
from .config import TrainConfig, TrainError
from .metrics import FINISHED, Status, process_started, read_metrics, read_status
from .stop import STOP_FILE, request_stop
from .validation import latest_validation

LOG_FILE = "train.log"
ROOT = Path(__file__).resolve().parents[2]  # the repository: `python -m core` runs from here


def train_command(config: TrainConfig | None = None, run: str | Path | None = None, resume: bool = False) -> list[str]:
    """The command line of a new run (from RUN/train_config.json) or of a resumed one."""
    run = Path(run or config.out).expanduser()
    if resume:
        return [sys.executable, "-m", "core", "train", "--out", str(run), "--resume", "latest", "--quiet"]
    return [sys.executable, "-m", "core", "train", "--config", str(run / RUN_CONFIG), "--quiet"]


def start_training(
    config: TrainConfig | None = None, run: str | Path | None = None, resume: bool = False
) -> subprocess.Popen:
    """Launch a run (new: `config`; resumed: `run`) as a separate process; returns immediately."""
    if not resume:
        config = config.validate()
        run = Path(config.out).expanduser()
        check_fresh_run(run)  # here, not only in the child: the caller gets the error at once
        check_init(config)  # an --init with no checkpoint, or trained on other models: said at once too
    else:
        resolve_resume(Path(run).expanduser(), "latest")  # nothing to resume: said here, not in train.log
    run = Path(run).expanduser()
    check_folder(run, first_file=LOG_FILE)  # a folder it cannot write: said, not a traceback
    try:
        if not resume:
            run.mkdir(parents=True, exist_ok=True)
            atomic_write(run / RUN_CONFIG, config.to_json().encode())
        (run / STOP_FILE).unlink(missing_ok=True)  # an earlier run's; a Stop pressed from now on is this one's
        log = open(run / LOG_FILE, "ab")  # noqa: SIM115 - handed to the child, closed below
    except OSError as exc:  # a full disk
        raise TrainError(f"{run.name} cannot be started: {exc.strerror or exc} (its folder's disk)") from None
    try:
        process = subprocess.Popen(
            train_command(config, run, resume),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        log.close()
    # Until the child's own first update (it imports torch first): a status a poller can trust.
    Status(run, True, resumed=resume, stage=(config or read_run_config(run)).stage).update(
        state="starting", pid=process.pid, pid_started=process_started(process.pid)
    )
    return process


def training_alive(run: str | Path) -> bool:
    """A run whose status says it is working and whose process is alive (survives a page reload)."""
    status = read_status(run)
    if not status or status.get("state") in FINISHED:
        return False
    try:
        pid = int(status["pid"])
        if pid <= 0:  # 0 and -N name process groups (os.kill's and waitpid's): never a run
            return False
        os.kill(pid, 0)
    except (OSError, KeyError, TypeError, ValueError):
        return False
    recorded = status.get("pid_started")
    if recorded is not None and process_started(pid) not in (None, recorded):
        return False  # the run's process is gone and the system gave its pid to another one
    try:  # a run this process started and that was killed (OOM) is a zombie until waited for
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return True  # not this process's child (started before a restart): os.kill said it lives


__all__ = [
    "LOG_FILE",
    "latest_validation",
    "read_metrics",
    "read_status",
    "request_stop",
    "start_training",
    "train_command",
    "training_alive",
]
