"""What each command's --help promises is what the command does (the docs walkthrough's findings):
defaults as the code sets them, no flag a command ignores, the syntax a flag takes spelled out."""

from __future__ import annotations

import argparse

from core.cli import build_parser


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
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
