"""The runs in a folder, as a front end lists them: name, state, progress, the final checkpoint.

A run tells the world about itself only through files (RUN/status.json, RUN/train_config.json,
RUN/final/), so listing runs needs nothing from the process that trains: a page that reloads, or
a second browser tab, finds the run that is still going by reading them (see launch.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dataset import SkippedRow
from .launch import training_alive
from .layout import FINAL, RUN_CONFIG, TRAINING_FILE
from .metrics import STATUS_FILE, read_skipped, read_status


@dataclass(frozen=True)
class RunInfo:
    """One run folder as last seen on disk."""

    path: Path
    status: dict[str, Any]
    alive: bool

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        if self.status.get("state") not in ("done", "stopped", "failed") and not self.alive:
            return "interrupted"  # the process is gone without saying so (killed, machine restarted)
        return str(self.status.get("state", "unknown"))

    @property
    def stage(self) -> int | None:
        return self.status.get("stage")

    @property
    def step(self) -> int:
        return int(self.status.get("step") or 0)

    @property
    def total(self) -> int:
        return int(self.status.get("total") or 0)

    @property
    def resumable(self) -> Path | None:
        """The checkpoint a Resume goes on from, for a run that ended unfinished (stopped, killed, or
        failed: out of memory, a full disk...; its folder says,
        not its status: a resumed run killed before its next checkpoint still has the last one)."""
        if self.alive or self.final is not None or self.state not in ("stopped", "interrupted", "failed"):
            return None
        from .checkpoint import latest_checkpoint

        return latest_checkpoint(self.path)

    def skipped(self) -> list[SkippedRow]:
        """Every row the run skipped, with its reason (its skipped_rows.txt; an older run's status
        names its first twenty)."""
        listed = read_skipped(self.path)
        if listed is not None:
            return listed
        return [row for text in self.status.get("skipped") or [] if (row := SkippedRow.parse(str(text))) is not None]

    @property
    def final(self) -> Path | None:
        """The folder the engine loads in trained mode, once the run has written it."""
        final = self.path / FINAL
        return final if (final / TRAINING_FILE).is_file() else None  # written last (checkpoint.write_final)

    @property
    def updated(self) -> float:
        return float(self.status.get("updated") or self.status.get("started") or 0.0)


def run_info(path: str | Path) -> RunInfo | None:
    """The run in `path`, or None when the folder holds no run."""
    path = Path(path)
    status = read_status(path)
    if status is None:
        if not (path / RUN_CONFIG).is_file():
            return None
        status = {}
    return RunInfo(path, status, training_alive(path))


def list_runs(root: str | Path) -> list[RunInfo]:
    """Every run directly under `root`, the most recently updated first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for child in root.iterdir():
        if child.is_dir() and ((child / STATUS_FILE).is_file() or (child / RUN_CONFIG).is_file()):
            info = run_info(child)
            if info is not None:
                runs.append(info)
    return sorted(runs, key=lambda r: (r.updated, r.name), reverse=True)


def running_run(root: str | Path) -> RunInfo | None:
    """The newest run under `root` whose process is still training (reconnect after a reload)."""
    return next((r for r in list_runs(root) if r.alive), None)


__all__ = ["RunInfo", "list_runs", "run_info", "running_run"]
