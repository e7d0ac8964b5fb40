"""One typed `Session` per browser session: every job slot, result, error and note, the history.

The studio's application state lives on this one object under one key of `st.session_state`
(SESSION_KEY); nothing else writes application keys there. Widget values live under their own
widget keys, which only the binding table (studio/bindings.py) reads and writes.

Each kind of background work has a `JobSlot`: the job in flight, the last result it gave, what
that result was made from (`key`), an error and a note for people. A page that needs a new kind of
work declares one field (`edit: JobSlot[EditOutput] = field(default_factory=JobSlot)`); the
generic `JobSlot.collect` gives it the usual lifecycle, `Session.collect_jobs` adds what is special
(renders go into the history, a cancelled comparison keeps its images).
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import streamlit as st

from core.params import GenerationParams
from studio.history import HISTORY_LIMIT, CompareResult, HistoryItem
from studio.jobs import Job

if TYPE_CHECKING:
    import numpy as np

    from core.compare import CompareRun
    from core.parts import ModeView
    from core.scoring import Scores
    from core.sweep.run import SweepRun
    from studio.editing import EditOutput
    from studio.gallery_export import SelectionFiles

SESSION_KEY = "clap2diff_session"

ResultT = TypeVar("ResultT")


def env_models() -> str:
    """Where a new session starts: the first of the models the operator offers (CLAP2DIFF_MODELS)."""
    from studio.limits import configured_models

    return configured_models()[0]


@dataclass
class JobSlot(Generic[ResultT]):
    """One kind of background work of this session."""

    job: Job | None = None  # the job in flight (or the last one)
    result: ResultT | None = None  # the last good result
    key: Any = None  # what `result` was made from (e.g. the preview's params, the listen settings)
    asked: Any = None  # what the latest job was asked for (its `key`): `error` and the progress belong to it
    error: str | None = None  # a message for people (studio.errors.describe)
    note: str | None = None  # e.g. "cancelled after 3 of 25 steps"
    input_problem: bool = False  # `error` is about the settings (not a run): it goes once they are valid

    @property
    def running(self) -> bool:
        """Started and not yet collected. A job that ended after this run's `collect_jobs` still
        counts: the page follows it (at once), collects it and reruns; otherwise the page would
        show neither the job nor its result until the next click."""
        return self.job is not None and not self.job.collected

    @property
    def refused_for_room(self) -> bool:
        """Its job was refused by a full queue (CLAP2DIFF_MAX_QUEUE): unlike settings that fail, the
        same settings are tried again on a later run."""
        from studio.limits import QueueFull

        return self.job is not None and isinstance(self.job.error, QueueFull)

    def start(self, job: Job) -> Job:
        """Follow `job` from now on; a different one still running is stale and is cancelled."""
        if self.job is not None and self.job is not job and self.job.running:
            self.job.request_cancel()
        self.job, self.error, self.note, self.input_problem = job, None, None, False
        self.asked = job.key
        return job

    def supersede(self, make: Callable[[], Job]) -> Job:
        """Cancel the job in flight (its settings changed: a preview the sliders left), then start
        `make()` in its place. Cancelled first, so that its place in this session's queue is free
        when the new one asks for one (CLAP2DIFF_MAX_QUEUE)."""
        self.cancel()
        return self.start(make())

    def fail(self, message: str) -> None:
        """A problem found before any job could start (bad input): shown where the result goes,
        until the settings are valid again (`refresh_input_problem`)."""
        self.error, self.note, self.input_problem = message, None, True

    def refresh_input_problem(self, problem: str | None) -> None:
        """A settings error follows the settings: gone once they are fixed, the new one when they
        are wrong another way (another bad file chosen), never the stale one."""
        if self.input_problem:
            self.error, self.input_problem = problem, problem is not None

    def cancel(self) -> None:
        if self.job is not None:
            self.job.request_cancel()

    def finished(self) -> Job | None:
        """The job, once, when it has ended and was not collected yet."""
        job = self.job
        if job is None or not job.done.is_set() or job.collected:
            return None
        job.collected = True
        return job

    def collect(self) -> Job | None:
        """The usual lifecycle: a good result (and its key) replaces the last; a cancel leaves a
        note; a failure leaves its message. Returns the job it collected, if any."""
        from studio.errors import describe

        job = self.finished()
        if job is None:
            return None
        self.error = self.note = None
        if job.ok:
            self.result, self.key = job.result, job.key
        elif job.cancelled:
            self.note = "Cancelled: nothing was kept."
        else:
            self.error = describe(job.error)
        return job


@dataclass
class Painting:
    """The strokes painted on one photo, kept here as well as in the canvas: a canvas is made anew
    whenever the brush changes, or the page comes back to it (studio/widgets/canvas.py says why),
    and starts from the strokes so far. Until it sends, they are the last ones a canvas sent."""

    key: str = ""  # the photo and the Clear round these strokes belong to (editing.paint_key)
    canvas: int = 0  # which canvas of this painting is on the page (each has its own widget key)
    brush: int = 0  # that canvas's brush
    start: dict | None = None  # Fabric's drawing that canvas started from
    drawing: dict | None = None  # the latest drawing a canvas sent...
    strokes: np.ndarray | None = None  # ...and its picture (RGBA at the canvas's size)


@dataclass
class Session:
    """Everything this browser session has made and is making."""

    params: GenerationParams  # the canonical params (fields without a widget: audio hash, models)
    history: list[HistoryItem] = field(default_factory=list)
    render: JobSlot[HistoryItem] = field(default_factory=JobSlot)
    preview: JobSlot[HistoryItem] = field(default_factory=JobSlot)
    compare: JobSlot[CompareResult] = field(default_factory=JobSlot)
    listen: JobSlot[ModeView] = field(default_factory=JobSlot)
    edit: JobSlot[EditOutput] = field(default_factory=JobSlot)
    edit_preview: JobSlot[EditOutput] = field(default_factory=JobSlot)  # the Edit page's live preview
    sweep: JobSlot[SweepRun] = field(default_factory=JobSlot)
    scores: JobSlot[Scores] = field(default_factory=JobSlot)  # Generate's CLIP scores of a render (key: its id)
    compare_scores: JobSlot[list[tuple[str, Scores]]] = field(
        default_factory=JobSlot
    )  # Compare's, of a comparison (key: ("compare", id))
    train: JobSlot[None] = field(default_factory=JobSlot)  # no job: its key is the run folder the Train page follows
    train_dataset: str | None = None  # the dataset the Train page last showed: one that vanishes is said
    last_trace: tuple[str, int] | None = None  # ("render", id) | ("preview" | "edit" | "edit preview", 0): Gates' first
    recalled: GenerationParams | None = None  # set by a recall, shown (once) on Generate
    recall_notes: list[str] = field(default_factory=list)  # what a recall lowered to the server's limits
    recall_about: str | None = None  # what the recalled settings are not (an edit, a preview-quality tile)
    recall_missing: list[str] = field(default_factory=list)  # what a recall named that is not here (a checkpoint)
    recall_clip_differs: bool = False  # the recalled clip's name is here, with other sound (a sample of that name)
    unlocated_clip: tuple[str, str | None] | None = None  # a recalled clip not found here: (its name, its SHA-256)
    models_note: str | None = None  # a link asked for models this studio does not offer (sidebar says so)
    goto: str | None = None  # a page to switch to on the next run (after a recall)
    engine_spec: str | None = None  # the models this session uses
    clips: dict[str, str | None] = field(default_factory=dict)  # "upload" | "record" -> saved path
    clip_errors: dict[str, str] = field(default_factory=dict)  # "upload" | "record" -> what is wrong
    text_norms: dict[tuple, Future] = field(default_factory=dict)  # (models, prompt, measure) -> norm (jobs.text_norm)
    gallery_files: dict[tuple[int, ...], SelectionFiles] = field(default_factory=dict)  # ids -> ZIP, grid
    compare_files: tuple[tuple, bytes, bytes] | None = None  # ((run id, wavs), grid, zip)
    sweep_files: tuple[Any, list[bytes], bytes, bytes] | None = None  # (run, grid PNGs, zip, csv): once per sweep
    gallery_code: str | None = None  # where this session's history is kept on disk (studio/gallery_store.py)
    queue_key: str = field(default_factory=lambda: secrets.token_hex(8))  # whose jobs the queue counts (worker.py)
    spectrogram_sources: str | None = None  # the Generate page's mode the Spectrogram page last followed
    painting: Painting = field(default_factory=Painting)  # the Edit page's strokes (one photo's)
    window_for: str | None = None  # the clip (SHA-256) the window start was chosen for: another clip starts at 0
    edit_uploads: dict[str, str] = field(default_factory=dict)  # "photo" | "mask" -> saved: kept off the page
    edit_upload_errors: dict[str, str] = field(default_factory=dict)  # "photo" | "mask" -> why it was not kept
    gallery_delete: tuple[int, ...] = ()  # the images the Gallery's Delete asks to confirm
    knobs_kept: str | None = None  # what studio/knob_memory.py last wrote for this gallery (written on change)
    slider_spans: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # sliders' spans as last drawn (hold_span)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    # -- history ----------------------------------------------------------------------------
    def new_id(self) -> int:
        """The next Gallery number. A session with a gallery on disk takes it from there: another
        tab of that gallery may have given the next one, or a Delete freed the newest."""
        number = next(self._ids)
        if self.gallery_code is not None:
            from studio.gallery_store import next_number

            number = next_number(self.gallery_code, number) or number
            self._ids = itertools.count(number + 1)
        return number

    def add_history(self, item: HistoryItem) -> None:
        if any(h.id == item.id for h in self.history):
            return
        self.history.append(item)
        del self.history[: max(0, len(self.history) - HISTORY_LIMIT)]
        if self.gallery_code is not None:
            from studio.gallery_store import keep

            keep(self.gallery_code, item, HISTORY_LIMIT)

    def restore_history(self, items: list[HistoryItem]) -> None:
        """Images kept on disk for this session's gallery code go first; ids continue after them."""
        self.history = [*items, *self.history][-HISTORY_LIMIT:]
        self._ids = itertools.count(max((h.id for h in self.history), default=0) + 1)

    def compare_kept(self, result: CompareResult) -> bool:
        """Every image of the comparison is in the Gallery now (Keep has nothing left to add)."""
        return all(self.find(result.kept_ids.get(key, 0)) is not None for key in result.items)

    def keep_compare(self, result: CompareResult) -> int:
        """A comparison's images into the Gallery, numbered now (a comparison nobody keeps uses up
        no Gallery numbers); each once while the Gallery holds it: one deleted there, or pushed out
        by newer images, is added again (Keep stayed locked for images the Gallery no longer had).
        Returns how many were added."""
        added = 0
        for key, item in result.items.items():
            if self.find(result.kept_ids.get(key, 0)) is None:
                result.kept_ids[key] = self.new_id()
                self.add_history(dataclasses.replace(item, id=result.kept_ids[key]))
                added += 1
        return added

    def forget(self, ids: set[int]) -> list[Path]:
        """The Gallery's Delete: out of the history and off the disk, so a reload does not bring them
        back (the others keep their numbers). Returns the files the disk refused (gallery_store.forget)."""
        gone = [h.stem for h in self.history if h.id in ids and h.stem]
        self.history[:] = [h for h in self.history if h.id not in ids]
        self.gallery_files.clear()
        if self.render.result is not None and self.render.result.id in ids:
            self.render.result = None  # Generate no longer shows it as its last render
        from studio.gallery_store import forget

        return forget(self.gallery_code, gone) if self.gallery_code and gone else []

    def find(self, item_id: int) -> HistoryItem | None:
        return next((h for h in self.history if h.id == item_id), None)

    def use_current_weights(self) -> None:
        """A callback: the trained checkpoint's weights as its folder holds them now, not those a
        recalled image recorded (a new image, not a reproduction)."""
        self.params = self.params.replace(checkpoint_sha256=None)

    def recall(self, params: GenerationParams, goto: str | None = "generate", about: str | None = None) -> None:
        """Put a past generation's params back into the sliders (a button callback). A PNG names
        its clip without folders: it is looked for among this server's uploads, the samples and the
        operator's audio folders (a trained checkpoint among its runs). `about` is shown with them on Generate: what the
        sliders cannot bring back (an edit's photo) or changed (a preview tile's size)."""
        from core.audio import AudioError
        from core.clips import folders_holding, locate_checkpoint, locate_clip, namesake
        from core.errors import UserError
        from core.params import clip_name
        from core.samples import SAMPLES_DIR
        from core.train.layout import checkpoint_name
        from studio.bindings import push
        from studio.file_access import audio_dirs
        from studio.gallery_store import clips_dir
        from studio.limits import limits
        from studio.training import runs_root
        from studio.uploads import uploads_dir

        places = [uploads_dir(), *([clips_dir(self.gallery_code)] if self.gallery_code else []), SAMPLES_DIR]
        if params.audio_path is not None:  # the operator's audio library (File path): where it holds that name
            places += folders_holding(params.audio_path, audio_dirs())
        self.recall_clip_differs, self.unlocated_clip = False, None
        try:
            params = locate_clip(params, places, hint="choose the clip again")
        except AudioError:  # the Generate page says the recalled clip is not available here
            self.recall_clip_differs = params.audio_path is not None and namesake(params.audio_path, places) is not None
            if params.audio_path is not None:  # its bare name is no path here (bindings.audio_choice)
                self.unlocated_clip = (clip_name(params.audio_path), params.audio_sha256)
        self.recall_missing = []
        try:  # a trained checkpoint is named by its run: among this server's runs
            params = locate_checkpoint(params, [runs_root()], hint="choose the checkpoint folder in the sidebar")
        except UserError:  # the Generate page says so with the rest; generating would fail on it
            self.recall_missing.append(checkpoint_name(params.checkpoint or ""))
        params, self.recall_notes = limits().clamp(params)  # a PNG may ask for 2048² x 500 steps
        push(params)
        self.recalled, self.goto, self.recall_about = params, goto, about

    # -- jobs -------------------------------------------------------------------------------
    def _previews_last_render(self, params: GenerationParams) -> bool:
        """Whether a preview is of the settings the last shown render was made with (only its steps
        and size differ): the same image at preview quality. Gates keeps the render's trace then: a
        Render with a new seed queues that preview too, and it often finishes after the render."""
        if self.last_trace is None or self.last_trace[0] != "render" or self.render.result is None:
            return False
        made = self.render.result.params
        return params.replace(steps=made.steps, width=made.width, height=made.height) == made

    def collect_jobs(self) -> None:
        """Move finished jobs' results into this session (every page, every run)."""
        from studio.errors import describe

        if job := self.render.finished():
            self.render.error = self.render.note = None
            if job.ok:
                item = HistoryItem.of(*job.result, "render", self.new_id())
                self.add_history(item)
                self.render.result, self.render.key = item, job.key
                self.last_trace = ("render", item.id)
            elif job.cancelled:
                self.render.note = f"Render cancelled after {job.step} of {job.total} steps: nothing was kept."
            else:
                self.render.error = describe(job.error)
        if job := self.preview.finished():
            if job.ok:
                self.preview.result = HistoryItem.of(*job.result, "preview", 0)
                self.preview.key, self.preview.error = job.key, None
                if not self._previews_last_render(self.preview.result.params):
                    self.last_trace = ("preview", 0)
            elif not job.cancelled:
                if not self.preview.refused_for_room:  # a full queue is tried again on the next rerun
                    self.preview.key = job.key  # don't retry the same failing params on every rerun
                self.preview.error = describe(job.error)
        if job := self.compare.finished():
            self.compare.error = describe(job.error) if job.error is not None else None
            run: CompareRun | None = job.result
            if run is not None and run.done:
                items = {c.key: HistoryItem.of(r, png, "compare", 0, c.caption) for c, r, png in run.done}
                self.compare.result, self.compare.key = CompareResult(job.id, run, items), job.key
                self.compare_files = None
            if job.cancelled:
                self.compare.note = (
                    f"Comparison cancelled after {len(run.done)} of {len(run.plan.generated)} images."
                    if run is not None
                    else "Comparison cancelled."
                )
            elif job.error is not None and run is not None:  # the images made before it are kept, as a sweep's
                self.compare.note = f"Comparison stopped by the error above after {len(run.done)} of " + (
                    f"{len(run.plan.generated)} images: those are shown below."
                    if run.done
                    else f"{len(run.plan.generated)} images: nothing was kept."
                )
        for name in ("edit", "edit preview"):
            slot = self.edit if name == "edit" else self.edit_preview
            if (job := slot.collect()) is not None and job.ok:
                self.last_trace = (name, 0)
        if job := self.sweep.finished():
            self.sweep.error = describe(job.error) if job.error is not None else None
            asked = job.key  # studio.sweeping.SweepAsked: why it ran without scores stays said with its grid
            self.sweep.note = f"No scores: {asked.no_scorer}" if asked.no_scorer else None
            tiles: SweepRun | None = job.result
            if tiles is not None and tiles.tiles:  # a stopped sweep keeps its tiles, as its Stop button says
                self.sweep.result, self.sweep.key, self.sweep_files = tiles, job.key, None
                from studio.sweeping import new_grid_shown

                new_grid_shown()
            if job.cancelled or (job.error is not None and tiles is not None and tiles.tiles):
                done = len(tiles.tiles) if tiles is not None else 0
                why = "stopped" if job.cancelled else "stopped by the error above"
                total = len(asked.plan)
                stopped = f"Sweep {why} after {done} of {total} tiles" + (
                    f": the grid and the heatmap show the rows it reached; the other {total - done} tiles were "
                    "not made."
                    if done
                    else ": nothing was kept."
                )
                self.sweep.note = stopped + (f"\n\n{self.sweep.note}" if self.sweep.note else "")
        for slot in (self.listen, self.train, self.scores, self.compare_scores):
            slot.collect()


def session() -> Session:
    """This browser session's Session (made on its first run)."""
    state = st.session_state
    if SESSION_KEY not in state:
        from studio.limits import limits

        state[SESSION_KEY] = Session(params=limits().starting_params(env_models()))
    return state[SESSION_KEY]


__all__ = ["JobSlot", "Painting", "Session", "env_models", "session"]
