"""`python -m core prepare`: local videos + an AudioCaps/VGGSound-style CSV -> a training dataset.

    python -m core prepare --videos videos/ --csv audiocaps_train.csv --out data/audiocaps
    python -m core prepare --samples --out data/demo      # a demo dataset from the sample clips

Cuts each row's 10 s clip (48 kHz mono WAV) and its frame at start + 5 s, and writes
metadata.jsonl; run it again to continue after an interruption (finished rows are kept).
`--samples` writes six rows from the bundled sample clips with pictures drawn to match
(core/train/demo.py): a dataset to try training on offline, not one to learn real scenes from.
"""

from __future__ import annotations

import argparse
import sys

from . import CliError, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="cut clips and frames from local videos into a training dataset")
    p.add_argument("--videos", metavar="DIR", help="folder with the video files")
    p.add_argument("--csv", metavar="FILE", help="youtube_id/file, start_time, caption per row")
    p.add_argument(
        "--samples", action="store_true",
        help="instead of videos: a 6-row demo dataset from the sample clips, pictures drawn to match (to try training)",
    )  # fmt: skip
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset folder to write (or continue)")
    p.add_argument("--trimmed", action="store_true", help="the videos are already cut to their clips")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N rows of the CSV")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export import check_folder
    from ..train.dataset import METADATA
    from ..train.prepare import prepare_dataset

    if args.samples:
        return _demo(args)
    if not (args.videos and args.csv):
        raise CliError("give --videos DIR and --csv FILE (or --samples for the demo dataset)")
    if args.limit is not None and args.limit < 1:  # 0 read as no limit, -1 as all rows but the last
        raise CliError(f"--limit {args.limit}: give the number of CSV rows to prepare, 1 or more")
    check_folder(args.out, first_file=METADATA)  # before any video is cut, not after

    def show(done: int, total: int, name: str) -> None:
        progress.show(f"{done}/{total}  {name[:40]:<40}")
        if done == total:
            progress.end()

    report = prepare_dataset(
        args.videos,
        args.csv,
        args.out,
        trimmed=args.trimmed,
        limit=args.limit,
        progress=None if args.quiet else show,
    )
    for failure in report.failed[:20]:
        sys.stderr.write(f"skipped {failure}\n")
    if len(report.failed) > 20:
        sys.stderr.write(f"... and {len(report.failed) - 20} more (see {args.out}/prepare_report.json)\n")
    print(f"{args.out}: {report.summary()}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ..train.demo import DEMO_ROWS, write_demo_dataset

    given = [flag for flag, value in (("--videos", args.videos), ("--csv", args.csv), ("--trimmed", args.trimmed),
                                      ("--limit", args.limit)) if value]  # fmt: skip
    if given:
        raise CliError(f"--samples makes the demo dataset from the sample clips: leave out {', '.join(given)}")
    write_demo_dataset(args.out)
    print(f"{args.out}: {len(DEMO_ROWS)} rows from the sample clips (a demo: too few to learn real scenes)")
    return 0
