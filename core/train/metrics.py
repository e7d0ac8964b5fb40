"""What a run tells the world while it trains: metrics.jsonl, status.json, TensorBoard, a progress bar.

    RUN/metrics.jsonl   one JSON object per logging step: {"step", "stage", "loss", "lr",
                        "samples_per_s"} (+ "temperature" in stage 3); validation adds
                        {"step", "stage", "val_loss"} lines
    RUN/status.json     the run's state for anyone polling it (the studio's Train page): state,
                        stage, step, total, pid, last_checkpoint, final, error, loss, eta_s, ...
    RUN/logs/           TensorBoard event files (accelerate's tracker), when tensorboard or
                        tensorboardX is installed

Only the main process writes. The status file is replaced atomically on every update; the
metrics file is an append-only log (readers skip a torn last line), rewritten atomically only
when a resumed run drops the lines after its checkpoint.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..export.atomic import atomic_write
from .dataset import SkippedRow
from .layout import SKIPPED_FILE

METRICS_FILE = "metrics.jsonl"
STATUS_FILE = "status.json"
STATES = ("starting", "preparing", "training", "saving", "validating", "stopping", "done", "stopped", "failed")
FINISHED = ("done", "stopped", "failed")


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """Every complete line of RUN/metrics.jsonl (a line being written is skipped)."""
    path = Path(run) / METRICS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def write_skipped(run: Path, skipped: list[SkippedRow], enabled: bool) -> str:
    """RUN/skipped_rows.txt: every skipped row and why, by line (a summary names three, status.json
    twenty: the rows only decoding tells apart come last and would be the ones left out). Returns
    what a summary adds to say where they are."""
    path = Path(run) / SKIPPED_FILE
    if enabled and skipped:
        atomic_write(path, "".join(f"{s}\n" for s in skipped).encode())
    elif enabled:
        path.unlink(missing_ok=True)  # a resumed run on a mended dataset: no earlier list left
    return f"; every skipped row and why: {Path(run).name}/{SKIPPED_FILE}" if skipped else ""


def read_skipped(run: str | Path) -> list[SkippedRow] | None:
    """The rows RUN/skipped_rows.txt lists; None when the run wrote none (an older run, or none skipped)."""
    try:
        text = (Path(run) / SKIPPED_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    return [row for line in text.splitlines() if (row := SkippedRow.parse(line)) is not None]


def process_started(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat's 22nd field): with the
    pid, it names one process, so a pid the system gave again to another one is not mistaken for a
    run. None where /proc is not there (not Linux) or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])  # fields after the name (which may hold spaces)
    except (OSError, ValueError, IndexError):
        return None


def read_status(run: str | Path) -> dict[str, Any] | None:
    path = Path(run) / STATUS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


class MetricsLog:
    """Append-only JSON lines; a no-op on processes other than the main one."""

    def __init__(self, run: Path, enabled: bool):
        self.path = Path(run) / METRICS_FILE
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """A resumed run continues from `step`: drop what the interrupted run logged after it."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [r for r in read_metrics(self.path.parent) if int(r.get("step", 0)) <= step]
        atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def clear(self) -> None:
        """A new run in a folder where an earlier attempt saved no checkpoint: not this run's curve."""
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()


CARRIED = ("stage", "step", "total", "last_checkpoint", "loss", "val_loss", "last_validation", "rows_used",
           "rows_skipped", "skipped")  # fmt: skip  # what a resumed run's status starts from: where it was


class Status:
    """RUN/status.json, merged and rewritten atomically on each update. A resumed run's starts
    from where the run was (`resumed=True`: step, total, last checkpoint...), so nobody polling it
    sees it fall back to step 0 or lose the checkpoint it goes on from."""

    def __init__(self, run: Path, enabled: bool, resumed: bool = False, **fields: Any):
        self.path = Path(run) / STATUS_FILE
        self.enabled = enabled
        before = (read_status(run) or {}) if resumed else {}
        self.data: dict[str, Any] = {
            "state": "starting",
            "pid": os.getpid(),
            "pid_started": process_started(os.getpid()),
            "started": time.time(),
            "step": 0,
            "total": 0,
            "last_checkpoint": None,
            "final": None,
            "error": None,
            **{k: before[k] for k in CARRIED if before.get(k) is not None},
            **fields,
        }

    def update(self, **fields: Any) -> None:
        if "state" in fields and fields["state"] not in STATES:
            raise ValueError(f"unknown run state {fields['state']!r}")
        self.data.update(fields, updated=time.time())
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(self.data, indent=2).encode())


def tensorboard_available() -> bool:
    from accelerate.utils import is_tensorboard_available

    return bool(is_tensorboard_available())


def tracker_config(config) -> dict[str, Any]:
    """TensorBoard's hparams take scalars and strings only; folders by name, as in the model card
    (a logs folder is shared, e.g. on tensorboard.dev, as readily as a checkpoint)."""
    from .card import shareable_config

    return {
        k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
        for k, v in shareable_config(config).items()
    }


class ProgressBar:
    """tqdm in the terminal (main process only, unless --quiet): steps, loss, samples/s. The ETA
    is counted here, bar or not: the studio starts runs with --quiet and still shows time left."""

    def __init__(self, total: int, initial: int, stage: int, enabled: bool):
        self.bar = None
        self.total, self.n = total, initial
        self.since: float | None = None  # the first step's end: loading and step 0's validation are no rate
        self.counted_from = initial
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=f"stage {stage}", unit="step", dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.since is None:
            self.since, self.counted_from = time.perf_counter(), self.n
        if self.bar is not None:
            self.bar.update(n)

    def set_postfix(self, **postfix: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)

    def eta(self) -> float | None:
        """Seconds left at the mean rate of this process's steps after its first (None until then)."""
        if self.since is None:
            return None
        done, elapsed = self.n - self.counted_from, time.perf_counter() - self.since
        if done <= 0 or elapsed <= 0:
            return None
        return max(0, self.total - self.n) * elapsed / done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


__all__ = [
    "FINISHED",
    "METRICS_FILE",
    "MetricsLog",
    "ProgressBar",
    "STATES",
    "STATUS_FILE",
    "Status",
    "read_metrics",
    "read_skipped",
    "process_started",
    "read_status",
    "tensorboard_available",
    "tracker_config",
    "write_skipped",
]
