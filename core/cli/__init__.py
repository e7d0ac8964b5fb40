"""Command line: `python -m core COMMAND ...`.

Each command is one module in this package with `register(sub)`: it adds its subparser and sets
`run=<function(args) -> int>` as the parser's default. Adding a command is a new module plus its
name in COMMANDS. Bad input (any `core.errors.UserError`) ends with one line on stderr and exit 2;
Ctrl-C or a cancel ends with exit 130. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from ..errors import UserError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# Modules of this package, one per command, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = ("generate", "edit", "compare", "sweep", "evaluate", "params", "prepare", "train")


class CliError(UserError, ValueError):
    """A flag or a path on the command line that cannot work; the message says which and why."""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage and exiting: one line, exit 2."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "-1,0,0" is a value (a list flag's negative first number), not an unknown option: argparse's
        # own pattern knows only "-1" and "-.5", and would say "expected one argument".
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> None:
        raise CliError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m core", description="CLAP2Diff: audio + text -> image with Stable Diffusion 1.x")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a `kill`, a CI timeout) ends the run like Ctrl-C: cleanup code runs, so a PNG being
    written leaves no temp file behind. Only the main thread may set handlers (tests call main());
    the previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Library chatter (torchvision fallbacks, dtype notes) would bury the one line that matters.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    from ..cancel import Cancelled
    from . import progress

    try:
        args = build_parser().parse_args(argv)
        with _terminate_as_interrupt():
            return int(args.run(args))
    except UserError as exc:
        progress.end()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Cancelled):
        progress.end()
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "CliError", "Parser", "build_parser", "main"]
