"""What each command's --help promises is what the command does (the docs walkthrough's findings):
defaults as the code sets them, no flag a command ignores, the syntax a flag takes spelled out."""

from __future__ import annotations

import argparse
import os
from unittest import mock

import pytest

from core.cli import build_parser


def _help(command: str) -> str:
    """The command's --help on one line (wide, so that no word is broken at a hyphen)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    with mock.patch.dict(os.environ, {"COLUMNS": "10000"}):
        return " ".join(sub.choices[command].format_help().split())


def _flag_help(command: str, flag: str) -> str:
    """The help text of one flag, from its name to the next flag's."""
    text = _help(command)
    start = text.index(f" {flag} ", text.index("options:"))
    end = text.find(" --", start + len(flag) + 2)
    return text[start : end if end != -1 else None]


def test_evaluate_states_its_real_seed_default():
    seed = _flag_help("evaluate", "--seed")
    assert "default: 0" in seed and "random" not in seed, seed


def test_evaluate_offers_no_flag_it_ignores():
    """Each row brings its clip and caption: a pinned clip hash (or a clip, or a prompt) would be ignored."""
    text = _help("evaluate")
    for ignored in ("--audio-sha256", "--audio ", "--prompt"):
        assert ignored not in text, ignored
    assert "--checkpoint-sha256" in text  # the engine refuses other weights in trained mode: it does what it says


def test_sweep_says_which_fields_an_axis_takes_and_how():
    text = _help("sweep")
    for spelled in ("level_weights for --weights", "audio_strength", "gate_scales", "switch_points"):
        assert spelled in text, spelled
    assert "level_weights.0-2" in text and "switch_points.0-1" in text  # the .N element syntax, with valid N
    assert "separated by ';'" in text and "switch_points=0.2,0.5;0.4,0.7" in text
    assert "models," not in text.split("axes:", 1)[1].split("--x", 1)[0]  # set by the run, not swept


@pytest.mark.parametrize("command", ["sweep", "evaluate"])
def test_clip_states_its_default(command):
    clip = _flag_help(command, "--clip")
    assert "default: tiny with tiny models, else openai/clip-vit-large-patch14" in clip, clip


@pytest.mark.parametrize(
    "command, default, in_folder",
    [("generate", "clap2diff.png", "clap2diff-SEED.png"), ("edit", "clap2diff-edit.png", "clap2diff-edit-SEED.png")],
)
def test_out_states_its_default(command, default, in_folder):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    assert sub.choices[command].get_default("out") == default  # the help names the code's default
    out = _flag_help(command, "--out")
    assert f"default: {default} in the current folder" in out and f"({in_folder})" in out, out


def test_ranges_show_whole_numbers_whole_and_their_units():
    seed = _flag_help("generate", "--seed")
    assert "[seed; 0 to 4294967295;" in seed, seed
    assert "[feather; 0 to 256 px;" in _flag_help("edit", "--feather")
    assert "[crossovers; 20 to 20000 Hz;" in _flag_help("generate", "--crossovers")
    assert "e+" not in _help("generate") + _help("edit") + _help("train")  # no 1e+07 for ten million


def test_max_side_says_the_shorter_side_stays_at_least_64():
    """A 128x96 photo at --max-side 64 is worked on at 88x64: the help says why (and the size is the code's)."""
    from core.images import working_size

    assert working_size(128, 96, 64) == (88, 64)
    max_side = _flag_help("edit", "--max-side")
    assert "shorter side stays at least 64" in max_side and "88×64" in max_side, max_side


def test_compare_says_its_fixed_order():
    from core.compare import ordered_modes

    fixed = ", ".join(ordered_modes(["bands", "stems", "mix"]))
    assert f"in the fixed order {fixed}," in _flag_help("compare", "--sources")
