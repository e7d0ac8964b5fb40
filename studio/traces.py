"""Which generations' traces a page can show (Gates, Spectrogram): the latest Generate preview, the
latest edit and its preview, every kept render and compared image; and which one to show first (the
last that finished)."""

from __future__ import annotations

from studio.history import HistoryItem
from studio.session import Session


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


__all__ = ["first_choice", "trace_choices"]
