"""`python -m core generate`: one image from audio + prompt, or a reproduction with `--from FILE.png`.

Every flag maps onto one GenerationParams field; flags left out keep the value from --from (when
reproducing) or GenerationParams' default.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..knobs import Knob
from ..params import MAX_SEED, RECORDED_HASHES, GenerationParams, clip_name, default, knobs, stem_map_pairs
from . import CliError, progress


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
    """WIDTHxHEIGHT, or one number for a square; a half-typed `64x` is refused, not read as 64x64."""
    w, x, h = text.strip().lower().partition("x")
    try:
        return (int(w), int(h)) if x else (int(w), int(w))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 512x512, got {text!r}") from None


def _number(value: float) -> str:
    """A bound or default as a person writes it: whole numbers in full (4294967295, not 4.29497e+09)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


RANDOM_SEED = "random (printed, and stored in the PNG)"  # generate's --seed default, as --help says it


def _argparse_kwargs(name: str, knob: Knob, default: Any) -> dict[str, Any]:
    """argparse settings for one GenerationParams field, from its Knob and its default's type."""
    kwargs: dict[str, Any] = {"metavar": knob.metavar, "dest": name}
    if knob.choices:
        kwargs["choices"] = knob.values
        kwargs.pop("metavar")
    elif name == "stem_map":
        kwargs["type"] = stem_map_pairs
    elif isinstance(default, tuple):
        kwargs["type"] = _numbers(len(default), int if isinstance(default[0], int) else float)
    elif isinstance(default, (int, float)):
        kwargs["type"] = type(default)
    shown = ",".join(f"{k}={v}" for k, v in default) if name == "stem_map" else default
    if name == "seed":
        shown = RANDOM_SEED
    elif isinstance(shown, tuple):
        shown = ",".join(_number(v) for v in shown)
    text = knob.help_for(None).replace("%", "%%")
    unit = f" {knob.unit}" if knob.unit and knob.unit != "×" else ""  # × (a factor) says nothing a bare number does not
    limits = f"{_number(knob.range[0])} to {_number(knob.range[1])}{unit}; " if knob.range else ""
    kwargs["help"] = f"{text} [{name}; {limits}default: {shown if shown not in (None, '') else 'none'}]"
    return kwargs


# flag -> (GenerationParams field, argparse kwargs): one per field, from its Knob
PARAM_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    k.flag: (name, _argparse_kwargs(name, k, default(name))) for name, k in knobs().items() if k.flag
}


def add_param_flags(
    parser: argparse.ArgumentParser, exclude: tuple[str, ...] = (), seed_default: str = RANDOM_SEED
) -> None:
    """Every GenerationParams flag (and --size), for `generate` and any command that generates;
    `exclude` names fields the command sets its own way (e.g. compare's list of source modes; an
    edit's size, which is its photo's; evaluate's clip, which is each row's). `seed_default` is
    what --help says a run without --seed uses (evaluate's is 0, not a random one)."""
    if "width" not in exclude:
        parser.add_argument("--size", type=_size, metavar="WxH", help="WIDTHxHEIGHT at once (like --width, --height)")
    params = parser.add_argument_group("generation parameters (each one a GenerationParams field)")
    for flag, (name, kwargs) in PARAM_FLAGS.items():
        if name not in exclude:
            if name == "seed":
                kwargs = {**kwargs, "help": kwargs["help"].replace(RANDOM_SEED, seed_default)}
            params.add_argument(flag, default=None, **kwargs)


def out_help(default: str, in_folder: str) -> str:
    """--out's help: the file written without --out, and the name given inside a folder."""
    return (
        f"file to write (default: {default} in the current folder); a name ending in / is a folder, "
        f"the file inside it is named after the seed ({in_folder})"
    )


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("generate", help="generate an image (or reproduce one with --from)")
    gen.add_argument("--from", dest="from_png", metavar="FILE.png", help="reproduce the parameters stored in a PNG")
    gen.add_argument(
        "--out", metavar="FILE.png", default="clap2diff.png", help=out_help("clap2diff.png", "clap2diff-SEED.png")
    )
    gen.add_argument("--force", action="store_true", help="replace a read-only --out file")
    gen.add_argument("--device", help="cuda | cpu (default: cuda when available)")
    gen.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_param_flags(gen)
    gen.set_defaults(run=run)


