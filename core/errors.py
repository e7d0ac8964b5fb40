"""The one base class of every failure a user can act on.

Each stage raises its own subclass (ParamsError, AudioError, ExportError, ...) with a message that
says what to do. Front ends catch `UserError` once: the CLI prints one line and exits 2, the studio
shows the message next to the control it concerns. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a missing resource, described in a sentence that says how to fix it."""


__all__ = ["UserError"]
