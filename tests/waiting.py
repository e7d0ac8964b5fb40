"""Waiting for a condition in tests: poll it (never a fixed sleep), fail with what was awaited."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], what: Callable[[], str] | str, seconds: float = 120) -> None:
    """Return as soon as `predicate()` holds; fail naming `what` (a text, or a function giving one,
    e.g. a log's tail) after `seconds`."""
    deadline, tick = time.monotonic() + seconds, threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        tick.wait(0.1)
