"""What the Sweep page offers and how it runs: the knobs worth sweeping with sensible values,
the plan from the page's choices, and the job on the engine thread (its CLIP scorer: studio/scoring.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core import SweepError, SweepPlan, parse_axis
from core.knobs import MULTIPLIER_MARK
from core.params import GenerationParams, knobs
from core.score_names import SCORE_LABELS, SCORE_NAMES, SCORE_NEEDS
from studio import bindings, worker
from studio.binding_table import field_label
from studio.jobs import Job
from studio.limits import LimitError, limits
from studio.markdown import escape_md, escape_md_prose

if TYPE_CHECKING:
    from core import Scorer, SweepRun, SweepTile
    from core.engine import Engine

AXES = ("x", "y", "z")
NONE = "—"
# The knobs worth sweeping, each with values that show its range: field (or tuple element) -> values.
SWEEPABLE: dict[str, str] = {
    "level_weights.0": "0.3,0.7,1.2",
    "level_weights.1": "0.2,0.5,0.9",
    "level_weights.2": "0.1,0.3,0.6",
    "norm_target": "30,60,90",
    "audio_strength": "0,0.5,1,1.5",
    "switch_points": "0.2,0.5;0.4,0.7;0.6,0.9",
    "sources": "mix,bands,stems",
    "gate_scales.0": "0,0.5,1",  # off by default (the method's audio speaks in mid and up): a sweep shows why
    "gate_scales.1": "0,0.5,1",
    "gate_scales.2": "0,0.5,1",
    "seed": "0,1,2",
    "guidance": "4,7.5,11",
    "steps": "10,20,30",
}


STARTING: dict[str, Any] = {  # a first sweep that shows something: foreground weight × norm target
    "sweep_x_field": "level_weights.0",
    "sweep_x_values": SWEEPABLE["level_weights.0"],
    "sweep_y_field": "norm_target",
    "sweep_y_values": SWEEPABLE["norm_target"],
    "sweep_z_field": NONE,
    "sweep_z_values": "",
    "sweep_quality": "preview",
    "sweep_scores": True,
    "sweep_score": "heard_similarity",  # applies whenever there is audio (prompt match needs a prompt)
}


def ensure_defaults() -> None:
    """The page's widgets start from STARTING on a session's first visit (and the score picker from
    its default when it holds a score the page no longer offers)."""
    for key, value in STARTING.items():
        if bindings.value(key) is None:
            bindings.set_value(key, value)
    if bindings.value("sweep_score") not in scores_offered():
        bindings.set_value("sweep_score", STARTING["sweep_score"])


def scores_offered() -> list[str]:
    """The scores the page's picker offers: those a sweep run here can have. Reference match needs
    a reference image, which only the CLI takes (--reference), so it is never offered."""
    return [name for name in SCORE_NAMES if name != "reference_match"]


def picker_px(values: Iterable[str]) -> int:
    """A select's width for its longest value (about 8 px a character at the page's font, plus the
    box's padding and arrow), so that no choice reads cut short; within what a column can hold."""
    return min(640, max(200, 64 + 8 * max((len(v) for v in values), default=0)))


def score_label(name: str) -> str:
    """'Heard in the image: similarity' for heard_similarity: the picker's and the heatmap's words."""
    return SCORE_LABELS[name]


def label(field: str) -> str:
    """'Norm target', 'Foreground weight': a field as its Generate widget is labelled (the binding
    table's label, declared once: studio/binding_table.py), less its ' (×)': beside a swept value
    ('Foreground weight: 1.4') and in the axis picker at 1024 px the mark only took room."""
    if field == NONE:
        return "— none —"
    return field_label(field).removesuffix(MULTIPLIER_MARK)


def start_hint() -> str:
    """The line shown before any sweep, fitting the page: which knobs a Run would sweep, or that none is chosen."""
    chosen = [label(f) for a in AXES if (f := bindings.value(field_key(a), NONE)) and f != NONE]
    if not chosen:
        return "Choose a knob for X (and Y, Z if you like), then press **Run**."
    return f"Press **Run** for an image at each value of {' × '.join(chosen)} (or choose other knobs above)."


def values_key(axis: str) -> str:
    return f"sweep_{axis}_values"


def field_key(axis: str) -> str:
    return f"sweep_{axis}_field"


def on_field_change(axis: str) -> None:
    """A newly chosen knob brings its sensible values (the user edits them from there)."""
    field = bindings.value(field_key(axis), NONE)
    bindings.set_value(values_key(axis), SWEEPABLE.get(field, ""))


