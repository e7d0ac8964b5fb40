"""A run folder's names, and how a shared file names a checkpoint of a run. Light (no torch), so
core.params, core.clips and the exports read them without loading the training code.

    RUN/final/                      what a finished run exports (the engine loads it)
    RUN/checkpoints/step-0000500/   a step checkpoint (the engine loads it too)
"""

from __future__ import annotations

import re

CHECKPOINTS = "checkpoints"
FINAL = "final"
STEP_DIR = re.compile(r"^step-(\d+)$")


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


__all__ = ["CHECKPOINTS", "FINAL", "STEP_DIR", "checkpoint_name", "step_name"]
