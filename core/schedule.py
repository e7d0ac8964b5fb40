"""Which hierarchy level conditions each denoising step.

Seed 000 ("timestep_aware_generation") counts t from 50 down to 1: ambience while t > 30,
background while t > 15, foreground after. As fractions of the trajectory that is 0.4 and 0.7, so
the same switch points mean the same thing for 20 or 50 steps: early steps lay out the global
structure and tone (ambience), middle steps the main shapes (background), late steps the details
(foreground).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

from .params import LEVELS, default

LevelBlend = dict[str, float]  # level -> weight; weights sum to 1, empty means no audio this step

# Switch points that let one level condition every step, whatever the number of steps: with the
# boundaries below (ambience while i < b1, background while i < b2), p = 0 puts a boundary before
# step 0 and p = 1 after the last step. The Compare page's "each level alone" rows use them.
SOLO_SWITCH_POINTS: dict[str, tuple[float, float]] = {
    "foreground": (0.0, 0.0),
    "background": (0.0, 1.0),
    "ambience": (1.0, 1.0),
}


def _boundary(fraction: float, steps: int) -> int:
    """The first step index at or after `fraction` of the trajectory: round half up, computed on the
    decimal the user typed (0.29 x 50 = 14.5 -> 15, where float arithmetic gives 14.499...)."""
    return int(math.floor(Fraction(repr(float(fraction))) * steps + Fraction(1, 2)))


def _ramp(position: float, center: float, width: float) -> float:
    """0 before the cross-fade around `center`, 1 after it, linear inside. `width` > 0: a zero-width
    fade is the hard switch, which level_schedule computes on whole steps instead."""
    return min(1.0, max(0.0, (position - (center - width / 2)) / width))


def level_schedule(
    steps: int,
    switch_points: tuple[float, float] = default("switch_points"),
    style: str = default("switch_style"),
    crossfade: float = default("crossfade"),
    available: Iterable[str] = LEVELS,
) -> list[LevelBlend]:
    """One LevelBlend per step (0-based step index).

    hard: step i uses ambience while i < round(p1*steps), background while i < round(p2*steps),
    then foreground (at very few steps a level can get no step at all, e.g. 2 steps: ambience,
    foreground). smooth: each switch is a linear cross-fade `crossfade` wide (a fraction of the
    trajectory), measured at the step's midpoint; a zero-width cross-fade is the hard switch. Levels
    not in `available` (e.g. a silent stem) drop out of the blend and the rest is renormalised; a step left with nothing gets no audio.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    p1, p2 = switch_points
    if not 0.0 <= p1 <= p2 <= 1.0:
        raise ValueError(f"switch points must satisfy 0 <= p1 <= p2 <= 1 (got {switch_points})")
    present = set(available)
    ambience, background, foreground = "ambience", "background", "foreground"
    schedule: list[LevelBlend] = []
    b1, b2 = _boundary(p1, steps), _boundary(p2, steps)
    for i in range(steps):
        if style == "hard" or (style == "smooth" and crossfade <= 0):
            level = ambience if i < b1 else background if i < b2 else foreground
            blend = {level: 1.0}
        elif style == "smooth":
            position = (i + 0.5) / steps
            # p1 <= p2 and one width give a1 >= a2 at every position (a later centre never ramps sooner),
            # so background's share a1 - a2 is never negative, even where the two fades overlap
            a1, a2 = _ramp(position, p1, crossfade), _ramp(position, p2, crossfade)
            blend = {ambience: 1.0 - a1, background: a1 - a2, foreground: a2}
        else:
            raise ValueError(f"unknown switch style {style!r}")
        blend = {k: v for k, v in blend.items() if v > 0 and k in present}
        total = sum(blend.values())  # > 0 unless the blend is empty, and then nothing is divided
        schedule.append({k: v / total for k, v in blend.items()})
    return schedule
