"""A comparison: the same seed and prompt with each source mode side by side, and each level alone.

Everything changes only through GenerationParams: the source mode, the switch points that let one
level speak alone (schedule.SOLO_SWITCH_POINTS), strength 0 for the no-audio reference. Three
parts, used alike by the Compare page and `python -m core compare`:

- `plan`         which images, in which grid cell (pure parameter logic)
- `run_compare`  listen to every mode, plan, generate every cell, gather each mode's parts
- `compare_files` / `save_compare`  one captioned grid PNG (every tile's params inside) and a ZIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from .cancel import Cancelled
from .events import Phase, ProgressCallback, StatusCallback, ignore
from .export import atomic_write, extra_from_result, grid_png_bytes, png_bytes, zip_bytes
from .params import LEVELS, GenerationParams, knobs
from .schedule import SOLO_SWITCH_POINTS
from .separation import SeparationError
from .sources import level_origin, parts_wav_items

if TYPE_CHECKING:
    from .engine import Engine
    from .listening import Listening
    from .parts import ModeView
    from .trace import GenerationResult

COMPARE_MODES: tuple[str, ...] = ("mix", "stems", "bands")  # the columns, in display order
NO_AUDIO = "no_audio"
LEVEL_SHORT = {"foreground": "fg", "background": "bg", "ambience": "amb"}
GRID_FILE, ZIP_FILE = "clap2diff_compare.png", "clap2diff_compare.zip"  # what the page and the CLI write
GRID_IN_ZIP = "comparison_grid.png"


def mode_label(mode: str) -> str:
    """'Mixed', 'Demucs stems', 'Frequency bands': the sources knob's own names."""
    return knobs()["sources"].choice_label(mode)


def mode_about(mode: str) -> str:
    return knobs()["sources"].choice_about(mode)


def mode_caption(params: GenerationParams) -> str:
    """'Demucs stems · vocals→fg, drums+other→bg, bass→amb' and the like."""
    mode = params.sources
    if mode == "mix":
        detail = "positional split " + "|".join(str(n) for n in params.split)
    elif mode == "bands":
        detail = " / ".join(f"{f:g}" for f in params.crossovers) + " Hz"
    else:
        detail = ", ".join(f"{level_origin(params, lv)}→{LEVEL_SHORT[lv]}" for lv in LEVELS)
    return f"{mode_label(mode)} · {detail}"


# ================================================================================================
# The plan: which images, in which grid cell
# ================================================================================================
@dataclass(frozen=True)
class Cell:
    """One tile of the comparison. `params` is None when there is nothing to generate there (a
    level with no audible source, or the empty corner under "without audio"); `caption` says why."""

    key: str  # "mix", "stems", "no_audio", "stems_foreground", ... (widget keys, file names)
    caption: str
    params: GenerationParams | None
    mode: str | None = None  # None: the no-audio reference or a padding cell
    level: str | None = None  # the level alone, in the level rows


@dataclass(frozen=True)
class Plan:
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (row title, cells); every row `columns` wide
    title: str

    @property
    def columns(self) -> int:
        return max((len(cells) for _, cells in self.rows), default=1)

    @property
    def cells(self) -> list[Cell]:
        """Row-major: the grid's tile order."""
        return [c for _, cells in self.rows for c in cells]

    @property
    def generated(self) -> list[Cell]:
        return [c for c in self.cells if c.params is not None]


@dataclass(frozen=True)
class Availability:
    """Which levels a source mode can condition on this clip (from engine.listen)."""

    present: frozenset[str]
    skipped: frozenset[str] = frozenset()  # near-silent: reported, not conditioned


def availability(listening: Listening) -> Availability:
    """Mix: all three levels (positional split). Bands/stems: the levels with their own tokens."""
    if not listening.raw_tokens:
        return Availability(frozenset())
    if not listening.per_source:
        return Availability(frozenset(LEVELS))
    return Availability(frozenset(listening.raw_tokens), frozenset(listening.skipped_levels))


def ordered_modes(modes: Sequence[str]) -> list[str]:
    return [m for m in COMPARE_MODES if m in modes]