def params_from_args(args: argparse.Namespace, edit: bool = False) -> GenerationParams:
    """Start from --from (or the defaults), then apply every flag that was given. An edited PNG
    is refused unless `edit` (the edit command's own --from): its image needs its photo."""
    from ..export import read_metadata, read_params

    if args.from_png and not edit and "edit" in read_metadata(args.from_png):
        raise CliError(
            f"{args.from_png} is an edited photo: reproduce it with `python -m core edit --from {args.from_png}` "
            "(this command would draw new images from its settings alone)"
        )
    base = read_params(args.from_png) if args.from_png else GenerationParams(seed=random.randint(0, MAX_SEED))
    changes: dict[str, Any] = {}
    if getattr(args, "size", None) is not None:
        changes["width"], changes["height"] = args.size
    for field_name, _ in PARAM_FLAGS.values():
        value = getattr(args, field_name, None)
        if value is not None:
            changes[field_name] = value
    if "audio_path" in changes:
        # Absolute, so --from works from any folder. A clip named explicitly is the user's choice:
        # its own hash is recorded, the one stored in --from's PNG no longer applies (unless
        # --audio-sha256 pins one).
        try:
            changes["audio_path"] = str(Path(changes["audio_path"]).expanduser().resolve())
        except (OSError, RuntimeError) as exc:  # Python 3.11 raises RuntimeError for a symlink loop
            raise CliError(f"--audio {changes['audio_path']} cannot be opened ({exc})") from None
    if changes.get("checkpoint"):  # a checkpoint named is for trained mode: never silently left unused
        changes["checkpoint"] = _checkpoint_of_run(changes["checkpoint"])
        if "mode" not in changes and base.mode != "trained":
            changes["mode"] = "trained"
            sys.stderr.write(f"note: --checkpoint: trained mode ({'--conditioning' if edit else '--mode'} trained)\n")
    for chosen, digest in RECORDED_HASHES.items():  # likewise a checkpoint named explicitly: its own hash
        if chosen in changes:
            changes.setdefault(digest, None)
    params = base.replace(**changes).validate()
    if params.mode == "trained" and "checkpoint" in changes and "models" not in changes:
        params = _models_of_checkpoint(params)
    if args.from_png and base.audio_path and "audio_path" in changes and not changes.get("audio_sha256"):
        sys.stderr.write(f"note: --audio replaces the clip {args.from_png} was made from ({clip_name(base.audio_path)}): "
                         "a new image, not a reproduction\n")  # fmt: skip
    if getattr(args, "from_png", None):
        # A PNG names its clip and checkpoint without folders: find the clip by name and hash next
        # to the PNG, here, or among the samples; the checkpoint by its run there, or one folder down.
        from ..clips import locate_checkpoint, locate_clip
        from ..samples import SAMPLES_DIR

        places = [Path(args.from_png).expanduser().resolve().parent, Path.cwd()]
        if "audio_path" not in changes:
            params = locate_clip(params, [*places, SAMPLES_DIR])
        if "checkpoint" not in changes:
            params = locate_checkpoint(params, places)
    return params


def _checkpoint_of_run(path: str) -> str:
    """`--checkpoint runs/s2`, a run folder as `train --init` takes it, is its final/ (read as the
    studio's checkpoint box reads it: layout.checkpoint_of_run); a run with no final/ yet is said
    with what to name instead, or how to finish it."""
    from ..train.layout import FINAL, UnfinishedRun, checkpoint_of_run

    try:
        opened = checkpoint_of_run(path)
    except UnfinishedRun as exc:
        raise CliError(
            f"--checkpoint {exc}, or finish it with python -m core train --out {path} --resume latest"
        ) from None
    if opened.run is not None:
        sys.stderr.write(f"note: --checkpoint {path} is a training run: using its {FINAL}/\n")
    return opened.folder


def _models_of_checkpoint(params: GenerationParams) -> GenerationParams:
    """A checkpoint named without --models runs with the models it was trained with (a run trained
    on `tiny` with the default sd15 would fail to load, or load weights it does not fit)."""
    from ..train.layout import trained_models

    models = trained_models(params.checkpoint)
    if models is None or models == params.models:
        return params
    sys.stderr.write(f"note: using the models {params.checkpoint} was trained with, {models} (--models to choose)\n")
    return params.replace(models=models).validate()


