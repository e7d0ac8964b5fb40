"""Editing a user's photo with sound: variation (SDEdit), optionally inside a painted mask.

`EditParams` says what to do (a GenerationParams plus the edit's own knobs); `edit_photo(engine,
params, progress, cancel, on_status)` runs it on the engine's loaded models and reports exactly as
`Engine.generate` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import EDIT_MODES, EditParams

_RUNNER = ("EditResult", "edit_photo")  # torch and diffusers: loaded on first use, not by `--help`


def __getattr__(name: str) -> Any:
    if name not in _RUNNER:
        raise AttributeError(f"module 'core.edit' has no attribute {name!r}")
    from . import run

    return getattr(run, name)


if TYPE_CHECKING:
    from .run import EditResult, edit_photo

__all__ = ["EDIT_MODES", "EditParams", "EditResult", "edit_photo"]
