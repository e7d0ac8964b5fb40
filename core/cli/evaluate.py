"""`python -m core evaluate`: a dataset folder's rows generated with their captions and scored.

    python -m core evaluate --data DATASET [--seeds N] [generate flags] --out DIR
    accelerate launch -m core evaluate ...     (rows split between processes; same files)

Writes DIR/results.csv, DIR/aggregate.csv (mean and 95% interval per score), DIR/report.md and
DIR/images/. See core/evaluate.py and docs/SCORES.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..params import MAX_SEED
from . import CliError
from .generate import add_param_flags, check_device, params_from_args
from .sweep import CLIP_HELP


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="generate every row of a dataset with its caption and score it")
    ev.add_argument(
        "--data", required=True, metavar="DATASET", help="a folder with metadata.jsonl (audio, image, caption)"
    )
    ev.add_argument("--out", required=True, metavar="DIR", help="folder for results.csv, aggregate.csv, report.md")
    ev.add_argument(
        "--seeds", type=int, default=1, metavar="N", help="seeds per row: --seed, --seed+1, ... (default 1)"
    )
    ev.add_argument("--clip", metavar="SPEC", help=CLIP_HELP)
    ev.add_argument("--device", help="cuda | cpu (default: cuda when available)")
    ev.add_argument("--quiet", action="store_true", help="no progress on stderr")
    # Each row brings its clip and caption: --prompt, --audio and --audio-sha256 would be ignored.
    # The seed is 0 without --seed, in every process and every run: the table is reproducible.
    add_param_flags(ev, exclude=("prompt", "audio_path", "audio_sha256"), seed_default="0 (the same seeds every run)")
    ev.set_defaults(run=run, from_png=None)


def run(args: argparse.Namespace) -> int:
    from ..evaluate import RESULTS, evaluate
    from ..export import check_folder
    from ..train.dataset import load_dataset

    if not 1 <= args.seeds <= 100:
        raise CliError(f"--seeds {args.seeds}: give 1 to 100")
    if args.seed is not None and args.seed + args.seeds - 1 > MAX_SEED:  # else refused at its first image, mid-run
        raise CliError(
            f"--seed {args.seed} --seeds {args.seeds}: the last seed would be {args.seed + args.seeds - 1}, "
            f"over the largest seed, {MAX_SEED}: give a smaller --seed"
        )
    out = check_folder(args.out, first_file=RESULTS)  # as every command: --out first, nothing made yet
    # A typo in --data is said at once, before torch (seconds) is imported; the rows' media are checked by the run.
    load_dataset(args.data, check_media=False).require_rows()
    if args.seed is None:
        args.seed = 0  # the same seeds in every process (and every run): the table is reproducible
    base = params_from_args(args)
    check_device(args.device)
    main = os.environ.get("RANK", "0") == "0"

    def say(text: str) -> None:
        if not args.quiet and main:
            print(text, file=sys.stderr)

    table = evaluate(args.data, out, base, seeds=args.seeds, clip=args.clip, device=args.device, say=say)
    if table is not None:
        for a in table:
            mean = "n/a" if a.mean is None else f"{a.mean:.4f}" + ("" if a.ci95 is None else f" ± {a.ci95:.4f}")
            print(f"{a.score:<22} {mean}")
        print(f"report: {out / 'report.md'}")
    return 0
