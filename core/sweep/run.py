"""Running a sweep: every tile of an X/Y/Z grid on one engine, scored as it finishes.

Shared work is done once, by the engine's own caches: each clip is decoded, separated and heard
once per listening setting, each prompt encoded once. A strength-0 twin (the audio-effect score's
reference) is generated once per distinct twin image, not per tile: tiles that differ only in what
the audio branch uses (a sweep over the hierarchy weights, the clip, the sources) share one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cancel import Cancelled
from ..events import Phase, ProgressCallback, StatusCallback, ignore
from ..export import extra_from_result, png_bytes
from ..listening import LISTENING_FIELDS
from ..params import GenerationParams
from .plan import SweepPlan

if TYPE_CHECKING:
    from PIL import Image

    from ..engine import Engine
    from ..scoring import Scorer, Scores
    from ..trace import GenerationResult, HeardLabel


@dataclass
class SweepTile:
    z: int
    y: int
    x: int
    labels: dict[str, str]
    result: GenerationResult
    png: bytes  # the PNG with its params: `params` / `generate --from` read it back
    scores: Scores | None = None


@dataclass
class SweepRun:
    """The tiles done, in reading order: all of them, or those before a cancel or a failing tile."""

    plan: SweepPlan
    tiles: list[SweepTile] = field(default_factory=list)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    error: Exception | None = None  # what stopped the run at a tile: its caller says it, with the tiles done
    scored_by: str = ""  # the CLIP that scored the tiles (`Scorer.name`); "" when unscored

    def rows_at(self, z: int) -> list[int]:
        """The Y indices with at least one tile at Z index `z`, in order: what a stopped sweep's grid
        and heatmap show (11 tiles of a 16×16 sweep drew 245 empty places and a tall empty heatmap)."""
        return sorted({t.y for t in self.tiles if t.z == z})


def run_sweep(
    engine: Engine,
    plan: SweepPlan,
    scorer: Scorer | None = None,
    reference: Image.Image | None = None,
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    on_status: StatusCallback | None = None,
    on_tile: Callable[[SweepTile], None] | None = None,
    between_images: Callable[[], object] | None = None,
) -> SweepRun:
    """Generate every tile (reading order), scoring each when a scorer is given. A cancel, or an
    error in a tile (kept in `run.error`: the caller raises or shows it), keeps the tiles done:
    a long sweep is not lost to its last tile; one stopped while it is scored (its twin, the scorer)
    is kept too, without scores. `on_tile` hears each one as it finishes. `between_images` is called after every
    image made (a tile, or its no-audio twin for the scores): where a studio lets waiting
    interactive work run, so a preview never waits for a whole scored tile."""
    status = on_status or ignore
    pause = between_images or (lambda: None)
    run = SweepRun(plan, scored_by=scorer.name if scorer is not None else "")
    twins: dict[GenerationParams, Image.Image] = {}
    total, done = sweep_steps(plan, scored=scorer is not None), 0
    try:
        for n, (z, y, x) in enumerate(plan.positions(), 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("sweep cancelled")
            params, labels = plan.params_at(z, y, x), plan.labels_at(z, y, x)
            named = f"{n}/{len(plan)} " + " · ".join(labels.values())
            status(Phase(named, done, total))
            result = engine.generate(params, progress=progress, cancel=cancel, on_status=status)
            done += params.steps
            pause()
            scores, stopped = None, None
            if scorer is not None:
                try:
                    twin = None
                    if needs_twin(params):  # once per distinct twin image, counted in `total` alike
                        key = twin_key(params)
                        if key not in twins:
                            status(Phase(f"{named} · without audio (for the scores)", done, total))
                            twins[key] = no_audio_twin(engine, result.params, result.image, progress, cancel)
                            done += params.steps
                            pause()
                        twin = twins[key]
                    else:  # a strength-0 tile is its own twin (no effect); without a clip, none
                        twin = no_audio_twin(engine, result.params, result.image)
                    scores = _score(engine, scorer, result, twin, reference)
                except Exception as exc:  # noqa: BLE001 - a cancel or a scorer error: the tile made is kept, unscored
                    stopped = exc
            tile = SweepTile(
                z, y, x, labels, result, png_bytes(result.image, result.params, extra_from_result(result)), scores
            )
            run.tiles.append(tile)
            if on_tile is not None:
                on_tile(tile)
            if stopped is not None:
                raise stopped
    except Cancelled:
        run.cancelled = True
    except Exception as exc:  # noqa: BLE001 - any failure: kept with the tiles done, for the caller to say
        run.error = exc
    return run


def _score(
    engine: Engine, scorer: Scorer, result: GenerationResult, twin: Image.Image | None, reference: Image.Image | None
) -> Scores:
    return scorer.score(
        result.image,
        prompt=result.params.prompt,
        heard=heard_overall(result.trace.heard),
        vocabulary=engine.vocabulary,
        twin=twin,
        reference=reference,
    )


# What a strength-0 image cannot depend on: at strength 0 every adapter skips its audio branch and
# is the plain text path bit for bit (tests/test_attention_exact.py), so what is heard and how it is
# weighted, split, gated and scheduled never reaches the pixels. A field not named here keeps twins
# apart: a new knob can cost an extra twin, never share a wrong one.
AUDIO_ONLY_FIELDS: tuple[str, ...] = (
    *LISTENING_FIELDS,
    *("audio_path", "audio_sha256", "gate_scales", "norm_target", "norm_measure", "split", "level_weights"),
    *("switch_points", "switch_style", "crossfade"),
)
_DEFAULTS = GenerationParams()


def twin_key(params: GenerationParams) -> GenerationParams:
    """What identifies a tile's strength-0 twin image: its params at strength 0, audio-only fields
    at their defaults."""
    return dataclasses.replace(
        params, audio_strength=0.0, **{name: getattr(_DEFAULTS, name) for name in AUDIO_ONLY_FIELDS}
    )


def needs_twin(params: GenerationParams) -> bool:
    """Whether a scored tile's audio-effect score needs a strength-0 twin generated (a strength-0 tile
    is its own)."""
    return params.audio_path is not None and params.audio_strength != 0


def no_audio_twin(
    engine: Engine,
    params: GenerationParams,
    image: Image.Image,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_status: StatusCallback | None = None,
) -> Image.Image | None:
    """What an image's audio-effect scores compare it with: the same generation at audio strength 0,
    generated like any (progress, cancel), or the image itself when it already is one; None without
    a clip (no audio effect to measure)."""
    if params.audio_path is None:
        return None
    if not needs_twin(params):
        return image
    return engine.generate(
        params.replace(audio_strength=0.0), progress=progress, cancel=cancel, on_status=on_status
    ).image


def sweep_steps(plan: SweepPlan, scored: bool = False) -> int:
    """Every denoising step a sweep takes: each tile's own steps (a Steps axis makes them differ) and,
    when scored, each distinct strength-0 twin's. What its progress counts to, never past."""
    tiles = [plan.params_at(*at) for at in plan.positions()]
    twins = {twin_key(p): p.steps for p in tiles if scored and needs_twin(p)}
    return sum(p.steps for p in tiles) + sum(twins.values())


def heard_overall(heard: dict[str, list[HeardLabel]]) -> list[HeardLabel] | None:
    """What CLAP heard in the whole clip: the mix's labels, or every level's merged (weights
    averaged over the levels) when the levels were heard separately."""
    if not heard:
        return None
    if "mix" in heard:
        return heard["mix"]
    merged: dict[str, HeardLabel] = {}
    for labels in heard.values():
        for h in labels:
            w = h.weight / len(heard) + (merged[h.label].weight if h.label in merged else 0.0)
            merged[h.label] = dataclasses.replace(h, weight=w)
    return sorted(merged.values(), key=lambda h: -h.weight) or None


__all__ = [
    "AUDIO_ONLY_FIELDS",
    "SweepPlan",
    "SweepRun",
    "SweepTile",
    "heard_overall",
    "needs_twin",
    "no_audio_twin",
    "run_sweep",
    "sweep_steps",
    "twin_key",
]
