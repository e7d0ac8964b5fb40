"""`python -m core params FILE.png`: print the parameters embedded in a PNG as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser(
        "params",
        help="print the parameters embedded in a PNG as JSON (an edited photo's with its edit settings "
        'under "edit"; a grid\'s as a list of its tiles)',
    )
    show.add_argument("png", metavar="FILE.png")
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export import GRID_FORMAT, read_grid, read_metadata, read_params

    metadata = read_metadata(args.png)
    if metadata["format"] == GRID_FORMAT:
        shown: object = [{"caption": i.caption, "params": i.params and i.params.to_dict()} for i in read_grid(args.png)]
    elif "edit" in metadata:
        from ..edit.export import read_edit

        edit = read_edit(args.png)
        shown = {**edit.generation.to_dict(), "edit": edit.to_dict()}
    else:
        shown = read_params(args.png).to_dict()
    try:
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        sys.stdout.flush()
    except BrokenPipeError:  # `params X.png | head`: the reader has what it wanted; as Python's docs
        # advise, point stdout at /dev/null so the flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
