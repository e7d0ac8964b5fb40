"""A run folder's names, and how a shared file names a checkpoint of a run. Light (no torch), so
core.params, core.clips and the exports read them without loading the training code.

    RUN/train_config.json           the settings the run started with
    RUN/final/                      what a finished run exports (the engine loads it), training.json last
    RUN/checkpoints/step-0000500/   a step checkpoint (the engine loads it too)
    RUN/skipped_rows.txt            the dataset's rows the run skipped, with their reasons
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

CHECKPOINTS = "checkpoints"
FINAL = "final"
STEP_DIR = re.compile(r"^step-(\d+)$")
RUN_CONFIG = "train_config.json"
TRAINING_FILE = "training.json"
SKIPPED_FILE = "skipped_rows.txt"  # every row a run skipped and why, one `line N: reason` a line


def step_name(step: int) -> str:
    return f"step-{step:07d}"


def checkpoint_name(path: str) -> str:
    """A checkpoint folder as a file others see names it, written on any system: a run's by the
    run ('/a/runs/city/final' -> 'city/final', '.../city/checkpoints/step-0000500' ->
    'city/checkpoints/step-0000500'), any other folder by its own name ('/home/ana/mymodel' ->
    'mymodel'): never a folder of this machine above the run."""
    parts = [p for p in re.split(r"[\\/]", path) if p not in ("", ".")]
    if not parts:
        return ""
    if parts[-1] == FINAL:
        keep = 2
    elif STEP_DIR.match(parts[-1]) and len(parts) >= 3 and parts[-2] == CHECKPOINTS:
        keep = 3
    else:
        keep = 1
    return "/".join(parts[-keep:])


def trained_models(checkpoint: str | Path) -> str | None:
    """The models a checkpoint folder was trained with (what it must be used with): a final/'s
    training.json, else its run's train_config.json (a step checkpoint); None when neither says."""
    folder = Path(checkpoint).expanduser()
    run = folder.parent if folder.name == FINAL else folder.parent.parent  # RUN/final, RUN/checkpoints/step-N
    for path, inside in ((folder / TRAINING_FILE, "config"), (run / RUN_CONFIG, None)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            models = data[inside]["models"] if inside else data["models"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(models, str) and models:
            return models
    return None


@dataclass(frozen=True)
class RunCheckpoint:
    """What a checkpoint name opens: `folder`, and `run` when the name was a training run's folder
    (the folder `train --init` takes), whose final/ is then the folder."""

    folder: str
    run: str | None = None


class UnfinishedRun(UserError):
    """A training run's folder named as a checkpoint before its final/ is written: nothing to open
    yet. Each front end adds how to finish it (the CLI's command, the studio's Train page)."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.steps = str(Path(run) / CHECKPOINTS / "step-N")
        super().__init__(
            f"{run} is a training run that has not finished (no {FINAL}/): name one of its checkpoints ({self.steps})"
        )


def checkpoint_of_run(path: str) -> RunCheckpoint:
    """The one reading of a checkpoint name, for `--checkpoint` and the studio's box: a run folder
    (it holds train_config.json) is its final/, any other folder itself, as typed. A run without a
    finished final/ (training.json is written last) raises UnfinishedRun: the engine's 'has no
    config.json' would say neither that it is a run nor what to name instead."""
    folder = Path(path).expanduser()
    if not (folder / RUN_CONFIG).is_file():
        return RunCheckpoint(path)
    if (folder / FINAL / TRAINING_FILE).is_file():
        return RunCheckpoint(str(Path(path) / FINAL), run=path)
    raise UnfinishedRun(path)


__all__ = ["CHECKPOINTS", "FINAL", "RUN_CONFIG", "SKIPPED_FILE", "STEP_DIR", "TRAINING_FILE", "RunCheckpoint",
           "UnfinishedRun", "checkpoint_name", "checkpoint_of_run", "step_name", "trained_models"]  # fmt: skip
