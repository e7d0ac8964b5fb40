"""What a long run tells its caller while it works: typed events, not sentences.

The engine sends a `Stage` when a stage begins (and for each Demucs chunk), `Waiting` when another
caller holds it, and a `StepInfo` after every denoising step; multi-image runs (a comparison, a
sweep) add a `Phase` when they move on to their next part. A front end decides how to show them:
`str(event)` is a short sentence for a progress bar; the fields are for anything that needs more
(the studio recognises "waiting" by type, tests assert on stage names).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Stage names, in the order a generation passes them ("image": an edit reading its photo, first;
# "compile": a compiled preview's one-time warm-up, core/fastpaths.py; "scorer": the studio loading CLIP for scores).
STAGES: tuple[str, ...] = (
    "image",
    "audio",
    "sources",
    "clap",
    "tokens",
    "compile",
    "denoise",
    "spectrograms",
    "scorer",
)


@dataclass(frozen=True)
class Stage:
    """A stage began: `name` is one of STAGES; `done`/`total` count its parts (Demucs chunks)."""

    name: str
    text: str
    done: int | None = None
    total: int | None = None

    def __str__(self) -> str:
        return f"{self.text} {self.done}/{self.total}" if self.total else self.text


@dataclass(frozen=True)
class Waiting:
    """The engine is busy with another caller (another tab, another user); this run starts after it."""

    text: str = "Waiting: another generation is running (another tab or user); yours starts when it ends."

    @classmethod
    def behind_own(cls, what: str) -> Waiting:
        """The work ahead is the caller's own (`what`: 'Compare', 'render'...), which a front end that
        knows whose work is queued can say: blaming another tab for it would send people looking there."""
        return cls(f"Waiting: the engine is busy with your {what}; this starts as soon as it is free.")

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class StepInfo:
    """Progress after one denoising step."""

    step: int  # steps done, 1-based
    total: int
    levels: dict[str, float]  # the level blend used at this step
    elapsed: float  # seconds since the denoising loop started

    def __str__(self) -> str:
        level = max(self.levels, key=self.levels.get) if self.levels else "no audio"
        return f"step {self.step}/{self.total} · {level} · {self.elapsed:.1f} s"


@dataclass(frozen=True)
class Phase:
    """A multi-image run moved on: `label` names the part now running ("2/7 Mixed · foreground
    alone"); `steps_done` denoising steps of the whole run are finished, of `steps_total` (0 while
    the run is still planning)."""

    label: str
    steps_done: int = 0
    steps_total: int = 0

    def __str__(self) -> str:
        return self.label


StatusEvent = Stage | Waiting | Phase
StatusCallback = Callable[[StatusEvent], None]
ProgressCallback = Callable[[StepInfo], None]


def ignore(_: object) -> None:
    """A callback that drops what it is told (the default when the caller passes none)."""


__all__ = [
    "STAGES",
    "Phase",
    "ProgressCallback",
    "Stage",
    "StatusCallback",
    "StatusEvent",
    "StepInfo",
    "Waiting",
    "ignore",
]
