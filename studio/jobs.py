"""Generations run on the engine thread (studio/worker.py); the page follows them and can cancel.

Why not in the script thread: a Streamlit button click reruns the script, and a rerun stops the
running script at its next `st.*` call. If the engine ran in the script thread, "Cancel" would
depend on that exception unwinding through diffusers, and a session waiting for the engine would
make no `st.*` call at all. Instead each generation is a `Job` queued on the single engine thread:
it calls `engine.generate(params, progress=..., cancel=job.cancel, on_status=...)` and records
progress, status, result or error on the Job object (never touching Streamlit). The page keeps
the Job in its slot of the session (studio/session.py) and follows it (`widgets.follow()`),
looking at it every 0.1 s and redrawing its progress bar when it changed, at most every 0.5 s
(`widgets.results.REDRAW_S`: more often, the browser never mounted a page's first toast):

* Cancel: the Cancel button's callback sets `job.cancel`; the engine checks it after every
  denoising step (diffusers' interrupt) and the job ends as cancelled, at most one step later.
* Any other interaction (a slider, another page) reruns the script: the following stops, the Job
  keeps running, and the next run picks it up again; a finished Job is collected into the history
  on whichever page the session is on (`Session.collect_jobs`).
* Several sessions: their jobs queue on the one engine thread (and the engine's lock serialises any
  other caller); a job that starts behind another reports "waiting" until it runs, as it does
  when the engine sends a `Waiting` event (its lock is held elsewhere), and the page shows it.
  A session with CLAP2DIFF_MAX_QUEUE jobs queued or running gets its next Job ended at once with
  a QueueFull error (studio/limits.py), which its page shows like any other refusal.
* Cancel in Streamlit: Render/Cancel are drawn outside the preview fragment on purpose. Streamlit
  never lets a fragment rerun interrupt a running script (it queues), but a full rerun does.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from typing import TYPE_CHECKING, Any

from core.events import Phase, StatusEvent, StepInfo, Waiting
from core.params import GenerationParams

if TYPE_CHECKING:
    from core.compare import CompareRun
    from core.engine import Engine
    from core.fastpaths import FastSettings
    from core.parts import ModeView
    from core.trace import GenerationResult

_ids = itertools.count(1)

WAITING = Waiting().text
# Seconds a page waits for a job before it draws "working on it" (the old picture marked updating, a
# progress bar): a job done by then is drawn once, as its result (the live preview: bench/studio_latency.py).
QUICK = 0.25
TEXT_NORMS_KEPT = 64  # prompts whose text norm a session keeps (jobs.text_norm)
INTERACTIVE_KINDS = frozenset(
    {"preview", "render", "listen", "scores", "edit"}
)  # ahead of batch work (studio/worker.py)
# A job's kind as a waiting message names it ("the engine is busy with your Compare").
KIND_NAMES = {"listen": "listening (Spectrogram)", "scores": "CLIP scoring", "compare": "Compare", "sweep": "Sweep"}


class Job:
    """One background task (a generation, a comparison, a listen), followed by a page."""

    def __init__(self, kind: str, task: Callable[[Job], Any], total: int = 1, label: str = ""):
        self.id = next(_ids)
        self.kind = kind
        self.label = label
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.total = max(1, int(total))  # progress units (denoising steps over all generations)
        self.completed = 0  # units finished before the current generation
        self.step = 0  # units of the current generation
        self.status = "Starting…"
        self.waiting = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.collected = False
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.params: GenerationParams | None = None  # what a generation job was asked for
        self.key: Any = None  # what a page keys a job on (e.g. the Spectrogram's listen settings)
        self.stages: list[StatusEvent] = []  # every event the engine sent (tests, diagnostics)
        self.partial: list[tuple[str, bytes]] = []  # (caption, PNG) of each image done so far, in order
        self._task = task
        self.future: Future | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, owner: str | None = None) -> Job:
        """Queue it on the engine thread for `owner` (by default the calling browser session)."""
        from studio import worker
        from studio.limits import LimitError

        owner = owner or worker.session_owner()
        if worker.busy():  # a generation is ahead in the queue: this session's own, or another's
            ahead = worker.running_kind(owner) if owner else None
            self.waiting = True
            self.status = Waiting.behind_own(KIND_NAMES.get(ahead, ahead)).text if ahead else WAITING
        priority = worker.INTERACTIVE if self.kind in INTERACTIVE_KINDS else worker.BATCH
        try:
            self.future = worker.submit_owned(self._run, self.cancel, priority=priority, owner=owner, kind=self.kind)
        except LimitError as exc:  # this session's queue is full (CLAP2DIFF_MAX_QUEUE): ends at once, says why
            self.waiting, self.error, self.status = False, exc, "Failed"
            self.finished = time.perf_counter()
            self.done.set()
        return self

    def _run(self) -> None:
        from core.cancel import Cancelled

        if self.waiting:  # its turn came
            self.waiting, self.status = False, "Starting…"
        if self.cancel.is_set():  # cancelled (or superseded) while it waited in the queue
            self.cancelled, self._task = True, None
            self.finished = time.perf_counter()
            self.status = "Cancelled"
            self.done.set()
            return

        try:
            self.result = self._task(self)
            if self.cancel.is_set() and self.result is None:
                self.cancelled = True
        except Cancelled:
            self.cancelled = True
        except BaseException as exc:  # noqa: BLE001 - every failure is shown to the user, never raised into Streamlit
            self.error = exc
        finally:
            self._task = None  # a finished job does not keep its engine (and models) alive
            self.finished = time.perf_counter()
            self.status = "Cancelled" if self.cancelled else "Failed" if self.error else "Done"
            self.done.set()

    def request_cancel(self) -> None:
        self.cancel.set()
        if not self.done.is_set():
            self.status = "Cancelling…"

    # -- reading ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self.done.is_set()

    @property
    def ok(self) -> bool:
        return self.done.is_set() and self.error is None and not self.cancelled

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, (self.completed + self.step) / self.total))

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    # -- callbacks for the engine (run in the worker thread) ----------------------------------
    def on_status(self, event: StatusEvent) -> None:
        """A typed event from the engine: a stage began, the engine is busy with another caller, or
        a multi-image run moved on to its next part (Phase)."""
        if isinstance(event, Phase):
            self.label, self.completed, self.step = event.label, event.steps_done, 0
            self.total = max(1, event.steps_total) if event.steps_total else self.total
        self.waiting = isinstance(event, Waiting)
        if len(self.stages) < 500:
            self.stages.append(event)
        prefix = f"{self.label} · " if self.label and not isinstance(event, Phase) else ""
        self.status = WAITING if self.waiting else f"{prefix}{event}"

    def on_progress(self, info: StepInfo) -> None:
        self.waiting = False
        self.step = int(info.step)
        if self.cancel.is_set():
            self.status = "Cancelling…"
            return
        prefix = f"{self.label} · " if self.label else ""
        self.status = f"{prefix}{info}"


def text_norm(engine: Engine, norms: dict[tuple, Future], params: GenerationParams) -> float | None:
    """The prompt's own text-token norm, asked of the engine thread once per (models, prompt, measure)
    and waited for at most QUICK: None until it is known (a later run shows it). A blocking call after
    a `worker.busy()` check held the page behind any job queued between the two (a whole render)."""
    from studio import worker

    key = (engine.spec.name, params.prompt, params.norm_measure)
    if key not in norms:
        while len(norms) >= TEXT_NORMS_KEPT:  # each prompt typed asks once: the oldest answers go first
            del norms[next(iter(norms))]
        norms[key] = worker.submit(engine.prompt_norm, params.prompt, params.norm_measure, priority=worker.INTERACTIVE)
    future = norms[key]
    wait_for([future], timeout=QUICK)
    if not future.done():
        return None
    if future.exception() is not None:  # a failed ask (an engine swapped out under it): asked again next run
        del norms[key]
        return None
    return future.result()


# ================================================================================================
# Job factories
# ================================================================================================
def _render(
    engine: Engine, params: GenerationParams, job: Job, fast: FastSettings | None = None
) -> tuple[GenerationResult, bytes]:
    """engine.generate + the PNG file, both in the worker (the page only draws); `fast`: a
    preview's fast paths (core/fastpaths.py), never a render's."""
    from core.export import extra_from_result, png_bytes
    from studio.limits import limits

    limits().check(params)  # the operator's caps (CLAP2DIFF_MAX_SIDE / _STEPS): refused before any step
    result = engine.generate(params, progress=job.on_progress, cancel=job.cancel, on_status=job.on_status, fast=fast)
    png = png_bytes(result.image, result.params, extra_from_result(result))
    return result, png


def generation_job(
    engine: Engine, params: GenerationParams, kind: str = "render", fast: FastSettings | None = None
) -> Job:
    """A started Job whose result is (GenerationResult, png bytes). `fast` applies to previews only."""
    fast = fast if kind == "preview" else None
    job = Job(kind, lambda job: _render(engine, params, job, fast), total=params.steps)
    job.params = job.key = params
    return job.start()


def listen_job(engine: Engine, params: GenerationParams, key: Any = None, max_frames: int = 600) -> Job:
    """Sources + CLAP + spectrograms for the Spectrogram page. Result: core.parts.ModeView."""
    from core.parts import mode_view

    def task(job: Job) -> ModeView:
        return mode_view(engine, params, max_frames=max_frames, cancel=job.cancel, on_status=job.on_status)

    job = Job("listen", task)
    job.key = key
    return job.start()


def compare_job(engine: Engine, params: GenerationParams, modes: Sequence[str], **options: Any) -> Job:
    """The Compare page's run: core.compare.run_compare with its `options` (alone, without,
    audio_label, max_frames). Result: a CompareRun, with whatever was done before a cancel or an error
    (the job fails with the error and keeps that run as its result, as a sweep's does)."""
    from core.compare import run_compare
    from studio import worker
    from studio.history import CompareAsked

    def task(job: Job) -> CompareRun:
        run = run_compare(
            engine,
            params,
            modes,
            cancel=job.cancel,
            progress=job.on_progress,
            on_status=job.on_status,
            on_tile=lambda cell, png: job.partial.append((cell.caption, png)),  # shown as it is done
            between_parts=worker.yield_to_interactive,  # waiting previews and renders run between parts
            **options,
        )
        job.cancelled = run.cancelled
        job.label = ""
        if run.error is not None:  # an image failed: the job fails with it, and keeps the images done to show
            job.result = run
            raise run.error
        return run

    job = Job("compare", task, label="")
    job.params = params  # its key: what the page's "Older settings" compares
    job.key = CompareAsked.of(params, modes, options.get("without", True), options.get("alone", True))
    return job.start()