def plan(
    params: GenerationParams,
    modes: Sequence[str],
    alone: bool = True,
    without: bool = True,
    available: Mapping[str, Availability] | None = None,
    audio_label: str = "",
) -> Plan:
    """The comparison for `params`: a row with every chosen source mode (and the no-audio
    reference), then, with `alone`, one row per level where that level conditions every step.
    A level with no audible source in a mode (`available`) gets a captioned empty cell."""
    modes = ordered_modes(modes)
    available = available or {}
    first: list[Cell] = []
    if without:
        # Strength 0 skips the audio branch: the image is the same for any source mode, so it
        # uses "mix" (no separation needed).
        first.append(Cell(NO_AUDIO, "Without audio (strength 0)", params.replace(audio_strength=0.0, sources="mix")))
    for mode in modes:
        p = params.replace(sources=mode)
        first.append(Cell(mode, mode_caption(p), p, mode=mode))
    rows: list[tuple[str, tuple[Cell, ...]]] = [("All levels together", tuple(first))]
    for level in LEVELS if alone else ():
        title = f"{level.capitalize()} alone"
        cells: list[Cell] = [Cell(f"{NO_AUDIO}_{level}", f"{title} →", None)] if without else []
        for mode in modes:
            p = params.replace(sources=mode, switch_points=SOLO_SWITCH_POINTS[level], switch_style="hard")
            key, av = f"{mode}_{level}", available.get(mode)
            if av is not None and level not in av.present:
                why = (
                    "near-silent in this clip"
                    if level in av.skipped
                    else "no stem mapped to it"
                    if mode == "stems"
                    else "no source"
                )
                caption = f"{mode_label(mode)} · {level} alone: {why}, not generated"
                cells.append(Cell(key, caption, None, mode=mode, level=level))
            else:
                caption = f"{mode_label(mode)} · {level} alone ({level_origin(p, level)})"
                cells.append(Cell(key, caption, p, mode=mode, level=level))
        rows.append((title, tuple(cells)))
    head = params.prompt.strip() or "(no prompt)"
    audio = f" · {audio_label}" if audio_label else ""
    title = f"{head}{audio} · seed {params.seed} · {params.width}×{params.height}, {params.steps} steps"
    return Plan(tuple(rows), title)


# ================================================================================================
# The run
# ================================================================================================
@dataclass
class CompareRun:
    """A comparison's outcome: the plan, the generations done, and each mode's parts."""

    plan: Plan
    done: list[tuple[Cell, GenerationResult, bytes]]  # (cell, result, PNG with its params)
    views: dict[str, ModeView]
    notes: list[str] = field(default_factory=list)  # source modes left out, and why
    cancelled: bool = False  # stopped after `done`: what is done is kept
    error: Exception | None = None  # what stopped it after `done` (kept, as a cancel keeps them): its caller says it


