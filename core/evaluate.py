"""Evaluating the method on a dataset folder: every row's clip with its caption, N seeds, scored.

    python -m core evaluate --data DATASET [--seeds N] [generate flags] --out DIR
    accelerate launch -m core evaluate ...        (or torchrun: rows split between processes)

The dataset is the training form (metadata.jsonl: audio, image, caption; core/train/dataset.py).
Each (row, seed) is generated with the caption as the prompt and scored (docs/SCORES.md) against
its strength-0 twin and the row's image as the reference. Work is split between processes by
position; each writes its part, the main process merges them in (row, seed) order, so the files
are the same whatever the process count: results.csv (one line per image), aggregate.csv (mean
and 95% interval per score) and report.md (the table and thumbnails).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .export import atomic_write, save_result
from .export.atomic import prune_earlier
from .params import GenerationParams
from .score_names import SCORE_NAMES  # light: core.scoring imports torch

if TYPE_CHECKING:
    from PIL import Image

    from .train.dataset import SkippedRow

RESULTS, AGGREGATE, REPORT = "results.csv", "aggregate.csv", "report.md"
OWN_IMAGES = re.compile(r"line-\d{4,}_seed-\d+\.png")  # the images evaluate names in images/


@dataclass(frozen=True)
class Aggregate:
    score: str
    n: int
    mean: float | None
    ci95: float | None  # half-width: mean ± ci95 (normal approximation, sample standard deviation)


def aggregate(rows: list[dict], names: tuple[str, ...] = SCORE_NAMES) -> list[Aggregate]:
    out = []
    for name in names:
        values = [float(r[name]) for r in rows if r.get(name) is not None]
        if not values:
            out.append(Aggregate(name, 0, None, None))
            continue
        mean = sum(values) / len(values)
        ci = None
        if len(values) > 1:
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            ci = 1.96 * sd / math.sqrt(len(values))
        out.append(Aggregate(name, len(values), mean, ci))
    return out


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6f}"


def evaluate(
    data: str | Path,
    out: str | Path,
    base: GenerationParams,
    seeds: int = 1,
    clip: str | None = None,
    device: str | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> list[Aggregate] | None:
    """Run this process's share; on the main process merge every share and write the files
    (returns the aggregate there, None on the others)."""
    import torch
    from accelerate import PartialState
    from PIL import Image

    from .audio import AudioError
    from .engine import Engine
    from .scoring import Scorer
    from .sweep import no_audio_twin
    from .train.dataset import SkippedRow, load_dataset

    report = load_dataset(data).require_rows()
    state = PartialState(cpu=not torch.cuda.is_available())
    out = Path(out)
    items = [(row, seed) for row in report.rows for seed in range(base.seed, base.seed + seeds)]
    mine = items[state.process_index :: state.num_processes]
    engine = Engine(base.models, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
    scorer = Scorer(clip or ("tiny" if engine.spec.tiny else ""), device=engine.device)
    lines, broken = [], set()
    for n, (row, seed) in enumerate(mine, 1):
        if row.line in broken:
            continue
        say(f"{n}/{len(mine)} line {row.line}, seed {seed}")
        params = base.replace(audio_path=str(row.audio), audio_sha256=None, prompt=row.caption, seed=seed)
        # A row whose files do not decode is skipped with its reason, as training skips it; any other
        # failure (a checkpoint refused, the GPU out of memory) is not the row's and ends the run.
        reason = None
        try:
            reference = _reference(row.image)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            reason = f"image {row.image.name} could not be read ({type(exc).__name__})"
        if reason is None:
            try:
                result = engine.generate(params)
            except AudioError as exc:
                reason = _file_names_only(str(exc), row, report.folder)
        if reason is not None:
            broken.add(row.line)
            say(f"line {row.line} skipped: {reason}")
            lines.append(json.dumps({"line": row.line, "skipped": reason}))
            continue
        twin = no_audio_twin(engine, result.params, result.image)  # at strength 0 (a baseline), the image itself
        scores = scorer.score(result.image, result.params.prompt, _heard(result), engine.vocabulary, twin, reference)
        name = f"images/line-{row.line:04d}_seed-{seed}.png"  # OWN_IMAGES
        save_result(result, out / name)
        lines.append(json.dumps({"line": row.line, "seed": seed, "audio": row.audio_name or row.audio.name,
                                 "caption": row.caption, "image": name, **scores.as_row(),
                                 "scored_by": scorer.name}))  # fmt: skip
    atomic_write(out / "parts" / f"part-{state.process_index}.jsonl", ("\n".join(lines) + "\n").encode())
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    rows = []
    for index in range(state.num_processes):  # this run's parts only, not an earlier run's with more processes
        part = out / "parts" / f"part-{index}.jsonl"
        rows += [json.loads(t) for t in part.read_text().splitlines() if t.strip()]
    # each process that met a broken row says so: one entry per line
    skipped = {
        s.line: s for s in report.skipped + [SkippedRow(r["line"], r["skipped"]) for r in rows if "skipped" in r]
    }
    rows = sorted((r for r in rows if "skipped" not in r), key=lambda r: (r["line"], r["seed"]))
    table = aggregate(rows)
    _write(out, rows, table, report.folder.name, base, seeds, sorted(skipped.values(), key=lambda s: s.line))
    prune_earlier(out / "images", OWN_IMAGES, {Path(r["image"]).name for r in rows})  # an earlier run's other seeds
    return table


def _file_names_only(text: str, row, folder: Path) -> str:
    """A reason as report.md may share it: the row's files by name, never this machine's folders."""
    for path in {row.audio, Path(row.audio).resolve()}:
        text = text.replace(str(path), Path(path).name)
    return text.replace(str(folder.resolve()), folder.name).replace(str(folder), folder.name)


def _reference(path: Path) -> Image.Image:
    """A row's image upright as a viewer shows it (its EXIF orientation applied, as `load_photo`
    does): a phone photo stored sideways would otherwise be scored against the image rotated."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def _cell(text: str) -> str:
    """Text as one report.md table cell: a `|` or a line break in a caption would split the row."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text).replace("\\", "\\\\").replace("|", "\\|")


def _heard(result):
    from .sweep import heard_overall

    return heard_overall(result.trace.heard)


def _write(
    out: Path,
    rows: list[dict],
    table: list[Aggregate],
    dataset: str,
    base: GenerationParams,
    seeds: int,
    skipped: list[SkippedRow],
):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["line", "seed", "audio", "caption", "image", *SCORE_NAMES, "clip_top_event", "scored_by"])
    for r in rows:
        w.writerow([r["line"], r["seed"], r["audio"], r["caption"], r["image"], *(_fmt(r.get(s)) for s in SCORE_NAMES),
                    r.get("clip_top_event") or "", r.get("scored_by", "")])  # fmt: skip
    atomic_write(out / RESULTS, buf.getvalue().encode())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["score", "n", "mean", "ci95"])
    for a in table:
        w.writerow([a.score, a.n, _fmt(a.mean), _fmt(a.ci95)])
    atomic_write(out / AGGREGATE, buf.getvalue().encode())
    clips = sorted({r["scored_by"] for r in rows if r.get("scored_by")})  # scores of two CLIPs do not compare
    scored_by = f", scored by CLIP {', '.join(clips)}" if clips else ""
    md = [f"# Evaluation of {dataset}", "", f"{len(rows)} images ({seeds} seed(s) per row), models {base.models}, "
          f"{base.steps} steps, {base.width}x{base.height}, audio strength {base.audio_strength:g}{scored_by}.", "",
          "| score | n | mean | 95% interval |", "|---|---|---|---|"]  # fmt: skip
    md += [f"| {a.score} | {a.n} | {_fmt(a.mean)} | {'' if a.ci95 is None else '± ' + _fmt(a.ci95)} |" for a in table]
    if skipped:
        md += ["", f"{len(skipped)} row(s) skipped:", ""] + [f"- {s}" for s in skipped]
    md += [
        "",
        "Definitions: docs/SCORES.md.",
        "",
        "| line | seed | caption | image | heard_similarity |",
        "|---|---|---|---|---|",
    ]
    md += [f"| {r['line']} | {r['seed']} | {_cell(r['caption'])} | ![]({r['image']}) | "
           f"{_fmt(r.get('heard_similarity'))} |" for r in rows]  # fmt: skip
    atomic_write(out / REPORT, ("\n".join(md) + "\n").encode())


__all__ = ["AGGREGATE", "REPORT", "RESULTS", "Aggregate", "aggregate", "evaluate"]
