"""Knobs declared once: every GenerationParams field carries its Knob, and validate(), the CLI's flags
and the schedule/band defaults all come from it (the studio's sliders: test_studio_apptest.py)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from core.bands import DEFAULT_CROSSOVERS
from core.cli import build_parser
from core.cli.generate import PARAM_FLAGS
from core.params import LEVELS, GenerationParams, ParamsError, knobs
from core.schedule import SOLO_SWITCH_POINTS, level_schedule

FIELDS = [f.name for f in dataclasses.fields(GenerationParams)]


def test_every_field_declares_a_knob_with_label_help_and_flag():
    declared = knobs()
    assert list(declared) == FIELDS
    flags = [k.flag for k in declared.values()]
    assert all(flags) and len(set(flags)) == len(flags)
    for name, k in declared.items():
        assert k.label and k.help, name
        if k.slider is not None:
            assert k.range is not None, name
            lo, hi = k.range
            assert lo <= k.slider[0] < k.slider[1] <= hi, f"{name}: slider {k.slider} outside {k.range}"
        for i, _ in enumerate(k.parts):
            assert "{part}" not in k.help_for(i), name


# Tuples whose elements are also tied to each other: their legal edges, spelled out.
EDGES = {"split": [(1, 38, 38), (75, 1, 1)], "crossovers": [(20.0, 20000.0)], "switch_points": [(0.0, 1.0)]}


def test_validate_follows_each_declared_range():
    """Each numeric knob's bounds pass and a value just outside either bound is refused, naming the field."""
    base = GenerationParams()
    for name, k in knobs().items():
        if k.range is None:
            continue
        value, (lo, hi) = getattr(base, name), k.range
        for legal in EDGES.get(name, [_fill(value, lo), _fill(value, hi)]):
            base.replace(**{name: legal}).validate()
        for outside in (lo - 1, hi * 2 + 1):
            with pytest.raises(ParamsError) as info:
                base.replace(**{name: _fill(value, outside)}).validate()
            assert info.value.field == name, (name, outside)


def _fill(value, number):
    if isinstance(value, tuple):
        return tuple(type(v)(number) for v in value)
    return type(value)(number)


def test_generate_help_lists_every_field():
    parser = build_parser()
    generate = parser._subparsers._group_actions[0].choices["generate"]  # noqa: SLF001 - argparse has no public getter
    text = " ".join(generate.format_help().split())
    for name, k in knobs().items():
        assert k.flag in text and f"[{name};" in text, name
    assert {field for field, _ in PARAM_FLAGS.values()} == set(FIELDS)


def test_schedule_and_band_defaults_come_from_the_params():
    defaults = GenerationParams()
    signature = inspect.signature(level_schedule).parameters
    assert signature["switch_points"].default == defaults.switch_points
    assert signature["style"].default == defaults.switch_style
    assert signature["crossfade"].default == defaults.crossfade
    assert DEFAULT_CROSSOVERS == defaults.crossovers


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 20, 25, 50, 101])
def test_solo_switch_points_give_one_level_every_step(steps):
    for level in LEVELS:
        schedule = level_schedule(steps, SOLO_SWITCH_POINTS[level], "hard")
        assert schedule == [{level: 1.0}] * steps, level
