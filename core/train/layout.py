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
from pathlib import Path

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


__all__ = ["CHECKPOINTS", "FINAL", "RUN_CONFIG", "SKIPPED_FILE", "STEP_DIR", "TRAINING_FILE", "checkpoint_name",
           "step_name", "trained_models"]  # fmt: skip
