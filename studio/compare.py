"""The Compare page's plan and what it shows: the same seed and prompt, changed only through
GenerationParams (the source mode, the switch points that let one level speak alone, strength 0
for the no-audio reference), plus a view of every part each source mode hears.

Nothing here computes on audio or images: `plan` only builds params, `mode_view` calls core
(engine.listen / hear_parts, core.sources, core.spectrum) on the engine thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.params import LEVELS, GenerationParams

# Display order of the source modes (columns of the comparison).
MODES: dict[str, str] = {"mix": "Mixed", "stems": "Demucs stems", "bands": "Frequency bands"}
MODE_HELP: dict[str, str] = {
    "mix": "The seed's method: one clip, CLAP's 77 tokens split by position",
    "stems": "Demucs separates drums / bass / other / vocals; the stem map routes them to levels",
    "bands": "A crossover splits low / mid / high frequencies into ambience / background / foreground",
}
# Switch points that make one level condition every step (see core.schedule.level_schedule:
# ambience while step < p1·N, background while step < p2·N, foreground after).
ALONE_SWITCH = {"foreground": (0.0, 0.0), "background": (0.0, 1.0), "ambience": (1.0, 1.0)}
NO_AUDIO = "no_audio"
LEVEL_SHORT = {"foreground": "fg", "background": "bg", "ambience": "amb"}


def level_origin(params: GenerationParams, level: str) -> str:
    """What a level hears, for captions: token positions, a band, or the stems mapped to it."""
    if params.sources == "bands":
        lo, hi = params.crossovers
        return {"ambience": f"< {lo:g} Hz", "background": f"{lo:g}–{hi:g} Hz", "foreground": f"> {hi:g} Hz"}[level]
    if params.sources == "stems":
        stems = [s for s, lv in params.stem_map if lv == level]
        return "+".join(stems) or "no stem"
    fg, bg, amb = params.split
    return {
        "foreground": f"tokens 1–{fg}",
        "background": f"tokens {fg + 1}–{fg + bg}",
        "ambience": f"tokens {fg + bg + 1}–77",
    }[level]


def mode_caption(params: GenerationParams) -> str:
    """'Demucs stems · vocals→fg, drums+other→bg, bass→amb' and the like."""
    mode = params.sources
    if mode == "mix":
        detail = "positional split " + "|".join(str(n) for n in params.split)
    elif mode == "bands":
        detail = " / ".join(f"{f:g}" for f in params.crossovers) + " Hz"
    else:
        detail = ", ".join(f"{level_origin(params, lv)}→{LEVEL_SHORT[lv]}" for lv in LEVELS)
    return f"{MODES[mode]} · {detail}"


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


# ================================================================================================
# The exported grid
# ================================================================================================
GRID_MIN_TILE = 256  # px: smaller images are enlarged (nearest neighbour, whole factors) in the grid
# Pillow's default font has no glyph for these: the grid writes them the ASCII way.
_GRID_ASCII = str.maketrans({"×": "x", "→": "->", "←": "<-", "–": "-", "—": "-", "≤": "<=", "≥": ">="})


def grid_text(text: str) -> str:
    """A caption or title as the grid's font can draw it."""
    return text.translate(_GRID_ASCII)


