"""`python -m core generate`: one image from audio + prompt, or a reproduction with `--from FILE.png`.

Every flag maps onto one GenerationParams field; flags left out keep the value from --from (when
reproducing) or GenerationParams' default.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..params import MAX_SEED, MODES, NORM_MEASURES, SCHEDULERS, SOURCE_MODES, SWITCH_STYLES, GenerationParams
from . import CliError


def _numbers(n: int, kind: type = float) -> Callable[[str], tuple]:
    """argparse type for "a,b,c": exactly n numbers of `kind`."""
    noun = "numbers" if kind is float else "whole numbers"

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) != n:
            raise argparse.ArgumentTypeError(f"expected {n} comma-separated {noun}, got {text!r}")
        return values

    return parse


def _size(text: str) -> tuple[int, int]:
    try:
        w, _, h = text.lower().partition("x")
        return int(w), int(h or w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 512x512, got {text!r}") from None


def _stem_map(text: str) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(tuple(pair.split("=", 1)) for pair in text.split(","))  # type: ignore[misc]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected stem=level pairs like vocals=foreground,..., got {text!r}"
        ) from None


# flag -> (GenerationParams field, argparse kwargs)
PARAM_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--audio": ("audio_path", dict(metavar="PATH", help="audio clip (wav/flac/ogg/mp3)")),
    "--prompt": ("prompt", dict(metavar="TEXT")),
    "--negative": ("negative_prompt", dict(metavar="TEXT")),
    "--models": ("models", dict(metavar="SPEC", help="sd15 | tiny | hub id | local folder")),
    "--seed": ("seed", dict(type=int, help="default: random (printed, and stored in the PNG)")),
    "--steps": ("steps", dict(type=int)),
    "--guidance": ("guidance", dict(type=float)),
    "--scheduler": ("scheduler", dict(choices=SCHEDULERS)),
    "--window-start": ("window_start", dict(type=float, metavar="SECONDS")),
    "--mode": ("mode", dict(choices=MODES)),
    "--checkpoint": ("checkpoint", dict(metavar="FOLDER", help="trained projector checkpoint")),
    "--top-k": ("top_k", dict(type=int)),
    "--temperature": ("temperature", dict(type=float)),
    "--strength": ("audio_strength", dict(type=float, metavar="S", help="0 = plain SD")),
    "--gates": ("gate_scales", dict(type=_numbers(3), metavar="DOWN,MID,UP")),
    "--norm-target": ("norm_target", dict(type=float, metavar="X", help="0 = off")),
    "--norm-measure": ("norm_measure", dict(choices=NORM_MEASURES)),
    "--split": ("split", dict(type=_numbers(3, int), metavar="FG,BG,AMB")),
    "--weights": ("level_weights", dict(type=_numbers(3), metavar="FG,BG,AMB")),
    "--switch": ("switch_points", dict(type=_numbers(2), metavar="A,B", help="fractions of the trajectory")),
    "--switch-style": ("switch_style", dict(choices=SWITCH_STYLES)),
    "--crossfade": ("crossfade", dict(type=float)),
    "--sources": ("sources", dict(choices=SOURCE_MODES)),
    "--crossovers": ("crossovers", dict(type=_numbers(2), metavar="LOW_HZ,HIGH_HZ")),
    "--stem-map": ("stem_map", dict(type=_stem_map, metavar="STEM=LEVEL,...")),
}


def add_param_flags(parser: argparse.ArgumentParser) -> None:
    """Every GenerationParams flag (and --size), for `generate` and any command that generates."""
    parser.add_argument("--size", type=_size, metavar="WxH")
    for flag, (_, kwargs) in PARAM_FLAGS.items():
        parser.add_argument(flag, dest=flag[2:].replace("-", "_"), default=None, **kwargs)


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("generate", help="generate an image (or reproduce one with --from)")
    gen.add_argument("--from", dest="from_png", metavar="FILE.png", help="reproduce the parameters stored in a PNG")
    gen.add_argument("--out", metavar="FILE.png", default="clap2diff.png")
    gen.add_argument("--device", help="cuda | cpu (default: cuda when available)")
    gen.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_param_flags(gen)
    gen.set_defaults(run=run)


def params_from_args(args: argparse.Namespace) -> GenerationParams:
    """Start from --from (or the defaults), then apply every flag that was given."""
    from ..export import read_params

    base = read_params(args.from_png) if args.from_png else GenerationParams(seed=random.randint(0, MAX_SEED))
    changes: dict[str, Any] = {}
    for flag, (field_name, _) in PARAM_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            changes[field_name] = value
    if args.size is not None:
        changes["width"], changes["height"] = args.size
    if "audio_path" in changes:
        # Absolute, so --from works from any folder. A clip named explicitly is the user's choice:
        # its own hash is recorded, the one stored in --from's PNG no longer applies.
        changes["audio_path"] = str(Path(changes["audio_path"]).expanduser().resolve())
        changes["audio_sha256"] = None
    return base.replace(**changes).validate()


def _progress(quiet: bool):
    if quiet:
        return None

    def report(info) -> None:
        level = max(info.levels, key=info.levels.get) if info.levels else "-"
        sys.stderr.write(f"\rstep {info.step:>3}/{info.total}  {level:<10}  {info.elapsed:6.1f}s")
        if info.step == info.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


def check_device(device: str | None) -> None:
    import torch

    if device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise CliError(f"unknown device {device!r}: use cpu or cuda (or cuda:N)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise CliError("CUDA is not available on this machine: leave out --device, or use --device cpu")


def check_output(path: str) -> Path:
    """Fail before the generation, not after it, when the image could not be written."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise CliError(f"--out {path} is a folder: give a file name like {Path(path) / 'image.png'}")
    parent = out.parent if str(out.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise CliError(f"cannot write {path}: {existing} is not a writable folder")
    return out


def run(args: argparse.Namespace) -> int:
    from ..export import save_result
    from ..pipeline import Engine

    params = params_from_args(args)
    check_device(args.device)
    out = check_output(args.out)
    engine = Engine(params.models, device=args.device)
    result = engine.generate(params, progress=_progress(args.quiet))
    try:
        out = save_result(result, out)
    except OSError as exc:
        raise CliError(f"could not write {out}: {exc.strerror or exc}") from None
    heard = result.trace.heard.get("mix") or next(iter(result.trace.heard.values()), [])
    if heard and not args.quiet:
        sys.stderr.write("heard: " + ", ".join(f"{h.label} ({h.weight:.2f})" for h in heard) + "\n")
    print(f"{out}  seed={result.params.seed}  {result.timings['total']:.1f}s on {result.device}")
    return 0