def note_other_device(png: str | None, engine) -> None:
    """A PNG made on another kind of device or in another precision (fp16 on a GPU, reproduced in
    fp32 on a CPU) reproduces the picture, not its exact pixels: say so before the run."""
    if not png:
        return
    from ..export import read_metadata

    extra = read_metadata(png).get("extra") or {}
    made = (str(extra.get("device") or "").split(":")[0], str(extra.get("dtype") or ""))
    here = (str(engine.device).split(":")[0], str(engine.dtype).removeprefix("torch."))
    # a PNG may record only one of the two (a hand-made or older file): compare and name what it records
    differs = any(m and m != h for m, h in zip(made, here))
    if differs:
        words = ("on {}", "in {}")
        was = " ".join(w.format(m) for w, m in zip(words, made) if m)
        now = " ".join(w.format(h) for w, h, m in zip(words, here, made) if m)
        sys.stderr.write(f"note: {Path(png).name} was made {was}, this run is {now}: "
                         "the same picture, but its pixels can differ slightly\n")  # fmt: skip


def _progress(quiet: bool):
    if quiet:
        return None

    def report(info) -> None:
        level = max(info.levels, key=info.levels.get) if info.levels else "-"
        progress.show(f"step {info.step:>3}/{info.total}  {level:<10}  {info.elapsed:6.1f}s")
        if info.step == info.total:
            progress.end()

    return report


def check_device(device: str | None) -> None:
    if device is None:
        return
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        kind = None
    if kind not in ("cpu", "cuda"):  # meta, mps, xla...: devices the engine is not built or tested for
        raise CliError(f"unknown device {device!r}: use cpu or cuda (or cuda:N)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise CliError("CUDA is not available on this machine: leave out --device, or use --device cpu")


def check_audio(params: GenerationParams) -> None:
    """A clip that cannot be used (missing, not audio, silent, not the version --from recorded)
    fails before the models load, which takes seconds to a minute, not after. The decode is kept
    in the clip cache: the engine does not decode it again."""
    if params.audio_path is not None:
        from ..clip_cache import load_clip_checked

        load_clip_checked(params.audio_path, params.audio_sha256)


def check_output(args: argparse.Namespace, default_name: str) -> Path:
    """Fail before the generation, not after it, when the image could not be written (a device,
    a FIFO, a read-only file without --force, a name too long); `--out DIR/` writes `default_name`."""
    from ..export import check_target

    target = check_target(args.out, force=args.force, default_name=default_name)
    if target.suffix.lower() != ".png":  # PNG bytes under another name would mislead every viewer
        raise CliError(
            f"--out {args.out}: the image is written as a PNG (its settings travel in the PNG's metadata): "
            f"name it {target.with_suffix('.png').name}" + ("" if target.suffix else f", or {args.out}/ for a folder")
        )
    return target


@contextlib.contextmanager
def writing(what: str | Path) -> Iterator[None]:
    """The result's write, an OSError in it the command's one line: --out was checked before the
    run, but a disk can fill (or a folder go) while the models run."""
    try:
        yield
    except OSError as exc:
        raise CliError(
            f"could not write {what}: {exc.strerror or exc} (free some space, or choose another --out)"
        ) from None


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    check_device(args.device)
    out = check_output(args, f"clap2diff-{params.seed}.png")
    check_audio(params)
    from ..engine import Engine  # torch, diffusers: seconds, paid only once the input is known to be good
    from ..export import save_result

    engine = Engine(params.models, device=args.device)
    note_other_device(args.from_png, engine)
    result = engine.generate(params, progress=_progress(args.quiet))
    with writing(out):
        out = save_result(result, out)
    heard = result.trace.heard.get("mix") or next(iter(result.trace.heard.values()), [])
    if heard and not args.quiet:
        sys.stderr.write("heard: " + ", ".join(f"{h.label} ({h.weight:.2f})" for h in heard) + "\n")
    print(f"{out}  seed={result.params.seed}  {result.timings['total']:.1f}s on {result.device}")
    return 0
