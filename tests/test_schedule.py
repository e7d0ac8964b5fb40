"""Which level conditions which step: the seed's 20/15/15 of 50, as fractions."""

from __future__ import annotations

import pytest

from core.schedule import level_schedule


def dominant(schedule):
    return [max(d, key=d.get) if d else None for d in schedule]


def test_seed_schedule_for_50_steps():
    levels = dominant(level_schedule(50, (0.4, 0.7)))
    # steps are 1-based in the seed's description: 1-20 ambience, 21-35 background, 36-50 foreground
    assert levels[:20] == ["ambience"] * 20
    assert levels[20:35] == ["background"] * 15
    assert levels[35:] == ["foreground"] * 15


def test_same_fractions_for_20_steps():
    levels = dominant(level_schedule(20, (0.4, 0.7)))
    assert levels == ["ambience"] * 8 + ["background"] * 6 + ["foreground"] * 6


def test_hard_switch_is_one_level_per_step():
    assert all(len(d) == 1 and list(d.values()) == [1.0] for d in level_schedule(25, (0.4, 0.7)))


def test_smooth_cross_fades_and_sums_to_one():
    schedule = level_schedule(50, (0.4, 0.7), style="smooth", crossfade=0.2)
    assert all(sum(d.values()) == pytest.approx(1.0) for d in schedule)
    assert schedule[0] == {"ambience": 1.0} and schedule[-1] == {"foreground": 1.0}
    blended = [d for d in schedule if len(d) > 1]
    assert len(blended) >= 8  # about 0.2 * 50 steps around each of the two switch points
    bg = [d.get("background", 0.0) for d in schedule[10:21]]
    assert bg == sorted(bg)  # background fades in monotonically around 0.4


def test_missing_levels_drop_out():
    schedule = level_schedule(10, (0.4, 0.7), available={"foreground"})
    assert dominant(schedule) == [None] * 4 + [None] * 3 + ["foreground"] * 3
    smooth = level_schedule(10, (0.4, 0.7), style="smooth", crossfade=0.4, available={"ambience", "foreground"})
    assert all(sum(d.values()) == pytest.approx(1.0) for d in smooth if d)


def test_edge_switch_points():
    assert dominant(level_schedule(10, (0.0, 0.0))) == ["foreground"] * 10
    assert dominant(level_schedule(10, (1.0, 1.0))) == ["ambience"] * 10
    with pytest.raises(ValueError):
        level_schedule(10, (0.8, 0.2))


def test_boundaries_round_the_typed_fraction_exactly():
    # 0.29 x 50 = 14.5 -> 15 steps of ambience (float arithmetic alone would give 14)
    assert dominant(level_schedule(50, (0.29, 0.29))).count("ambience") == 15
    for steps in (1, 7, 25, 33):
        levels = dominant(level_schedule(steps, (0.4, 0.7)))
        assert levels.count("ambience") == int(0.4 * steps + 0.5)


def test_smooth_with_no_crossfade_is_the_hard_switch():
    for steps in (7, 25, 50):
        assert level_schedule(steps, (0.4, 0.7), "smooth", 0.0) == level_schedule(steps, (0.4, 0.7), "hard")
