"""Every failure becomes one `st.error` that says what happened and what to do; nothing is re-raised,
so the page keeps working and the session's history is kept."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.params import GenerationParams, ParamsError
from studio.bindings import BY_KEY, FIELD_LABELS, current_params
from studio.markdown import escape_md_prose


def describe(exc: BaseException) -> str:
    """A message for people: the core's own message where it already says what to do."""
    from core import (
        AudioError,
        EngineError,
        ExportError,
        ImageError,
        ModelUnavailable,
        ParamsError,
        ProjectorError,
        SeparationError,
        UserError,
    )

    text = escape_md_prose(exc)  # its message may quote a file name or a prompt: shown as written
    if isinstance(exc, ParamsError):
        label = FIELD_LABELS.get(exc.field, exc.field.replace("_", " "))
        if exc.field == "checkpoint" and _typed_checkpoint_unopened():
            return (f"**{label}**: the folder typed in the sidebar does not open (said under it). Choose another or "
                    "a finished run there, or switch back to zero-shot.")  # fmt: skip
        detail = escape_md_prose(str(exc).split(": ", 1)[-1])
        return f"**{label}**: {detail}. Change this setting and try again."
    if isinstance(exc, AudioError):
        return f"**Audio problem**: {text}"
    if isinstance(exc, ExportError):
        return f"**Cannot use this file**: {text}."
    if isinstance(exc, ImageError):  # a photo or mask: its message names the file and says what to do
        return f"**Cannot use this image**: {text}."
    if isinstance(exc, ModelUnavailable):
        return f"**Models missing**: {text}"
    if isinstance(exc, ProjectorError):
        return (
            f"**Trained checkpoint problem**: {text}. Check the checkpoint folder in the sidebar, "
            "or switch back to zero-shot."
        )
    if isinstance(exc, EngineError):
        return f"**Generation failed**: {text}"
    if isinstance(exc, SeparationError):
        return f"**Source separation failed**: {text} Choose 'mix' or 'bands' as the level sources meanwhile."
    if isinstance(exc, UserError):  # any other error whose message already says what to do (a server limit...)
        return f"**Cannot do this**: {text}"
    if isinstance(exc, MemoryError):
        return "**Out of memory**: lower the image size or the number of steps, then try again."
    return (
        f"**Unexpected error** ({type(exc).__name__}: {text}). The studio is still running and your "
        "history is kept; try other settings, and please report this with the settings you used."
    )


def _typed_checkpoint_unopened() -> bool:
    """Text in the sidebar's checkpoint box that opens nothing (refused, a run without final/): the
    params then hold no checkpoint, and 'trained mode needs a projector checkpoint path' read as if
    the box were empty."""
    from studio import bindings
    from studio.file_access import checkpoint_choice

    typed = str(bindings.value("w_checkpoint") or "").strip()
    return bool(typed) and checkpoint_choice(typed).problem is not None


def show(problem: BaseException | str, where: Any = None) -> None:
    """An error (or an already described one) as one `st.error`, in `where` (default: the page)."""
    text = problem if isinstance(problem, str) else describe(problem)
    (where or st).error(text, icon=":material/error:")


def check_params(params: GenerationParams) -> ParamsError | None:
    """The first setting out of range (as the core's validation says it), or None."""
    try:
        params.validate()
    except ParamsError as exc:
        return exc
    return None


def field_problem(key: str) -> str | None:
    """What is wrong with the widget `key`'s own field right now (shown next to it as it changes),
    or None; problems of other fields are theirs to show."""
    problem = check_params(current_params())
    if problem is None or problem.field != BY_KEY[key].field:
        return None
    return escape_md_prose(str(problem).split(": ", 1)[-1])  # shown in a caption, as written