def plan_from_page(base: GenerationParams) -> SweepPlan:
    """The plan from the page's axis choices; raises SweepError naming a bad axis."""
    axes = []
    for axis in AXES:
        field = bindings.value(field_key(axis), NONE)
        if field and field != NONE:
            values = str(bindings.value(values_key(axis), "") or "")
            if not values.strip():  # the box, not core's FIELD=V1,V2 syntax, is what the page user sees
                raise SweepError("type the values to try, separated by commas", axis, field)
            parsed = parse_axis(axis, f"{field}={values}", base)
            axes.append(dataclasses.replace(parsed, title=label(field)))  # captions in the sliders' words
    return SweepPlan(base, tuple(axes))


def beyond_slider_note(axis: str, base: GenerationParams) -> str | None:
    """The note beside an axis whose values lie beyond the slider's span (`Knob.slider`; the setting's
    own range, checked by the params, still allows them): they are used as typed, and Open in
    Generate widens the slider to show them. None when all lie within it, or the values cannot be
    read yet (Run says why)."""
    field = bindings.value(field_key(axis), NONE)
    values = str(bindings.value(values_key(axis), "") or "")
    if not field or field == NONE or not values.strip():
        return None
    try:
        outside = parse_axis(axis, f"{field}={values}", base).beyond_slider()
    except SweepError:
        return None
    if not outside:
        return None
    lo, hi = knobs()[field.split(".")[0]].slider
    one = len(outside) == 1
    return (
        f"{escape_md(', '.join(outside))} {'is' if one else 'are'} beyond the slider's {lo:g}–{hi:g}: used as "
        f"typed, and Open in Generate widens the slider to show {'it' if one else 'them'}."
    )


def _subject(axis: str, field: str, value: str | None) -> str:
    name = label(field) if field.split(".")[0] in knobs() else field
    return f"{axis.upper()} · {name}" + (f" = {value}" if value is not None else "")


def worded(exc: SweepError) -> str:
    """A sweep error in the page's words: 'X · Foreground weight: 'abc' is not a number', not the
    command line's '--x level_weights.0: ...'. Markdown, every typed value escaped: the values come from
    the page, or from the gallery's knobs.json, which anyone with the gallery's link can write."""
    return escape_md_prose(exc.worded(_subject, lambda axis: f"the {axis.upper()} axis"))


def over_limits_problem(plan: SweepPlan) -> str | None:
    """What in the sweep's tiles is beyond this studio's limits (an axis of steps or sizes), or None."""
    for position in plan.positions():
        if problems := limits().problems(plan.params_at(*position)):
            return f"**Server limit**: in a tile, {'; '.join(problems)}: choose smaller axis values."
    return None


@dataclass(frozen=True)
class SweepAsked:
    """What a sweep job was asked for (its slot's key): the plan, which says how many tiles even when
    none was made, the Generate settings a preview-quality sweep was drawn down from, and why it runs
    without scores when the CLIP scorer could not be loaded (Markdown, set by the job when it tried; None:
    scores on, or off by choice)."""

    plan: SweepPlan
    drawn_from: GenerationParams | None = None
    no_scorer: str | None = None
    page: dict[str, Any] = dataclasses.field(default_factory=dict)  # the page's axes and choices at Run


def show_sweep(asked: SweepAsked) -> None:
    """The pages as they were for the sweep `asked` (one a reloaded page took over): Generate's
    knobs at full quality (a preview-quality sweep's tiles are drawn down from them), its axes."""
    bindings.push(asked.drawn_from or asked.plan.base)
    for key, value in asked.page.items():
        bindings.set_value(key, value)


def tiles_at(run: SweepRun, z: int) -> list[SweepTile]:
    """The tiles made for Z index `z`, in reading order: the tile picker's list."""
    return [t for t in run.tiles if t.z == z]


def missing_tiles(run: SweepRun, z: int) -> str | None:
    """Why Z index `z` has no tile at all (a sweep stopped, or failed, before it), or None."""
    if tiles_at(run, z):
        return None
    z_axis = run.plan.axis("z")
    where = f" for {z_axis.title or z_axis.field} = {z_axis.shown(z)}" if z_axis is not None else ""
    why = "stopped by an error" if run.error is not None else "stopped"
    return f"No tiles were made{where}: the sweep was {why} before them."


def files(run: SweepRun) -> tuple[list[bytes], bytes, bytes]:
    """The sweep's grid PNGs, ZIP and CSV (`core.sweep.sweep_files`), built once per finished sweep
    and kept in the session: every rerun of the page (a slider, a picker) paid 1.2 s for 256 tiles."""
    from core import sweep_files
    from studio.session import session

    s = session()
    if s.sweep_files is None or s.sweep_files[0] is not run:
        s.sweep_files = (run, *sweep_files(run))
    return s.sweep_files[1], s.sweep_files[2], s.sweep_files[3]


