"""Which of the server's files a studio user may name: none, unless the operator opts in.

The File-path audio source reads a file on the *server*. On a shared studio that would let any user
fetch any readable audio file, or probe whether a path exists. So it is off unless
`CLAP2DIFF_AUDIO_DIRS` names folders (separated by the OS path separator, ':' on Linux); a path is
resolved (symlinks and '..' too) before it is checked against them, and a refusal reads the same
whether or not the path exists. The CLI, run by users on their own machine, keeps full access.

The sidebar's trained-checkpoint folder is the same kind of name: opened anywhere, its errors
(which quote the folder and differ by what is there) would probe the server's disk. It opens
folders under the runs root (`CLAP2DIFF_RUNS`, where the Train page's runs are) and those
`CLAP2DIFF_CHECKPOINT_DIRS` names, checked the same way. A run's folder typed there opens its
final/ as `--checkpoint RUN` does (core.train.layout.checkpoint_of_run, one reading for both), and
the folder it resolves to passes the same check (a final/ linked out of the folders does not open).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

AUDIO_DIRS_ENV = "CLAP2DIFF_AUDIO_DIRS"
CHECKPOINT_DIRS_ENV = "CLAP2DIFF_CHECKPOINT_DIRS"
OFF = (
    "Reading audio files from this server is off: upload the clip instead (the operator can allow "
    f"folders with `{AUDIO_DIRS_ENV}`)."
)


def _dirs(env: str) -> list[Path]:
    raw = os.environ.get(env, "")
    return [Path(d).expanduser().resolve() for d in raw.split(os.pathsep) if d.strip()]


def audio_dirs() -> list[Path]:
    """The folders the operator allows, resolved; empty when the File-path source is off."""
    return _dirs(AUDIO_DIRS_ENV)


def _inside(raw: str, dirs: list[Path]) -> Path | None:
    """`raw` resolved (relative: to the first folder) when it lies in one of `dirs`; nothing stat'ed."""
    path = Path(os.path.expanduser(raw))
    resolved = (path if path.is_absolute() else dirs[0] / path).resolve()
    return resolved if any(resolved == d or d in resolved.parents for d in dirs) else None


def allowed_audio_path(raw: str) -> tuple[str | None, str | None]:
    """(the resolved path, None) when `raw` lies in an allowed folder, else (None, why not);
    (None, None) for an empty path while the source is on.

    Nothing is stat'ed before the check: the message for a path outside the folders never depends
    on whether it exists."""
    dirs = audio_dirs()
    if not dirs:
        return None, OFF
    if not raw:
        return None, None
    resolved = _inside(raw, dirs)
    if resolved is not None:
        return str(resolved), None
    names = ", ".join(str(d) for d in dirs)
    return None, f"This studio reads audio files only inside {names}: give a path there, or upload the clip."


def checkpoint_dirs() -> list[Path]:
    """Where the sidebar may open a trained checkpoint: the runs root first, then the operator's."""
    from studio.training import runs_root

    return [runs_root().resolve(), *_dirs(CHECKPOINT_DIRS_ENV)]


def allowed_checkpoint(raw: str) -> tuple[str | None, str | None]:
    """(the folder to open, None) when `raw` lies under `checkpoint_dirs`, else (None, why not);
    (None, None) for an empty box. An absolute folder is kept as typed (a recalled image's
    checkpoint hash stays while the box still names its folder); a relative one is under the runs
    root. As for audio, the refusal never depends on whether the folder exists."""
    raw = raw.strip()
    if not raw:
        return None, None
    dirs = checkpoint_dirs()
    resolved = _inside(raw, dirs)
    if resolved is not None:
        return (raw if Path(raw).is_absolute() else str(resolved)), None
    names = ", ".join(str(d) for d in dirs)
    return None, (
        f"This studio opens trained checkpoints only inside {names}: choose a finished run, or give a "
        f"folder there (its operator can allow others with `{CHECKPOINT_DIRS_ENV}`)."
    )


@dataclass(frozen=True)
class CheckpointChoice:
    """What the sidebar's checkpoint box opens: `folder` (None: nothing), `run` (the run's folder as
    typed, when its final/ is the folder) and `problem` (why nothing opens, plain text)."""

    folder: str | None
    run: str | None = None
    problem: str | None = None


def unfinished_run_problem(folder: str, typed: str) -> str:
    """Why a run's folder without final/ does not open, and what to do: wait for a run that
    trains; Resume one that ended with a step checkpoint ('wait for it to finish' said of a stopped
    run waited for ever); start again after one that ended before its first."""
    from core.train.layout import CHECKPOINTS, FINAL
    from core.train.runs import run_info

    info = run_info(folder)
    steps = f"name one of its step checkpoints, {typed}/{CHECKPOINTS}/step-N"
    if info is None or info.alive:
        return (f"The run {typed} has not finished: it has no {FINAL}/ checkpoint yet. Wait for it to finish (the "
                f"Train page follows it), or {steps}.")  # fmt: skip
    if info.resumable is not None:
        return (f"The run {typed} ended without finishing ({info.state}): it has no {FINAL}/ checkpoint. Resume it "
                f"on the Train page, or {steps}.")  # fmt: skip
    return (f"The run {typed} ended before its first checkpoint ({info.state}): it has no {FINAL}/ checkpoint and "
            "nothing to resume. Start a new run on the Train page.")  # fmt: skip


def checkpoint_choice(raw: str) -> CheckpointChoice:
    """The box's text read as `--checkpoint` reads it, gated by `allowed_checkpoint` before anything
    is stat'ed (a refusal never tells what is on the disk) and again on the folder it resolves to."""
    from core.train.layout import UnfinishedRun, checkpoint_of_run

    folder, refused = allowed_checkpoint(raw)
    if folder is None:
        return CheckpointChoice(None, problem=refused)
    typed = raw.strip().rstrip("/\\")  # a run as the user named it
    try:
        opened = checkpoint_of_run(folder)
    except UnfinishedRun:
        return CheckpointChoice(None, run=typed, problem=unfinished_run_problem(folder, typed))
    if opened.run is None:
        return CheckpointChoice(folder)
    final, refused = allowed_checkpoint(opened.folder)
    if final is None:
        return CheckpointChoice(None, problem=refused)
    return CheckpointChoice(final, run=typed)


__all__ = [
    "AUDIO_DIRS_ENV",
    "CHECKPOINT_DIRS_ENV",
    "OFF",
    "CheckpointChoice",
    "allowed_audio_path",
    "allowed_checkpoint",
    "audio_dirs",
    "checkpoint_choice",
    "checkpoint_dirs",
    "unfinished_run_problem",
]
