"""Every failure becomes one `st.error` that says what happened and what to do; nothing is re-raised,
so the page keeps working and the session's history is kept."""

from __future__ import annotations

import streamlit as st

from studio import state


def describe(exc: BaseException) -> str:
    """A message for people: the core's own message where it already says what to do."""
    from core.audio import AudioError
    from core.engine import EngineError
    from core.export import ExportError
    from core.models import ModelUnavailable
    from core.params import ParamsError
    from core.projector import ProjectorError

    if isinstance(exc, ParamsError):
        label = state.FIELD_LABELS.get(exc.field, exc.field.replace("_", " "))
        detail = str(exc).split(": ", 1)[-1]
        return f"**{label}**: {detail}. Change this setting and try again."
    if isinstance(exc, AudioError):
        return f"**Audio problem**: {exc}"
    if isinstance(exc, ExportError):
        return f"**Cannot use this file**: {exc}."
    if isinstance(exc, ModelUnavailable):
        return f"**Models missing**: {exc}"
    if isinstance(exc, ProjectorError):
        return (
            f"**Trained checkpoint problem**: {exc}. Check the checkpoint folder in the sidebar, "
            "or switch back to zero-shot."
        )
    if isinstance(exc, EngineError):
        return f"**Generation failed**: {exc}"
    try:
        from core.sources import SeparationError

        if isinstance(exc, SeparationError):
            return f"**Source separation failed**: {exc} Choose 'mix' or 'bands' as the level sources meanwhile."
    except Exception:  # noqa: BLE001 - separation module optional
        pass
    if isinstance(exc, MemoryError):
        return "**Out of memory**: lower the image size or the number of steps, then try again."
    return (
        f"**Unexpected error** ({type(exc).__name__}: {exc}). The studio is still running and your "
        "history is kept; try other settings, and please report this with the settings you used."
    )


def show(exc: BaseException, where=None) -> None:
    (where or st).error(describe(exc), icon=":material/error:")
