"""One thread runs every model call of the studio (loading, generating, listening, text norms).

Why one: torch's OpenMP thread pool belongs to the thread that first runs an op. When several
threads run torch (Streamlit gives each session its own script thread), their pools oversubscribe
the cores and every parallel region pays to wake its workers: on 2 cores the tiny models'
denoising loop ran 3× slower in a second thread than in the thread that loaded them. A single
long-lived engine thread keeps one warm pool, and doubles as the queue that serialises the
sessions' generations (the engine's own lock still guards against any other caller).

Interactive work first: the queue is ordered by priority (INTERACTIVE before BATCH, then first
come), so a preview or a render never waits for the batch jobs queued before it. Batch work that
runs long (a Compare) calls `yield_to_interactive()` between its images: the interactive work
waiting at that moment runs right there, on this same thread, and the batch goes on after it.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

INTERACTIVE, BATCH = 0, 1
THREAD_NAME = "clap2diff-engine"

_queue: queue.PriorityQueue[tuple[int, int, Future, Callable[[], Any]]] = queue.PriorityQueue()
_order = itertools.count()
_guard = threading.Lock()
_thread: threading.Thread | None = None
_pending = 0  # submitted and not finished (running + queued)


def _run_one(future: Future, fn: Callable[[], Any]) -> None:
    global _pending
    try:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)
    finally:
        with _guard:
            _pending -= 1


def _loop() -> None:
    while True:
        _, _, future, fn = _queue.get()
        _run_one(future, fn)


def _ensure_thread() -> None:
    global _thread
    with _guard:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name=THREAD_NAME, daemon=True)
            _thread.start()


def submit(fn: Callable[..., Any], *args: Any, priority: int = BATCH, **kwargs: Any) -> Future:
    """Queue `fn` on the engine thread; INTERACTIVE work goes ahead of queued BATCH work."""
    global _pending
    _ensure_thread()
    future: Future = Future()
    with _guard:
        _pending += 1
    _queue.put((priority, next(_order), future, lambda: fn(*args, **kwargs)))
    return future


def yield_to_interactive() -> int:
    """Run the INTERACTIVE work queued now, here (call it from batch work on the engine thread,
    between two of its parts). Returns how many ran. Anything else goes back into the queue."""
    if not on_engine_thread():
        return 0
    ran, kept = 0, []
    while True:
        try:
            item = _queue.get_nowait()
        except queue.Empty:
            break
        if item[0] == INTERACTIVE:
            _run_one(item[2], item[3])
            ran += 1
        else:
            kept.append(item)
    for item in kept:
        _queue.put(item)
    return ran


def on_engine_thread() -> bool:
    return threading.current_thread().name == THREAD_NAME


def busy() -> bool:
    """True while anything is running or queued on the engine thread."""
    return _pending > 0


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn` on the engine thread and wait for its result (never call this from that thread)."""
    if on_engine_thread():
        return fn(*args, **kwargs)
    return submit(fn, *args, priority=INTERACTIVE, **kwargs).result()
