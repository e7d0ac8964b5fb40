"""`python -m core sweep`: an X/Y/Z grid over any knob, with scores.

    python -m core sweep --audio A --prompt P --x FIELD=V1,V2 [--y FIELD=...] [--z FIELD=...] --out DIR

FIELD is a GenerationParams field, a tuple element (`level_weights.0`), `audio_path` (several
clips) or `sources`. Writes DIR/sweep_grid_NN.png (one per Z value, every tile's params inside),
each tile as a PNG (readable by `params` and `generate --from`), DIR/sweep.zip and DIR/scores.csv.
Scores use CLIP (`--clip`, default: the tiny spec with tiny models, else openai/clip-vit-large-patch14);
`--no-scores` skips them. Every other flag is a GenerationParams field, as for `generate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..score_names import CLIP_REAL
from . import CliError, progress
from .generate import add_param_flags, check_audio, check_device, params_from_args, writing

if TYPE_CHECKING:
    from ..sweep import SweepRun


def _axes_help() -> str:
    from ..sweep.axes import MAX_VALUES, element_fields, swept_fields

    lists = ", ".join(f"{n}.0-{k - 1}" for n, k in element_fields().items())
    return (
        f"Each axis is FIELD=V1,V2,... (up to {MAX_VALUES} values). FIELD is a setting's field name, the one in "
        "[brackets] in each flag's help below, which is not always the flag's (level_weights for "
        f"--weights, audio_strength for --strength, gate_scales for --gates, switch_points for --switch): "
        f"{', '.join(swept_fields())}. FIELD.N sweeps one element of a list setting ({lists}; e.g. "
        "level_weights.0=0.3,0.7,1.2 is the foreground weight). A whole list setting takes values "
        "separated by ';' (switch_points=0.2,0.5;0.4,0.7; a stem_map value is --stem-map's pairs). "
        "Clips: audio_path=a.wav,b.wav. A value in double quotes may hold commas: "
        '--x \'prompt="a city, at night","a forest"\'.'
    )


AXES_HELP = _axes_help()
CLIP_HELP = f"CLIP for the scores: tiny, or a Hub id / folder (default: tiny with tiny models, else {CLIP_REAL})"


class _OneAxis(argparse.Action):
    """An axis flag given twice kept only the last one (argparse's way): a user adding a second knob
    with another --x meant --y; refused, so no sweep runs that was not asked for."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            raise CliError(f"{option_string} given twice: an axis sweeps one knob (--y and --z sweep others)")
        setattr(namespace, self.dest, values)


def register(sub: argparse._SubParsersAction) -> None:
    sw = sub.add_parser("sweep", help="an X/Y/Z grid over any knob, every tile with its params and scores")
    sw.add_argument("--out", metavar="DIR", required=True, help="folder for the grids, tiles, sweep.zip and scores.csv")
    axes = sw.add_argument_group("axes", AXES_HELP)
    for name, what in (("x", "columns"), ("y", "rows"), ("z", "one grid per value")):
        axes.add_argument(f"--{name}", metavar="FIELD=V1,V2", action=_OneAxis, help=f"the {name.upper()} axis ({what})")
    sw.add_argument("--no-scores", action="store_true", help="skip the CLIP scores")
    sw.add_argument("--clip", metavar="SPEC", help=CLIP_HELP)
    sw.add_argument("--reference", metavar="IMAGE", help="a reference image: adds the reference-match score")
    sw.add_argument("--from", dest="from_png", metavar="FILE.png", help="start from the parameters in a PNG")
    sw.add_argument("--device", help="cuda | cpu (default: cuda when available)")
    sw.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_param_flags(sw)
    sw.set_defaults(run=run)


def plan_from_args(args: argparse.Namespace):
    """The SweepPlan, every axis checked before any model loads."""
    from ..sweep import SweepPlan, parse_axis

    base = params_from_args(args)
    axes = tuple(parse_axis(n, getattr(args, n), base) for n in ("x", "y", "z") if getattr(args, n))
    if not axes:
        raise CliError("a sweep needs at least --x FIELD=V1,V2 (e.g. --x norm_target=40,60,80)")
    return SweepPlan(base, axes)


def run(args: argparse.Namespace) -> int:
    from ..export import check_folder
    from ..sweep import CSV_FILE

    plan = plan_from_args(args)
    check_device(args.device)
    out = check_folder(args.out, first_file=CSV_FILE)  # before the tiles, not after them
    reference = _reference(args.reference)
    tiles = [plan.params_at(*at) for at in plan.positions()]
    for params in {(p.audio_path, p.audio_sha256): p for p in tiles}.values():  # each clip on the grid, once
        check_audio(params)
    from ..engine import Engine  # torch, diffusers: seconds, paid only once the input is known to be good
    from ..models import ModelUnavailable
    from ..scoring import Scorer
    from ..sweep import SweepRun, SweepTile, run_sweep, save_sweep

    engine = Engine(plan.base.models, device=args.device)
    scorer = None
    if not args.no_scores:
        spec = args.clip or ("tiny" if engine.spec.tiny else "")
        try:
            scorer = Scorer(spec, device=engine.device)
        except ModelUnavailable as exc:
            if args.clip:  # named on purpose: refused before any tile, never a sweep without its scores
                raise CliError(f"--clip {args.clip}: {exc}; or sweep with --no-scores") from None
            print(f"note: no scores: {exc}", file=sys.stderr)

    def status(event) -> None:
        if not args.quiet:
            progress.show(f"{str(event)[:100]:<100}")

    done: list[SweepTile] = []
    try:
        result = run_sweep(engine, plan, scorer, reference, on_status=status, on_tile=done.append)
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM): the finished tiles are kept, as the studio's Stop keeps them
        progress.end()
        _keep_done(SweepRun(plan, done, cancelled=True), out, "interrupted")
        raise
    progress.end()
    if result.error is not None:  # a tile failed: the tiles before it are saved, then the error is said
        _keep_done(result, out, "stopped by an error")
        raise result.error
    with writing(f"into {out}"):
        written = save_sweep(result, out)
    print(f"{len(result.tiles)} tiles, {len([p for p in written if p.name.startswith('sweep_grid')])} grid(s) in {out}")
    return 0


def _keep_done(run: SweepRun, out: Path, why: str) -> None:
    """Save the tiles a sweep finished before it stopped (with their grid and CSV), and say so."""
    from ..sweep import save_sweep

    if run.tiles:
        with writing(f"into {out}"):
            save_sweep(run, out)
        print(f"{why}: the {len(run.tiles)} of {len(run.plan)} tiles done are saved in {out}", file=sys.stderr)


def _reference(path: str | None):
    """--reference decoded as a photo is: a file over the pixel limit, a pipe or a damaged one is
    one line, not a traceback."""
    if not path:
        return None
    from ..images import ImageError, load_reference

    try:
        return load_reference(path)
    except ImageError as exc:
        raise CliError(f"--reference: {exc}") from None
