"""`python -m core compare`: the Compare page's grid and ZIP from the command line.

    python -m core compare --audio A --prompt P [--sources mix,bands,stems] --out DIR

The same seed and prompt with each source mode side by side and each level alone (core/compare.py,
the plan the page uses), written as DIR/clap2diff_compare.png (every tile's params inside) and
DIR/clap2diff_compare.zip. Every other flag is a GenerationParams field, as for `generate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..params import SOURCE_MODES
from . import CliError, progress
from .generate import add_param_flags, check_audio, check_device, params_from_args, writing


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in SOURCE_MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"expected source modes from {','.join(SOURCE_MODES)}, got {text!r}")
    return modes


def register(sub: argparse._SubParsersAction) -> None:
    cmp = sub.add_parser("compare", help="source modes side by side and each level alone: a grid PNG and a ZIP")
    cmp.add_argument("--out", metavar="DIR", required=True, help="folder for clap2diff_compare.png and .zip")
    cmp.add_argument("--sources", dest="modes", type=_modes, default=("mix", "stems", "bands"), metavar="MODES",
                     help="comma-separated source modes to compare (default: all three); the grid shows them "
                     "in the fixed order mix, stems, bands, whatever order they are given in")  # fmt: skip
    cmp.add_argument("--no-alone", action="store_true", help="leave out the rows with each level alone")
    cmp.add_argument("--no-without", action="store_true", help="leave out the no-audio reference (strength 0)")
    cmp.add_argument("--wavs", action="store_true", help="put every separated part in the ZIP as a WAV")
    cmp.add_argument("--from", dest="from_png", metavar="FILE.png", help="start from the parameters in a PNG")
    cmp.add_argument("--device", help="cuda | cpu (default: cuda when available)")
    cmp.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_param_flags(cmp, exclude=("sources",))
    cmp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..compare import GRID_FILE, run_compare, save_compare
    from ..export import check_folder

    params = params_from_args(args)
    if params.audio_path is None:
        raise CliError("compare needs a clip: give --audio PATH (or --from a PNG made with one)")
    check_device(args.device)
    out = check_folder(args.out, first_file=GRID_FILE)  # before the images, not after them
    check_audio(params)
    from ..engine import Engine  # torch, diffusers: seconds, paid only once the input is known to be good

    engine = Engine(params.models, device=args.device)

    def status(event) -> None:
        if not args.quiet:
            progress.show(f"{str(event)[:100]:<100}")

    label = Path(params.audio_path).name
    alone, without = not args.no_alone, not args.no_without
    result = run_compare(engine, params, args.modes, alone=alone, without=without, audio_label=label, on_status=status)
    progress.end()
    if result.error is not None:  # an image or a mode's parts failed: said as before, one line
        raise result.error
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    with writing(f"into {out}"):
        grid, archive = save_compare(result, out, with_wavs=args.wavs)
    print(f"{grid}\n{archive}  {len(result.done)} images")
    return 0
