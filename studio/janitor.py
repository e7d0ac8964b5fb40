"""When a browser session ends: its jobs are cancelled, its uploads and their decoded clips go.

Streamlit has no public "session ended" callback (streamlit#7688, #8545). Three ways were weighed:

* Polling `Runtime.is_active_session(id)` from a thread of our own: it sees a closed tab only at
  the next poll, and a thread cannot finish the session off safely (`Runtime.close_session` must
  run on the server's event loop).
* `weakref.finalize` on the Session object: it fires only when the garbage collector frees the
  session state, which Streamlit delays on purpose (a disconnected session waits in its session
  storage for a reconnect) and which never happens while anything still refers to the object.
* Chosen: a session-scoped resource, `st.cache_resource(scope="session", on_release=...)`, the
  public pattern Streamlit's maintainers point to in streamlit#8545. Streamlit clears a
  session's scoped resources when its websocket disconnects, synchronously on the event loop,
  so `_released` runs within milliseconds of a closed tab. It also runs on a "Clear cache" of a
  live session: one loop turn later `_left` asks `Runtime.is_active_session` whether the session
  really left (during the disconnect itself Streamlit still lists it as active).

What a departure does:
1. At once: the session's previews are cancelled (`Job.request_cancel`: a queued job never
   starts, a running one stops at its next step); they are only for the eyes, and a browser that
   comes back asks for a new one. Its other jobs (a render, an edit, a Compare, a sweep) are
   cancelled `JOBS_GRACE_S` later unless the browser is back by then: a network blip (Streamlit's
   page reconnects by itself) must not throw away a long render, and a closed tab still lets the
   one engine queue (studio/worker.py) go to the next user within seconds. Outside a server
   (AppTest) there is no reconnect, and everything is cancelled at once.
   A reload is a departure too (a new session), but of someone who is still there: a fresh page
   of the same gallery (the link's `?gallery=` code; its first run) within the grace adopts those
   jobs (`adopt`), with the uploads they use; the page shows them going on with their settings,
   and a toast says so.
2. After the reconnect window (Streamlit's `server.disconnectedSessionTTL`, 120 s by default,
   less a second), unless the browser came back: the session is closed the way Streamlit closes
   one (`Runtime.close_session`: its uploaded-file bytes, media files and session state go; its
   storage would otherwise let the session expire without that shutdown, streamlit#12506), and
   the uploads it used that no live session uses are deleted with their cached clips
   (`release_uploads`). A file saved again after the session left is someone else's and stays.
3. A browser that came back is heard leaving again through the handle its next run makes. Streamlit's
   page reruns on a reconnect only when a run was going on (or a timer is set), so an idle page
   gets no new handle until the user touches it: until then the janitor looks every `WATCH_S`
   whether the session left again, and treats that as a departure.

Pages claim an upload when they use it (`claim`, from widgets.clip_for for clips and
editing.save_photo for photos and masks): "used by nobody else"
means no other session that has not ended claimed it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from core import forget_clip_file
from studio.jobs import KIND_NAMES, Job
from studio.session import JobSlot, Session
from studio.uploads import delete_upload, upload_folder_of

log = logging.getLogger(__name__)

JOBS_GRACE_S = 15.0  # how long a departed session's render, edit, Compare or sweep waits for it to come back
DISPOSABLE_KINDS = frozenset({"preview"})  # cancelled the moment the session leaves
WATCH_S = 10.0  # how often a session that came back without a rerun (so without a handle) is looked at

_lock = threading.Lock()
_claims: dict[str, set[str]] = {}  # session id -> resolved upload paths it used
_departures: dict[str, object] = {}  # session id -> the token of its latest departure
ADOPTABLE = ("render", "edit", "compare", "sweep")  # the Session slots a reloaded page takes over


@dataclass
class _Orphan:
    """A departed session's jobs that wait out the grace: another session of its gallery may take them."""

    session: weakref.ref[Session] = field(repr=False)
    gallery_code: str
    jobs: list[Job]  # the very list the grace's timers cancel: an adopted job leaves it


_orphans: dict[str, _Orphan] = {}  # departed session id -> its jobs waiting out the grace


@dataclass
class Handle:
    """What the session-scoped resource holds: the session's id and (weakly) its Session."""

    session_id: str
    session: weakref.ref[Session] = field(repr=False)


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def claim(path: str | Path) -> None:
    """This session uses the upload at `path` (anything outside the uploads area is ignored)."""
    p = Path(path)
    sid = _session_id()
    if sid is None or upload_folder_of(p) is None:
        return
    with _lock:
        _claims.setdefault(sid, set()).add(str(p.resolve()))


def claimed(session_id: str) -> set[str]:
    with _lock:
        return set(_claims.get(session_id, ()))


