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


# -- the exact tables -------------------------------------------------------------------------------
def table(*rows: tuple[float, float, float]) -> list[dict[str, float]]:
    """Rows of (ambience, background, foreground) weights; a 0 means the level is not in the blend."""
    names = ("ambience", "background", "foreground")
    return [{k: w for k, w in zip(names, row) if w} for row in rows]


SMOOTH_TABLES = [
    # steps, switch points, crossfade, available levels -> blend at every step (midpoint (i + 0.5)/steps)
    (
        (10, (0.4, 0.7), 0.2, None),
        table(
            (1, 0, 0), (1, 0, 0), (1, 0, 0), (0.75, 0.25, 0), (0.25, 0.75, 0),
            (0, 1, 0), (0, 0.75, 0.25), (0, 0.25, 0.75), (0, 0, 1), (0, 0, 1),
        ),
    ),
    (  # overlapping fades: three levels at once, foreground never above what left ambience
        (8, (0.25, 0.5), 0.5, None),
        table(
            (0.875, 0.125, 0), (0.625, 0.375, 0), (0.375, 0.5, 0.125), (0.125, 0.5, 0.375),
            (0, 0.375, 0.625), (0, 0.125, 0.875), (0, 0, 1), (0, 0, 1),
        ),
    ),
    (  # both switches at one point: background gets nothing, ambience fades straight to foreground
        (6, (0.5, 0.5), 0.4, None),
        table((1, 0, 0), (1, 0, 0), (17 / 24, 0, 7 / 24), (7 / 24, 0, 17 / 24), (0, 0, 1), (0, 0, 1)),
    ),
    (  # a level that is absent drops out and the others are renormalised (0.375 : 0.125 -> 0.75 : 0.25)
        (8, (0.25, 0.5), 0.5, {"ambience", "foreground"}),
        table((1, 0, 0), (1, 0, 0), (0.75, 0, 0.25), (0.25, 0, 0.75), (0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 1)),
    ),
    (  # a step whose only level is absent gets no audio at all
        (10, (0.3, 0.6), 0.2, {"ambience", "foreground"}),
        table(*[(1, 0, 0)] * 4, (0, 0, 0), *[(0, 0, 1)] * 5),
    ),
]  # fmt: skip


@pytest.mark.parametrize("case, expected", SMOOTH_TABLES, ids=lambda v: str(v[0]) if isinstance(v, tuple) else "")
def test_smooth_blend_table_is_exact(case, expected):
    steps, switch, crossfade, available = case
    kwargs = {} if available is None else {"available": available}
    schedule = level_schedule(steps, switch, style="smooth", crossfade=crossfade, **kwargs)
    assert len(schedule) == steps
    for step, (got, want) in enumerate(zip(schedule, expected, strict=True)):
        assert got == pytest.approx(want, abs=1e-12), f"step {step}"


def test_the_default_crossfade_is_a_tenth_of_the_trajectory():
    # 5 steps, fade 0.1 wide: only step 3 (midpoint 0.7 = the switch point) is half background, half foreground
    expected = table((1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0.5, 0.5), (0, 0, 1))
    for got, want in zip(level_schedule(5, (0.4, 0.7), style="smooth"), expected, strict=True):
        assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize(
    "steps, switch, levels",
    [
        (1, (0.4, 0.7), "B"),  # 0.4 -> step 0, 0.7 -> step 1: the single step is background
        (2, (0.4, 0.7), "AF"),  # 0.8 -> 1 and 1.4 -> 1: background gets no step
        (3, (0.4, 0.7), "ABF"),
        (5, (0.5, 0.5), "AAAFF"),  # 2.5 rounds half up to 3 (round() would give 2)
        (7, (0.4, 0.7), "AAABBFF"),
        (10, (0.05, 0.95), "ABBBBBBBBB"),  # 0.5 -> 1, 9.5 -> 10
        (10, (0.15, 0.25), "AABFFFFFFF"),  # 1.5 -> 2, 2.5 -> 3
    ],
)
def test_hard_boundaries(steps, switch, levels):
    names = {"A": "ambience", "B": "background", "F": "foreground"}
    assert level_schedule(steps, switch) == [{names[c]: 1.0} for c in levels]


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, (0.4, 0.7)), "^steps must be at least 1$"),
        ((10, (0.5, 1.5)), r"switch points must satisfy 0 <= p1 <= p2 <= 1 \(got \(0.5, 1.5\)\)"),
        ((10, (-0.1, 0.5)), "switch points must satisfy"),
        ((10, (0.4, 0.7), "wavy"), "^unknown switch style 'wavy'$"),
    ],
)
def test_bad_arguments_say_what_is_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        level_schedule(*args)


def test_every_smooth_blend_is_a_distribution_for_any_ordered_switch_points():
    """No level ever gets a negative share, whatever the fades' overlap (p1 <= p2 keeps ambience's fade ahead)."""
    points = [i / 10 for i in range(11)]
    for p1, p2 in ((a, b) for a in points for b in points if a <= b):
        for width in (0.05, 0.3, 1.0, 2.5):
            for blend in level_schedule(7, (p1, p2), "smooth", width):
                assert all(v > 0 for v in blend.values()) and abs(sum(blend.values()) - 1) < 1e-12, (p1, p2, width)
