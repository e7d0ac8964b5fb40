"""One thread runs every model call of the studio (loading, generating, listening, text norms).

Why one: torch's OpenMP thread pool belongs to the thread that first runs an op. When several
threads run torch (Streamlit gives each session its own script thread), their pools oversubscribe
the cores and every parallel region pays to wake its workers: on 2 cores the tiny models'
denoising loop ran 3× slower in a second thread than in the thread that loaded them. A single
long-lived engine thread keeps one warm pool, and doubles as the queue that serialises the
sessions' generations (the engine's own lock still guards against any other caller).

A fair share: `submit_owned` records which session a job belongs to and refuses one more when that
session already has CLAP2DIFF_MAX_QUEUE jobs queued or running (studio/limits.py), so one tab cannot
fill the queue ahead of everyone else.

Interactive work first: the queue is ordered by priority (INTERACTIVE before BATCH, then first
come), so a preview or a render never waits for the batch jobs queued before it. Batch work that
runs long (a Compare) calls `yield_to_interactive()` between its parts (listening, images): the interactive work
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
_owned: dict[str, list[tuple[Future, threading.Event, str]]] = {}  # Session.queue_key -> (future, cancel, kind)
_owned_guard = threading.Lock()


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


def session_owner() -> str | None:
    """The browser session whose script thread is calling (None outside one: tests, scripts). Its
    Session's own key, not Streamlit's session id: AppTest gives every test session the same id."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    from studio.session import session

    return session().queue_key


def _active(owner: str) -> int:
    """(Holding _owned_guard) `owner`'s live jobs; the finished ones are forgotten here."""
    live = [job for job in _owned.get(owner, []) if not job[0].done()]
    if live:
        _owned[owner] = live
    else:
        _owned.pop(owner, None)
    return sum(not c.is_set() for _, c, _ in live)


def active(owner: str) -> int:
    """How many of `owner`'s jobs are queued or running; a cancelled one that still waits its turn
    does not count (it ends the moment it is reached, e.g. a superseded preview)."""
    with _owned_guard:
        return _active(owner)


def running_kind(owner: str) -> str | None:
    """The kind of `owner`'s own job the engine thread is running now ('compare', 'render'...), or
    None: whose work is ahead, so a waiting job can say so truthfully."""
    with _owned_guard:
        return next((kind for f, _, kind in _owned.get(owner, []) if f.running()), None)


def submit_owned(
    fn: Callable[[], Any], cancel: threading.Event, priority: int = BATCH, owner: str | None = None, kind: str = ""
) -> Future:
    """`submit(fn)` on behalf of a session (`owner`, by default the calling one), unless it already
    has CLAP2DIFF_MAX_QUEUE jobs queued or running: then studio.limits.QueueFull, and nothing is queued.
    `kind` names the job for `running_kind`."""
    from studio.limits import limits

    owner = owner or session_owner()
    if owner is None:
        return submit(fn, priority=priority)
    with _owned_guard:  # one check-and-queue at a time, so two clicks cannot both take the last place
        for other in [o for o in _owned if o != owner]:
            _active(other)  # forget the finished jobs of every session (ended ones too)
        limits().check_queue(_active(owner))
        future = submit(fn, priority=priority)
        _owned.setdefault(owner, []).append((future, cancel, kind))
    return future


def hand_over(owner: str, to: str) -> None:
    """`owner`'s queued and running jobs count as `to`'s from now on (a reloaded page took them)."""
    with _owned_guard:
        if moved := _owned.pop(owner, None):
            _owned.setdefault(to, []).extend(moved)


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