def watch(current: Session, fresh: bool) -> Handle:
    """Every run: make sure this session has its handle (made once per connection); on its first
    run (`fresh`: a reload, not a tab in use), take over the jobs a reload (a page of the same
    gallery) left running."""
    handle = _handle(id(current), current)
    if fresh and _orphans and (taken := adopt(current, handle.session_id)):
        names = " and ".join(KIND_NAMES.get(name, name) for name in taken)
        note = f"The {names} started before the reload goes on here"
        if _show_settings(current, taken):
            note += "; the knobs show its settings"
        if "sweep" in taken:
            note += " (the sweep's grid shows when it is done)"
        st.toast(note + ".", icon=":material/sync:")
    return handle


def _show_settings(current: Session, taken: list[str]) -> bool:
    """The knobs show the settings of the first job taken over (an edit's photo, mask and edit
    knobs; a sweep's axes and the Generate knobs it was drawn from), so the page describes the work
    going on. A comparison's are the remembered knobs (studio/knob_memory.py): its job holds
    preview-quality settings, drawn down from them."""
    from studio import bindings, editing, sweeping

    for name in ADOPTABLE:
        job = getattr(current, name).job if name in taken else None
        if job is None or job.params is None or name == "compare":
            continue
        if name == "sweep":
            sweeping.show_sweep(job.key)
        else:
            bindings.push(job.params)
        if name == "edit":
            editing.show_edit(job.key)
        return True
    return False


def adopt(current: Session, session_id: str) -> list[str]:
    """Move into `current` the running jobs of departed sessions of its gallery (within their grace),
    slot by slot where `current`'s own slot is idle, with the uploads they use and their place in
    the queue's count. Returns the slots taken."""
    from studio import worker
    from studio.session import JobSlot

    if not current.gallery_code:
        return []
    taken: list[str] = []
    with _lock:
        for sid, orphan in list(_orphans.items()):
            old = orphan.session()
            if old is None or old is current or sid == session_id or orphan.gallery_code != current.gallery_code:
                continue
            took = []  # from this orphan: only then its claims and its queue count come along
            for name in ADOPTABLE:
                slot = getattr(old, name)
                if slot.running and slot.job in orphan.jobs and not getattr(current, name).running:
                    getattr(current, name).start(slot.job)  # the job, not the old page's last result
                    setattr(old, name, JobSlot())
                    orphan.jobs.remove(slot.job)
                    took.append(name)
            if "edit" in took:  # its page's strokes: a painted region comes back as the painting
                current.painting = old.painting
            taken += took
            if took:
                _claims.setdefault(session_id, set()).update(_claims.get(sid, ()))
                worker.hand_over(old.queue_key, current.queue_key)
            if not orphan.jobs:
                del _orphans[sid]
    return taken


def _released(handle: Handle) -> None:
    """Streamlit dropped the session's scoped resources: it disconnected, or a cache clear."""
    from streamlit import runtime

    try:  # only a server's loop: another library's loop in this thread (playwright's) never turns for us
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop() if runtime.exists() else None
    except RuntimeError:
        loop = None  # not on the server's event loop (AppTest, a clear from a script thread)
    if loop is None:
        _left(handle, None)
    else:
        loop.call_soon(_left, handle, loop)  # after Streamlit has finished disconnecting it


@st.cache_resource(scope="session", on_release=_released, show_spinner=False)
def _handle(session_key: int, _current: Session) -> Handle:
    sid = _session_id() or ""
    with _lock:  # a run after a reconnect: this new handle's release hears the next departure
        _departures.pop(sid, None)
        _orphans.pop(sid, None)  # its jobs are its own again
    return Handle(sid, weakref.ref(_current))


def _active(session_id: str) -> bool:
    from streamlit import runtime

    return runtime.exists() and bool(runtime.get_instance().is_active_session(session_id))


def session_jobs(current: Session) -> list[Job]:
    """Every job of the session still queued or running."""
    slots = [v for v in vars(current).values() if isinstance(v, JobSlot)]
    return [s.job for s in slots if s.job is not None and s.job.running]


def _left(handle: Handle, loop: asyncio.AbstractEventLoop | None) -> None:
    sid = handle.session_id
    if not sid or _active(sid):
        return  # a cache clear of a live session, not a departure
    current = handle.session()
    jobs = session_jobs(current) if current is not None else []
    now = [job for job in jobs if loop is None or job.kind in DISPOSABLE_KINDS]
    later = [job for job in jobs if job not in now]
    for job in now:
        job.request_cancel()
    token = object()
    with _lock:
        _departures[sid] = token
        if later and current is not None and current.gallery_code:
            _orphans[sid] = _Orphan(weakref.ref(current), current.gallery_code, later)
    log.info("session %s left: %d job(s) cancelled, %d kept for %g s", sid, len(now), len(later), JOBS_GRACE_S)
    left_at = time.time()
    if loop is None:
        _ended(handle, token, left_at, None)
    else:
        if later:  # never after _ended (a reconnect window shorter than the grace), which forgets the token
            loop.call_later(min(JOBS_GRACE_S, grace_s()), _cancel_unless_back, sid, token, later)
        loop.call_later(grace_s(), _ended, handle, token, left_at, loop, later)