def run_compare(
    engine: Engine,
    params: GenerationParams,
    modes: Sequence[str],
    *,
    alone: bool = True,
    without: bool = True,
    audio_label: str = "",
    max_frames: int = 300,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    on_status: StatusCallback | None = None,
    on_tile: Callable[[Cell, bytes], None] | None = None,
    between_parts: Callable[[], object] | None = None,
) -> CompareRun:
    """Listen to every chosen source mode (a mode whose separation cannot run is left out, with a
    note), plan the grid, generate every cell with the same seed and prompt, then gather each mode's
    parts. `on_status` hears a `Phase` per part of the run besides the engine's events.

    A cancel while listening raises Cancelled (nothing to keep); later it returns what is done, and so
    does an error (an image out of memory, a mode's parts failing), kept in `run.error` for the caller.
    `on_tile(cell, png)` hears each image as soon as it is made; `between_parts()` is called after
    each mode listened to, each image and each mode's parts (the studio runs waiting previews there)."""
    from .parts import mode_view  # scipy's filters (0.8 s): loaded when a comparison runs, not by the CLI's checks

    status = on_status or ignore
    between = between_parts or (lambda: None)
    available: dict[str, Availability] = {}
    notes: list[str] = []
    for mode in ordered_modes(modes):
        status(Phase(f"Listening · {mode_label(mode)}"))
        try:
            available[mode] = availability(engine.listen(params.replace(sources=mode), cancel=cancel, on_status=status))
        except SeparationError as exc:  # e.g. no Demucs weights offline: compare the other modes
            notes.append(f"{mode_label(mode)} left out: {exc}")
        between()
    if not available:
        raise SeparationError(notes[0] if len(notes) == 1 else " ".join(notes))
    the_plan = plan(params, list(available), alone, without, available, audio_label)
    cells = the_plan.generated
    total, done = sum(c.params.steps for c in cells), 0
    run = CompareRun(the_plan, [], {}, notes)
    try:
        for n, cell in enumerate(cells, 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("comparison cancelled")
            status(Phase(f"{n}/{len(cells)} {cell.caption}", done, total))
            result = engine.generate(cell.params, progress=progress, cancel=cancel, on_status=status)
            png = png_bytes(result.image, result.params, extra_from_result(result))
            run.done.append((cell, result, png))
            if on_tile is not None:  # a page shows each tile as it finishes, not all at the end
                on_tile(cell, png)
            done += cell.params.steps
            between()
        for mode in available:
            status(Phase(f"Parts · {mode_label(mode)}", done, total))
            run.views[mode] = mode_view(engine, params.replace(sources=mode), max_frames, cancel, status)
            between()
    except Cancelled:
        run.cancelled = True
    except Exception as exc:  # noqa: BLE001 - any failure: kept with the images done, for the caller to say
        run.error = exc
    return run


# ================================================================================================
# The files: one captioned grid with every tile's params, and a ZIP
# ================================================================================================
GRID_MIN_TILE = 256  # px: smaller images are enlarged (nearest neighbour, whole factors) in the grid
# Pillow's default font has no glyph for these: the grid writes them the ASCII way.
_GRID_ASCII = str.maketrans({"×": "x", "→": "->", "←": "<-", "–": "-", "—": "-", "≤": "<=", "≥": ">="})


def grid_text(text: str) -> str:
    """A caption or title as any grid font can draw it."""
    return text.translate(_GRID_ASCII)


def grid_tile(image: Image.Image) -> Image.Image:
    """An image as a grid tile: small previews are enlarged by a whole factor (pixels kept exact),
    so that the captions under them have room; the PNGs in the ZIP keep their own size."""
    side = max(image.size)
    factor = -(-GRID_MIN_TILE // side) if side < GRID_MIN_TILE else 1
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def compare_files(run: CompareRun, with_wavs: bool = False) -> tuple[bytes, bytes]:
    """(grid PNG, ZIP): the grid has a tile per cell (an empty one keeps its place, its caption
    says why) and every tile's params in its metadata; the ZIP holds every image as a PNG with its
    params, the grid, a params.json manifest and, `with_wavs`, every separated part as a WAV."""
    done = {cell.key: (result, png) for cell, result, png in run.done}
    if not done:
        raise ValueError("nothing was generated: there is no comparison to export")
    size = grid_tile(next(iter(done.values()))[0].image).size
    images, captions, params_list = [], [], []
    for cell in run.plan.cells:
        if cell.key in done:
            result = done[cell.key][0]
            images.append(grid_tile(result.image))
            params_list.append(result.params)
            captions.append(grid_text(cell.caption))
        else:  # an empty tile keeps the grid's rows and columns
            images.append(Image.new("RGB", size, (236, 238, 242)))
            params_list.append(None)
            captions.append(grid_text(cell.caption if cell.params is None else f"{cell.caption}: not generated"))
    grid = grid_png_bytes(images, captions, params_list, title=grid_text(run.plan.title), columns=run.plan.columns)
    made = [c for c in run.plan.cells if c.key in done]  # numbered 01, 02, ... in grid order, no gaps
    files = [(f"{i:02d}_{c.key}.png", done[c.key][1]) for i, c in enumerate(made, 1)]
    files.append((GRID_IN_ZIP, grid))
    if with_wavs:
        for view in run.views.values():
            files.extend(parts_wav_items(view.sources, prefix=view.wav_prefix()))
    return grid, zip_bytes(files)


def save_compare(run: CompareRun, folder: str | Path, with_wavs: bool = False) -> tuple[Path, Path]:
    """compare_files written into `folder` as GRID_FILE and ZIP_FILE (atomically)."""
    grid, archive = compare_files(run, with_wavs)
    folder = Path(folder)
    return atomic_write(folder / GRID_FILE, grid), atomic_write(folder / ZIP_FILE, archive)


__all__ = [
    "Availability",
    "Cell",
    "CompareRun",
    "COMPARE_MODES",
    "NO_AUDIO",
    "Plan",
    "availability",
    "compare_files",
    "grid_text",
    "grid_tile",
    "mode_about",
    "mode_caption",
    "mode_label",
    "ordered_modes",
    "plan",
    "run_compare",
    "save_compare",
]
