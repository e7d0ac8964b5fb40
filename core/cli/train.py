"""`python -m core train`: one stage of the method on a dataset folder, into a run folder.

    python -m core train --data DATASET --stage 1 --models sd15 --out runs/s1
    python -m core train --data DATASET --stage 2 --models sd15 --out runs/s2 --init runs/s1
    python -m core train --out runs/s2 --resume latest          # continue after a stop or a crash

Every flag maps onto one TrainConfig field (defaults live there); `--config FILE` starts from a
saved config (the studio writes one). Runs unchanged under `accelerate launch` or `torchrun` on
several GPUs or processes. Ctrl-C, SIGTERM or a RUN/STOP file stop it after a checkpoint (exit 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..params import NORM_MEASURES, SWITCH_STYLES
from ..train.config import LR_SCHEDULES, MIXED_PRECISION, STAGES
from . import CliError
from .generate import _numbers


def _pairs(text: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((k.strip(), int(v)) for k, v in (pair.split("=", 1) for pair in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected setting=number pairs like layers=2,heads=8, got {text!r}") from None


# flag -> (TrainConfig field, argparse kwargs); --steps and --lr set the chosen stage's entry
CONFIG_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--data": ("data", dict(metavar="DATASET", help="folder with metadata.jsonl")),
    "--stage": ("stage", dict(type=int, choices=STAGES, help="1 alignment, 2 hierarchy + adapters, 3 fine-tuning")),
    "--models": ("models", dict(metavar="SPEC", help="sd15 | tiny | hub id | local folder")),
    "--out": ("out", dict(metavar="RUN", help="run folder (checkpoints/, final/, metrics.jsonl)")),
    "--init": ("init", dict(metavar="RUN", help="start from a previous stage's run or checkpoint")),
    "--cache": ("cache", dict(metavar="DIR", help="feature cache (default DATASET/.cache/features)")),
    "--lr-schedule": ("lr_schedule", dict(choices=LR_SCHEDULES)),
    "--warmup-steps": ("warmup_steps", dict(type=int)),
    "--batch-size": ("batch_size", dict(type=int, help="per process")),
    "--grad-accum": ("grad_accum", dict(type=int, metavar="N")),
    "--weight-decay": ("weight_decay", dict(type=float)),
    "--max-grad-norm": ("max_grad_norm", dict(type=float)),
    "--seed": ("seed", dict(type=int)),
    "--mixed-precision": ("mixed_precision", dict(choices=MIXED_PRECISION)),
    "--resolution": ("resolution", dict(type=int, metavar="PX")),
    "--caption-dropout": ("caption_dropout", dict(type=float, metavar="P")),
    "--align-weight": ("align_weight", dict(type=float)),
    "--temperature": ("temperature", dict(type=_numbers(2), metavar="START,END", help="stage 3 annealing")),
    "--anneal-crossfade": ("anneal_crossfade", dict(type=float)),
    "--projector": ("projector", dict(type=_pairs, metavar="K=V,...", help="projector size, e.g. layers=2")),
    "--norm-target": ("norm_target", dict(type=float)),
    "--norm-measure": ("norm_measure", dict(choices=NORM_MEASURES)),
    "--split": ("split", dict(type=_numbers(3, int), metavar="FG,BG,AMB")),
    "--weights": ("level_weights", dict(type=_numbers(3), metavar="FG,BG,AMB")),
    "--switch": ("switch_points", dict(type=_numbers(2), metavar="A,B")),
    "--switch-style": ("switch_style", dict(choices=SWITCH_STYLES)),
    "--crossfade": ("crossfade", dict(type=float)),
    "--gates": ("gate_scales", dict(type=_numbers(3), metavar="DOWN,MID,UP")),
    "--log-every": ("log_every", dict(type=int, metavar="STEPS")),
    "--checkpoint-every": ("checkpoint_every", dict(type=int, metavar="STEPS")),
    "--keep-checkpoints": ("keep_checkpoints", dict(type=int, metavar="N")),
    "--val-every": ("val_every", dict(type=int, metavar="STEPS", help="0: only at start and end")),
    "--val-rows": ("val_rows", dict(type=int, metavar="N")),
    "--val-steps": ("val_steps", dict(type=int, metavar="STEPS")),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the projector and adapters (stage 1, 2 or 3) on a dataset folder")
    for flag, (_, kwargs) in CONFIG_FLAGS.items():
        p.add_argument(flag, dest=_dest(flag), default=None, **kwargs)
    p.add_argument("--steps", type=int, help="steps of this stage (default 3000 / 2000 / 1000)")
    p.add_argument("--lr", type=float, help="learning rate of this stage (default 1e-4 / 1e-4 / 1e-5)")
    p.add_argument("--no-gradient-checkpointing", action="store_true", help="faster, more memory (stages 2-3)")
    p.add_argument("--resume", metavar="latest|CHECKPOINT", help="continue the run in --out")
    p.add_argument("--config", metavar="FILE", help="start from a saved train_config.json")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--no-images", action="store_true", help="skip validation images (validation loss only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def config_from_args(args: argparse.Namespace):
    """Start from the run's own config (--resume), --config, or the defaults; apply the given flags."""
    from ..train.checkpoint import read_run_config
    from ..train.config import TrainConfig

    if args.resume:
        if not args.out:
            raise CliError("--resume needs --out RUN: the run folder to continue")
        base = read_run_config(Path(args.out).expanduser())
    elif args.config:
        try:
            base = TrainConfig.from_json(Path(args.config).expanduser().read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read --config {args.config}: {exc.strerror or exc}") from None
    else:
        base = TrainConfig()
    changes: dict[str, Any] = {}
    for flag, (name, _) in CONFIG_FLAGS.items():
        value = getattr(args, _dest(flag))
        if value is not None:
            changes[name] = value
    if args.no_gradient_checkpointing:
        changes["gradient_checkpointing"] = False
    config = base.replace(**changes)
    for flag, field_name in (("steps", "stage_steps"), ("lr", "learning_rates")):
        value = getattr(args, flag)
        if value is not None and 1 <= config.stage <= 3:
            values = list(getattr(config, field_name))
            values[config.stage - 1] = value
            config = config.replace(**{field_name: tuple(values)})
    for name, flag in (("data", "--data DATASET"), ("out", "--out RUN")):
        if not getattr(config, name):
            raise CliError(f"{flag} is required")
    return config.validate()


def run(args: argparse.Namespace) -> int:
    from ..train.loop import train

    config = config_from_args(args)
    result = train(config, resume=args.resume, cpu=args.cpu, progress=not args.quiet, images=not args.no_images)
    if not result.main:
        return 0
    if result.state == "stopped":
        print(
            f"stopped at step {result.step} of {config.steps}; checkpoint {result.last_checkpoint}. "
            f"Continue with: python -m core train --out {config.out} --resume latest"
        )
    else:
        print(f"{result.final}  stage {config.stage}, {result.step} steps, {result.rows_used} rows")
    return 0