def _cancel_unless_back(sid: str, token: object, jobs: list[Job]) -> None:
    """The departed session's remaining jobs, cancelled unless its browser reconnected meanwhile."""
    with _lock:
        if _departures.get(sid) is not token:
            return  # it came back and left again: that later departure decides
    if _active(sid):
        return  # a network blip: the browser is back and its jobs run on
    with _lock:
        _orphans.pop(sid, None)
    for job in jobs:  # less any another session adopted
        job.request_cancel()
    log.info("session %s did not come back: %d job(s) cancelled", sid, len(jobs))


def grace_s() -> float:
    """How long a disconnected session may come back: Streamlit's own window, less a second (so
    the session is closed while its storage still holds it)."""
    return max(0.0, float(st.get_option("server.disconnectedSessionTTL")) - 1.0)


def _ended(
    handle: Handle,
    token: object,
    left_at: float,
    loop: asyncio.AbstractEventLoop | None,
    jobs: list[Job] | None = None,
) -> None:
    sid = handle.session_id
    with _lock:
        if _departures.get(sid) is not token:
            return  # it came back (a run made a new handle), or came back and left again: that decides
    if _active(sid):
        # Back, but with no new handle: Streamlit's page reruns on a reconnect only when a run was
        # going on (or timers), so an idle page's next departure would go unheard. Look again.
        if loop is not None:
            loop.call_later(WATCH_S, _watch, handle, token, loop)
        return
    with _lock:  # first: once it is gone, no session adopts one of `jobs` while they are cancelled
        _departures.pop(sid, None)
        _orphans.pop(sid, None)
    for job in jobs or ():  # cancelled already (less any adopted), unless timers of equal delay ran out of order
        job.request_cancel()
    if loop is not None:
        _close_streamlit_session(sid)
    release_uploads(sid, left_at)
    give_back_memory()


def _watch(handle: Handle, token: object, loop: asyncio.AbstractEventLoop) -> None:
    """A session that came back without a rerun: until a run makes it a new handle, its departure
    is seen here, every WATCH_S, and handled like any other."""
    with _lock:
        if _departures.get(handle.session_id) is not token:
            return  # a run made a new handle: its release hears the next departure
    if _active(handle.session_id):
        loop.call_later(WATCH_S, _watch, handle, token, loop)
    else:
        _left(handle, loop)


def _close_streamlit_session(sid: str) -> None:
    """What Streamlit's shutdown of a session frees (run on the event loop): its uploaded files'
    bytes, its media files (st.audio of a clip keeps the whole file), its session state."""
    from streamlit import runtime

    if not runtime.exists():
        return
    rt = runtime.get_instance()
    rt.close_session(sid)  # a session still in storage: shut down as Streamlit would
    rt.uploaded_file_mgr.remove_session_files(sid)  # one already dropped from storage: free its files
    rt.media_file_mgr.clear_session_refs(sid)
    rt.media_file_mgr.remove_orphaned_files()


def give_back_memory() -> None:
    """Collect the session's object cycles now and hand freed heap pages back to the OS.

    glibc keeps what its per-thread arenas freed (Streamlit runs each session's script in its own
    thread) until the top of each heap is free, so RSS stays up after the objects are gone;
    malloc_trim(0) returns those pages (measured: 15-30 MB per departed session that held a 60 MB
    upload; docs/OPERATIONS.md). Elsewhere than glibc this only collects."""
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def release_uploads(session_id: str, left_at: float | None = None) -> list[str]:
    """Delete the uploads `session_id` used that no other session claims, and their cached clips;
    returns the paths deleted. A file saved again at or after `left_at` is kept."""
    with _lock:
        mine = _claims.pop(session_id, set())
        held = set().union(*_claims.values()) if _claims else set()
        gone = []
        for path in sorted(mine - held):
            if delete_upload(path, unless_saved_since=left_at):
                freed = forget_clip_file(path)
                gone.append(path)
                log.info("session %s ended: %s deleted (%d MB of decoded audio freed)", session_id, path, freed >> 20)
    return gone


__all__ = [
    "ADOPTABLE",
    "DISPOSABLE_KINDS",
    "JOBS_GRACE_S",
    "Handle",
    "adopt",
    "claim",
    "claimed",
    "give_back_memory",
    "grace_s",
    "release_uploads",
    "session_jobs",
    "watch",
]
