"""Which generations' traces a page can show (Gates, Spectrogram): the latest Generate preview, the
latest edit and its preview, every kept render and compared image; and which one to show first (the
last that finished, but a render over a later preview of its own settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.params import LEVELS
from studio.history import HistoryItem
from studio.session import Session

if TYPE_CHECKING:
    from core.params import GenerationParams
    from core.trace import Trace


def trace_choices(s: Session) -> dict[str, HistoryItem]:
    """Label -> the generation or edit whose trace it shows, newest kinds first."""
    from studio.editing import history_item

    choices: dict[str, HistoryItem] = {}
    if s.preview.result is not None:
        choices["Latest live preview"] = s.preview.result
    if s.edit.result is not None:
        choices["Latest edit"] = history_item(s.edit.result, kind="edit")
    if s.edit_preview.result is not None:
        choices["Latest edit preview"] = history_item(s.edit_preview.result, kind="edit preview")
    for item in reversed(s.history):
        choices[f"Render {item.title}"] = item
    for item in s.compare.result.items.values() if s.compare.result is not None else ():
        choices[f"Compare · {item.caption}"] = item
    return choices


def first_choice(s: Session, choices: dict[str, HistoryItem]) -> int:
    """The index of what finished last (Session.last_trace), else 0."""
    kind, item_id = s.last_trace or (None, None)
    for i, item in enumerate(choices.values()):
        if item.kind == kind and (kind != "render" or item.id == item_id):
            return i
    return 0


def adapted_layers(trace: Trace) -> int:
    """The cross-attention layers the audio spoke in (a group whose gate scale is 0 has no adapter)."""
    return sum(1 for g in trace.gates if g != 0)


def silent_branch(params: GenerationParams, trace: Trace) -> str | None:
    """Why a generation that heard a clip added nothing of it inside the UNet, in the knobs' words;
    None when the audio branch ran. Without it the Gates page drew empty charts for a clip it
    had heard, and the user was left to guess which knob did it."""
    if np.any(np.asarray(trace.ratios, dtype=float)):
        return None
    if params.audio_strength == 0:
        return "Audio strength is 0: the audio branch adds nothing. Raise it on the Generate page."
    if not any(params.gate_scales):
        return "Every gate scale (Down, Mid, Up) is 0: no adapter ran. Raise one on the Generate page."
    if not any(params.level_weights):
        return "Every level weight is 0: the audio tokens are all zeros. Raise one on the Generate page."
    if trace.skipped_levels and set(trace.skipped_levels) >= set(LEVELS):
        return "Every level's sound was near-silent, so none conditioned the image: try a louder clip or the mix."
    return "The audio branch added nothing at any step (its gates or tokens were all 0)."


__all__ = ["adapted_layers", "first_choice", "silent_branch", "trace_choices"]
