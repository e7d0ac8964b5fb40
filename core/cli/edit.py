"""`python -m core edit`: edit a photo with sound, or reproduce an edit with `--from FILE.png`.

Every generate flag applies (the conditioning mode is `--conditioning` here: `--mode` is the edit's
mode). With `--from`, the photo (and mask) given must be the ones the edit was made from: their
SHA-256 is in the PNG, and a different file is refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..knobs import knob_of
from ..params import MODE_CHOICES
from . import CliError
from .generate import (
    _argparse_kwargs,
    _progress,
    add_param_flags,
    check_audio,
    check_device,
    check_output,
    note_other_device,
    out_help,
    params_from_args,
    writing,
)

EDIT_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {}


def _edit_flags() -> dict[str, tuple[str, dict[str, Any]]]:
    from ..edit.params import EditKnobs

    if not EDIT_FLAGS:
        for f in dataclasses.fields(EditKnobs):
            spec = knob_of(f)
            if spec.flag:
                EDIT_FLAGS[spec.flag] = (f.name, _argparse_kwargs(f.name, spec, f.default))
    return EDIT_FLAGS


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("edit", help="edit a photo with sound (or reproduce an edit with --from)")
    cmd.add_argument("--from", dest="from_png", metavar="FILE.png", help="reproduce the edit stored in a PNG")
    cmd.add_argument(
        "--out", metavar="FILE.png", default="clap2diff-edit.png",
        help=out_help("clap2diff-edit.png", "clap2diff-edit-SEED.png"),
    )  # fmt: skip
    cmd.add_argument("--force", action="store_true", help="replace a read-only --out file")
    cmd.add_argument("--device", help="cuda | cpu (default: cuda when available)")
    cmd.add_argument("--quiet", action="store_true", help="no progress on stderr")
    group = cmd.add_argument_group("edit parameters")
    for flag, (_, kwargs) in _edit_flags().items():
        group.add_argument(flag, default=None, **kwargs)
    cmd.add_argument(
        "--conditioning", dest="mode", default=None, choices=[c.value for c in MODE_CHOICES],
        help="zero-shot | trained: the audio conditioning mode (generate's --mode)",
    )  # fmt: skip
    add_param_flags(cmd, exclude=("mode", "width", "height"))  # the photo's working size (--max-side)
    cmd.add_argument("--size", "--width", "--height", dest="sized", action="append", help=argparse.SUPPRESS)
    cmd.set_defaults(run=run)


def edit_params_from_args(args: argparse.Namespace):
    """Start from --from (or the defaults), then apply every flag given. The photo and mask hashes
    of --from stay: they are what refuses a different photo or mask."""
    from ..edit.export import read_edit
    from ..edit.params import EditParams

    if getattr(args, "sized", None):
        raise CliError("an edit works at its photo's size: choose its longer side with --max-side N instead")
    generation = params_from_args(args, edit=True)
    base = read_edit(args.from_png) if args.from_png else EditParams()
    changes: dict[str, Any] = {}
    for name, _ in _edit_flags().values():
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = str(Path(value).expanduser().resolve()) if name in ("image_path", "mask_path") else value
    if args.from_png:  # the PNG names its photo and mask without folders: next to the PNG, or here
        folder = Path(args.from_png).expanduser().resolve().parent
        inputs = (("image_path", "image_sha256", "photo", "--image"), ("mask_path", "mask_sha256", "mask", "--mask"))
        for name, sha, what, flag in inputs:
            stored = getattr(base.edit, name)
            if name not in changes and stored:
                found = _recorded_file([Path(stored), folder / stored], getattr(base.edit, sha))
                if found is None:
                    raise CliError(
                        f"the {what} {stored} is neither beside {Path(args.from_png).name} nor in this folder: "
                        f"put it there, or pass it with {flag} FILE"
                    )
                changes[name] = str(found)
    return dataclasses.replace(base, generation=generation).replace(**changes).validate()


def _recorded_file(candidates: list[Path], sha256: str | None) -> Path | None:
    """The first candidate with the recorded content, else the first that exists (loading it then
    says its content differs): a namesake in the working folder never hides the file beside the PNG."""
    from ..audio import file_sha256

    existing = [p for p in candidates if p.is_file()]
    return next((p for p in existing if sha256 is None or file_sha256(p) == sha256), next(iter(existing), None))


def run(args: argparse.Namespace) -> int:
    from ..edit.inputs import load_inputs

    params = edit_params_from_args(args)
    check_device(args.device)
    out = check_output(args, f"clap2diff-edit-{params.generation.seed}.png")
    load_inputs(params)  # a bad photo or mask, or another one than --from's, fails before the models load
    check_audio(params.generation)
    from ..edit.export import save_edit
    from ..edit.run import edit_photo  # torch, diffusers: seconds, paid only once the inputs are known to be good
    from ..engine import Engine

    engine = Engine(params.generation.models, device=args.device)
    note_other_device(args.from_png, engine)
    result = edit_photo(engine, params, progress=_progress(args.quiet))
    with writing(out):
        out = save_edit(result, out)
    if not args.quiet:
        for note in result.notes:
            sys.stderr.write(f"note: {note}\n")
    width, height = result.photo.size
    print(f"{out}  {width}x{height}  seed={result.params.generation.seed}  {result.timings['total']:.1f}s")
    return 0
