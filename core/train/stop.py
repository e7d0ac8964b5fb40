"""A graceful stop: SIGTERM, Ctrl-C or a RUN/STOP file ends the run after the current step, with a
checkpoint (the CLI then exits with status 130, as an interrupted command). A second Ctrl-C interrupts at once (the previous checkpoint stays).

The STOP file is how another process (the studio's Stop button) asks, without signals, which a
Streamlit server may not be able to deliver to a process group it does not own.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

STOP_FILE = "STOP"


def request_stop(run: str | Path) -> Path:
    """Ask a running training to stop at the next step (it saves a checkpoint first)."""
    path = Path(run) / STOP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


class StopRequest:
    """Context manager: installs the signal handlers (main thread only) and clears a STOP file left
    from before this process started. One asked since (Stop pressed while the run was still
    importing torch and reading its dataset) is kept: the run stops at its first step."""

    def __init__(self, run: Path):
        self.path = Path(run) / STOP_FILE
        self.signalled: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if _older_than_this_process(self.path):  # a stop asked of an earlier run must not end this one
            self.path.unlink(missing_ok=True)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signalled and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.signalled = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signalled is not None or self.path.exists()

    @property
    def reason(self) -> str:
        return self.signalled or (f"{STOP_FILE} file" if self.path.exists() else "")

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        self.path.unlink(missing_ok=True)


def _older_than_this_process(path: Path) -> bool:
    """Whether the file at `path` was written before this process started (False when absent)."""
    import psutil  # accelerate's own dependency

    try:
        return path.stat().st_mtime < psutil.Process().create_time()  # boot time in whole seconds: a
    except OSError:  # start time up to 1 s early, so a stop asked after the start is never taken as old
        return False


__all__ = ["STOP_FILE", "StopRequest", "request_stop"]
