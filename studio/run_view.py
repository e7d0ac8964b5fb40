"""What the Train page says about a run, as text and numbers: its status line, its progress, its
skipped rows, its line among the past runs.

A run reports through its status.json, written by another process and read at any moment: a run
still loading has no total, a resumed one may report a step past it, no loss before its first
logged step, a time left only while it trains. Each case is decided here, once and tested, so the
page only draws what these return.
"""

from __future__ import annotations

from core.train.config import STAGE_NAMES
from core.train.runs import RunInfo
from studio.markdown import code_md
from studio.widgets.images import duration


def _number(value: object) -> float | None:
    """A status field as a number, or None when missing or not a number (a hand-edited status.json)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _stage(info: RunInfo) -> str:
    stage = info.stage
    return f"stage {stage} ({STAGE_NAMES[stage]})" if stage in STAGE_NAMES else "stage ?"


def status_line(info: RunInfo) -> str:
    """'**training** · stage 1 (alignment) · step 40 of 500 · loss 0.1234 · about 2 min 05 s left'
    (Markdown): the total '?' until the run knows it, the loss once logged, the time left only
    while the run's process is alive (a stopped run's last estimate is no longer true)."""
    line = f"**{info.state}** · {_stage(info)} · step {info.step} of {info.total or '?'}"
    loss = _number(info.status.get("loss"))
    if loss is not None:
        line += f" · loss {loss:.4f}"
    eta = _number(info.status.get("eta_s"))
    if info.alive and eta:
        line += f" · about {duration(eta)} left"
    return line


def progress(info: RunInfo) -> float | None:
    """How far the run is, 0..1 (a resumed run's step may pass its total); None while the total is unknown."""
    if info.total <= 0:
        return None
    return min(1.0, max(0.0, info.step / info.total))


def skipped_label(info: RunInfo) -> str | None:
    """The run's skipped-rows expander: 'Trained on 4 rows; 2 skipped'; None when none was skipped."""
    skipped = _count(info.status.get("rows_skipped"))
    if not skipped:
        return None
    used = _count(info.status.get("rows_used"))
    return f"Trained on {'?' if used is None else used} rows; {skipped} skipped"


def skipped_shown_note(info: RunInfo, shown: int) -> str | None:
    """'The first 20 of 26.' under the table when it lists fewer rows than the run skipped (a run
    from before skipped_rows.txt: its status names only the first twenty); else None."""
    skipped = _count(info.status.get("rows_skipped"))
    if skipped is None or skipped <= shown:
        return None
    return f"The first {shown} of {skipped}."


def past_run_line(info: RunInfo) -> str:
    """One run in the Runs list (Markdown): '`city` · done · stage 2 · step 500/500 · final checkpoint'."""
    stage = "?" if info.stage is None else info.stage
    line = f"{code_md(info.name)} · {info.state} · stage {stage} · step {info.step}/{info.total or '?'}"
    return line + (" · final checkpoint" if info.final is not None else "")


__all__ = ["past_run_line", "progress", "skipped_label", "skipped_shown_note", "status_line"]
