"""Editing a user's photo with sound: variation (SDEdit), optionally inside a painted mask.

`EditParams` says what to do (a GenerationParams plus the edit's own knobs); `edit_photo(engine,
params, progress, cancel, on_status)` runs it on the engine's loaded models and reports exactly as
`Engine.generate` does.
"""

from .params import EDIT_MODES, EditParams
from .run import EditResult, edit_photo

__all__ = ["EDIT_MODES", "EditParams", "EditResult", "edit_photo"]
