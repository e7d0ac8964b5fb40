"""The command line's one progress line on stderr: redrawn in place with a carriage return, and
ended (a newline) before anything else is printed, an error included, so that "error: ..." never
lands at the end of "step   5/30  ambience  2.8s"."""

from __future__ import annotations

import sys

_open = False


def show(text: str) -> None:
    """Redraw the progress line."""
    global _open
    sys.stderr.write(f"\r{text}")
    sys.stderr.flush()
    _open = True


def end() -> None:
    """End the progress line, if one is shown (safe to call any time)."""
    global _open
    if _open:
        sys.stderr.write("\n")
        sys.stderr.flush()
        _open = False


__all__ = ["end", "show"]