def grid_tile(image: Any) -> Any:
    """An image as a grid tile: small previews are enlarged by a whole factor (pixels kept exact),
    so that the captions under them have room; the PNGs in the ZIP keep their own size."""
    from PIL import Image

    side = max(image.size)
    factor = -(-GRID_MIN_TILE // side) if side < GRID_MIN_TILE else 1
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


@dataclass(frozen=True)
class Availability:
    """Which levels a source mode can condition on this clip (from engine.listen)."""

    present: frozenset[str]
    skipped: frozenset[str] = frozenset()  # near-silent: reported, not conditioned


def availability(listening: Any) -> Availability:
    """Mix: all three levels (positional split). Bands/stems: the levels with their own tokens."""
    if not listening.raw_tokens:
        return Availability(frozenset())
    if not listening.per_source:
        return Availability(frozenset(LEVELS))
    return Availability(frozenset(listening.raw_tokens), frozenset(listening.skipped_levels))


def ordered_modes(modes: Sequence[str]) -> list[str]:
    return [m for m in MODES if m in modes]


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
    if alone:
        for level in LEVELS:
            title = f"{level.capitalize()} alone"
            cells: list[Cell] = []
            if without:
                cells.append(Cell(f"{NO_AUDIO}_{level}", f"{title} →", None))
            for mode in modes:
                p = params.replace(sources=mode, switch_points=ALONE_SWITCH[level], switch_style="hard")
                key = f"{mode}_{level}"
                caption = f"{MODES[mode]} · {level} alone ({level_origin(p, level)})"
                av = available.get(mode)
                if av is not None and level not in av.present:
                    why = (
                        "near-silent in this clip"
                        if level in av.skipped
                        else "no stem mapped to it"
                        if mode == "stems"
                        else "no source"
                    )
                    cells.append(
                        Cell(key, f"{MODES[mode]} · {level} alone: {why}, not generated", None, mode=mode, level=level)
                    )
                else:
                    cells.append(Cell(key, caption, p, mode=mode, level=level))
            rows.append((title, tuple(cells)))
    head = params.prompt.strip() or "(no prompt)"
    audio = f" · {audio_label}" if audio_label else ""
    title = f"{head}{audio} · seed {params.seed} · {params.width}×{params.height}, {params.steps} steps"
    return Plan(tuple(rows), title)


# ================================================================================================
# What each source mode hears (players, spectrograms, CLAP labels)
# ================================================================================================
@dataclass
class PartView:
    name: str  # "mix", "low", "drums", ...
    level: str | None  # the level it feeds (None: mix mode, all levels by token position)
    db: float | None  # RMS relative to the window's mix
    mel: Any  # core.spectrum.MelSpectrogram on the mode's shared dB scale
    player: bytes  # mono 16-bit WAV for st.audio
    heard: list = field(default_factory=list)  # [HeardLabel] (zero-shot only)


@dataclass
class ModeView:
    mode: str
    sources: Any  # core.sources.LevelSources (kept for the WAV downloads)
    parts: list[PartView]
    skipped: list[str]  # near-silent levels
    unfed: list[str]  # levels no part is routed to
    start: float
    end: float
    heard_levels: dict[str, list] = field(default_factory=dict)  # what conditions each level

    def wav_prefix(self) -> str:
        return "" if self.mode == "mix" else self.mode


def mode_view(
    engine: Any, params: GenerationParams, max_frames: int = 300, cancel: Any = None, on_status: Any = None
) -> ModeView:
    """Listen to `params.sources` (cached by the engine) and gather what the pages draw for each part.
    Runs on the engine thread (it calls the models)."""
    from core.events import Stage
    from core.sources import player_wav_bytes, window_mix
    from core.spectrum import shared_spectrograms

    listening = engine.listen(params, cancel=cancel, on_status=on_status)
    clip = listening.clip
    if clip is None:
        raise ValueError("no audio chosen")
    sources = listening.sources
    heard = engine.hear_parts(params) if params.mode == "zero-shot" else {}
    if on_status:
        on_status(Stage("spectrograms", "Drawing spectrograms"))
    mels = shared_spectrograms(
        sources.parts, sources.sample_rate, reference=window_mix(clip, sources), max_frames=max_frames
    )
    parts = [
        PartView(
            name,
            sources.part_levels.get(name),
            sources.part_db.get(name),
            mels[name],
            player_wav_bytes(sources, name),
            list(heard.get(name, [])),
        )
        for name in sources.parts
    ]
    fed = set(sources.part_levels.values())
    unfed = [lv for lv in LEVELS if sources.mode != "mix" and lv not in fed]
    return ModeView(
        params.sources,
        sources,
        parts,
        list(sources.silent_levels),
        unfed,
        float(sources.start),
        float(sources.start) + float(sources.duration),
        dict(listening.heard) if listening.per_source else {},
    )


@dataclass
class CompareRun:
    """What a compare job returns: the plan, the generations done, and the per-mode views."""

    plan: Plan
    done: list[tuple[Cell, Any, bytes]]  # (cell, GenerationResult, png)
    views: dict[str, ModeView]
    notes: list[str] = field(default_factory=list)  # source modes left out, and why