def heatmap_gap(run: SweepRun, score: str, z: int, asked: SweepAsked | None = None) -> str | None:
    """Why the heatmap of `score` at Z index `z` would have no value, said as it is (no tile there,
    no scores in this sweep, or a score that needs what these tiles lack), or None when it has one."""
    tiles = tiles_at(run, z)
    if not tiles:
        return missing_tiles(run, z)
    if all(t.scores is None for t in tiles):
        if asked is not None and asked.no_scorer:
            return f"No scores in this sweep: {asked.no_scorer}"
        return "No scores in this sweep: it ran with Scores (CLIP) off. Turn them on and run it again."
    if all(getattr(t.scores, score) is None for t in tiles if t.scores is not None):
        return f"{score_label(score)} does not apply to these tiles: it needs {SCORE_NEEDS[score]}."
    return None


TILE_KEY, Z_KEY = "sweep_tile", "sweep_z_shown"  # the page's tile picker and grid slider (by index)


def new_grid_shown() -> None:
    """A new sweep's grid starts at its first tile and grid: the pickers hold indices, and the old
    grid's index would name another tile under a stale label."""
    for key in (TILE_KEY, Z_KEY):
        bindings.set_value(key, 0)


def recall_tile(run: SweepRun, z: int, full: GenerationParams | None = None) -> None:
    """Button callback: the tile chosen in the page's selectbox *now* (read when the click arrives,
    not when the button was drawn) back into Generate's sliders. A preview-quality sweep's tile
    keeps `full`'s steps and size (the Generate settings it was drawn down from), unless swept, and
    says so: Render then draws the tile at full quality."""
    from studio.session import session

    tiles = tiles_at(run, z)
    index = int(bindings.value(TILE_KEY) or 0)
    if not 0 <= index < len(tiles):
        return
    tile = tiles[index].result.params
    swept = {a.base_field for a in run.plan.axes}
    keep = {f: getattr(full, f) for f in ("steps", "width", "height") if full is not None and f not in swept}
    params, about = tile.replace(**keep), None
    if params != tile:
        about = (
            f"This tile was drawn at preview quality ({tile.steps} steps, {tile.width}×{tile.height}): the sliders "
            f"keep Generate's {params.steps} steps and {params.width}×{params.height}, so Render draws it at full "
            "quality (a picture like the tile, not the same pixels)."
        )
    session().recall(params, about=about)


def sweep_job(
    engine: Engine,
    plan: SweepPlan,
    scorer: Scorer | None,
    drawn_from: GenerationParams | None = None,
    scores: bool = False,
) -> Job:
    """The sweep on the engine thread (batch work: previews go first, after each image); each finished
    tile lands in `job.partial` as (caption, PNG). `scores` with no `scorer`: the task loads CLIP
    (studio/scoring.py says why there); one that cannot load runs the sweep unscored, and its key says why."""
    from core import ModelUnavailable
    from core.sweep import run_sweep, sweep_steps
    from studio.scoring import load_scorer

    def task(job: Job) -> SweepRun:
        if problem := over_limits_problem(plan):  # checked in the worker too: never a tile beyond them
            raise LimitError(problem)
        clip = scorer
        if clip is None and scores:
            try:
                clip = load_scorer(engine, job)
            except ModelUnavailable as exc:  # the tiles are still worth making: said with the grid
                job.key = dataclasses.replace(job.key, no_scorer=escape_md_prose(exc))
                job.total = sweep_steps(plan, scored=False)

        def on_tile(tile) -> None:  # every axis named, Z too: the tiles of all Z values are shown together
            job.partial.append((" · ".join(tile.labels.values()), tile.png))

        run = run_sweep(
            engine, plan, clip, cancel=job.cancel, progress=job.on_progress, on_status=job.on_status,
            on_tile=on_tile, between_images=worker.yield_to_interactive,
        )  # fmt: skip
        job.cancelled = run.cancelled
        if run.error is not None:  # a tile failed: the job fails with it, and keeps the tiles done to show
            job.result = run
            raise run.error
        return run

    scored = scorer is not None or scores
    job = Job("sweep", task, total=sweep_steps(plan, scored=scored))  # a Steps axis: each tile's own
    job.params = plan.base
    job.key = SweepAsked(plan, drawn_from, page={key: bindings.value(key) for key in STARTING})
    return job.start()


__all__ = ["AXES", "NONE", "STARTING", "SWEEPABLE", "SweepAsked", "beyond_slider_note", "start_hint", "show_sweep", "ensure_defaults", "files", "heatmap_gap", "missing_tiles", "tiles_at", "score_label", "scores_offered", "field_key", "label", "on_field_change", "plan_from_page", "worded", "TILE_KEY", "Z_KEY", "new_grid_shown", "recall_tile",
           "sweep_job", "values_key"]  # fmt: skip
