"""One thread runs every model call of the studio (loading, generating, listening, text norms).

Why one: torch's OpenMP thread pool belongs to the thread that first runs an op. When several
threads run torch (Streamlit gives each session its own script thread), their pools oversubscribe
the cores and every parallel region pays to wake its workers: on 2 cores the tiny models'
denoising loop ran 3× slower in a second thread than in the thread that loaded them. A single
long-lived engine thread keeps one warm pool, and doubles as the queue that serialises the
sessions' generations (the engine's own lock still guards against any other caller).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_executor: ThreadPoolExecutor | None = None
_guard = threading.Lock()
_pending = 0  # submitted and not finished (running + queued)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _guard:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clap2diff-engine")
        return _executor


def _finished(_: Future) -> None:
    global _pending
    with _guard:
        _pending -= 1


def submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Queue `fn` on the engine thread."""
    global _pending
    pool = _pool()
    with _guard:
        _pending += 1
    future = pool.submit(fn, *args, **kwargs)
    future.add_done_callback(_finished)
    return future


def busy() -> bool:
    """True while anything is running or queued on the engine thread."""
    return _pending > 0


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn` on the engine thread and wait for its result (never call this from that thread)."""
    if threading.current_thread().name.startswith("clap2diff-engine"):
        return fn(*args, **kwargs)
    return submit(fn, *args, **kwargs).result()
