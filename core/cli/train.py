"""`python -m core train`: one stage of the method on a dataset folder, into a run folder.

    python -m core train --data DATASET --stage 1 --models sd15 --out runs/s1
    python -m core train --data DATASET --stage 2 --out runs/s2 --init runs/s1   # on runs/s1's models
    python -m core train --out runs/s2 --resume latest          # continue after a stop or a crash

Every flag is a TrainConfig field's, generated from its Knob (defaults and ranges live there);
`--steps` and `--lr` set the chosen stage's entry; `--config FILE` starts from a saved config (the
studio writes one). Runs unchanged under `accelerate launch` or `torchrun` on several GPUs or
processes. Ctrl-C, SIGTERM or a RUN/STOP file stop it after a checkpoint, with exit status 130 (an
interrupted command's, as `sweep`'s): `train --stage 1 ... && train --stage 2 ...` goes no further.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from ..knobs import ParamsError
from ..train.config import TrainConfig, starting_config, train_knobs
from . import EXIT_INTERRUPTED, CliError
from .generate import _argparse_kwargs


def _pairs(text: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((k.strip(), int(v)) for k, v in (pair.split("=", 1) for pair in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected setting=number pairs like layers=2,heads=8, got {text!r}") from None


def _flag_kwargs(name: str, knob) -> dict[str, Any]:
    kwargs = _argparse_kwargs(name, knob, TrainConfig.__dataclass_fields__[name].default)
    if name == "seed":  # generate's --seed defaults to a random one; training's to 0
        kwargs["help"] = kwargs["help"].replace("random (printed, and stored in the PNG)", "0")
    return kwargs


# flag -> (TrainConfig field, argparse kwargs): one per field with a flag, from its Knob
CONFIG_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    k.flag: (name, _flag_kwargs(name, k)) for name, k in train_knobs().items() if k.flag
}


# TrainConfig fields set by a flag of their own making (the rest: CONFIG_FLAGS)
OTHER_FLAGS = {"stage_steps": "--steps", "learning_rates": "--lr", "projector": "--projector",
               "gradient_checkpointing": "--no-gradient-checkpointing"}  # fmt: skip


def flag_of(field_name: str) -> str:
    """The flag that sets a TrainConfig field (the field's own name when none does)."""
    flags = {name: flag for flag, (name, _) in CONFIG_FLAGS.items()} | OTHER_FLAGS
    return flags.get(field_name, field_name)


def _typed(args: argparse.Namespace, field_name: str) -> bool:
    """Whether the user gave the flag of this field (else its value came from --config or the run)."""
    if field_name in ("stage_steps", "learning_rates"):
        return getattr(args, "steps" if field_name == "stage_steps" else "lr") is not None
    if field_name == "gradient_checkpointing":
        return bool(args.no_gradient_checkpointing)
    return getattr(args, field_name, None) is not None


def _named_by_flag(exc: ParamsError, args: argparse.Namespace, config: TrainConfig) -> CliError | None:
    """A setting out of range, named by the flag the user typed (`--steps: must be ...`, not
    `stage_steps: value 1 must be ...`); None when the value came from --config or the run."""
    if not _typed(args, exc.field):
        return None
    per_stage = exc.field in ("stage_steps", "learning_rates")
    if per_stage and exc.element not in (None, config.stage):
        return None  # another stage's entry: from --config, not from --steps / --lr
    which = ""
    if exc.element is not None and not per_stage:  # a tuple flag: which of its values
        parts = train_knobs()[exc.field].parts if exc.field in train_knobs() else ()
        which = f" ({parts[exc.element - 1]})" if 0 < exc.element <= len(parts) else f" (value {exc.element})"
    return CliError(f"{flag_of(exc.field)}{which}: {exc.problem}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the projector and adapters (stage 1, 2 or 3) on a dataset folder")
    p.add_argument("--resume", metavar="latest|CHECKPOINT", help="continue the run in --out")
    p.add_argument("--config", metavar="FILE", help="start from a saved train_config.json")
    p.add_argument("--steps", type=int, help="steps of this stage (default 3000 / 2000 / 1000)")
    p.add_argument("--lr", type=float, help="learning rate of this stage (default 1e-4 / 1e-4 / 1e-5)")
    p.add_argument("--projector", type=_pairs, metavar="K=V,...", help="a fresh projector's sizes, e.g. layers=2")
    p.add_argument("--no-gradient-checkpointing", action="store_true", help="faster, more memory (stages 2-3)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--no-images", action="store_true", help="skip validation images (validation loss only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    settings = p.add_argument_group("training settings (each one a TrainConfig field)")
    for flag, (_, kwargs) in CONFIG_FLAGS.items():
        settings.add_argument(flag, default=None, **kwargs)
    p.set_defaults(run=run)


def _models_of_init(init: str | None) -> str | None:
    """Without --models, a stage goes on with the models its --init was trained with (the tiny
    demo's stage 1 would not load into the default sd15), said on stderr as `generate` says it."""
    from ..train.checkpoint import init_models, resolve_init, same_models

    if not init:
        return None
    models = init_models(resolve_init(init))
    if models is not None and not same_models(models, TrainConfig().models):
        sys.stderr.write(f"note: using the models {init} was trained with, {models} (a stage goes on with them)\n")
    return models


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Start from the run's own config (--resume), --config, or the defaults; apply the given flags."""
    from ..train.checkpoint import read_run_config

    if args.resume:
        if not args.out:
            raise CliError("--resume needs --out RUN: the run folder to continue")
        base = read_run_config(Path(args.out).expanduser())
    elif args.config:
        try:
            base = TrainConfig.from_json(Path(args.config).expanduser().read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read --config {args.config}: {exc.strerror or exc}") from None
    else:  # a new run: sized down for the tiny demo models, as the Train page starts one
        base = starting_config(getattr(args, "models", None) or _models_of_init(args.init) or TrainConfig().models)
    changes: dict[str, Any] = {}
    for name, _ in CONFIG_FLAGS.values():
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    if args.projector is not None:
        changes["projector"] = args.projector
    if args.no_gradient_checkpointing:
        changes["gradient_checkpointing"] = False
    config = base.replace(**changes)
    for flag, field_name in (("steps", "stage_steps"), ("lr", "learning_rates")):
        value = getattr(args, flag)
        if value is not None and config.stage in (1, 2, 3):
            values = list(getattr(config, field_name))
            values[config.stage - 1] = value
            config = config.replace(**{field_name: tuple(values)})
    for name, flag in (("data", "--data DATASET"), ("out", "--out RUN")):
        if not getattr(config, name):
            raise CliError(f"{flag} is required")
    try:
        config = config.validate()
    except ParamsError as exc:
        raise (_named_by_flag(exc, args, config) or exc) from None
    if args.resume:
        _check_resume_flags(args, base, config)
    return config


def _check_resume_flags(args: argparse.Namespace, saved: TrainConfig, asked: TrainConfig) -> None:
    """--resume goes on with the run's own settings: a flag that changes one is named as typed."""
    from ..train.checkpoint import changed_settings, other_settings_hint

    if differ := [flag_of(k) for k in changed_settings(saved, asked)]:
        raise CliError(
            f"--resume continues {Path(args.out).name} with the settings it started with; these flags change them: "
            f"{', '.join(differ)} ({other_settings_hint(args.out, saved)})."
        )


def run(args: argparse.Namespace) -> int:
    from ..export import check_folder
    from ..train.checkpoint import RUN_CONFIG, check_init, init_note, latest_checkpoint
    from ..train.loop import train

    config = config_from_args(args)
    check_folder(config.out, first_file=RUN_CONFIG)
    if not args.resume:
        init = check_init(config)  # refused here, before a run folder exists (train checks it again)
        if init is not None and (note := init_note(config.init, init)):
            sys.stderr.write(note + "\n")
    result = train(config, resume=args.resume, cpu=args.cpu, progress=not args.quiet, images=not args.no_images)
    if result.state == "stopped":  # not finished: `train ... && train --init` goes no further
        checkpoint = result.last_checkpoint or latest_checkpoint(result.run)  # a resumed run stopped at once
        if result.main and checkpoint is None:  # stopped before its first step: nothing to resume
            print(f"stopped before step 1 of {config.steps}: nothing trained, no checkpoint. Start it again "
                  "with the same command.")  # fmt: skip
        elif result.main:
            print(
                f"stopped at step {result.step} of {config.steps}; checkpoint {checkpoint}. "
                f"Continue with: python -m core train --out {shlex.quote(config.out)} --resume latest"
            )
        return EXIT_INTERRUPTED
    if result.main:
        print(f"{result.final}  stage {config.stage}, {result.step} steps, {result.rows_used} rows")
    return 0
