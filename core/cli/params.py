"""`python -m core params FILE.png`: print the parameters embedded in a PNG as JSON."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser("params", help="print the parameters embedded in a PNG as JSON")
    show.add_argument("png", metavar="FILE.png")
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export import read_params

    print(read_params(args.png).to_json(indent=2))
    return 0
