"""Run folders, step checkpoints and the final export the engine loads.

    RUN/train_config.json              the TrainConfig the run started with (resume uses it)
    RUN/checkpoints/step-0000500/      accelerate's state (model, optimizer, LR schedule, RNG)
                                       + the engine's files + train_state.json (written last)
    RUN/final/                         config.json + projector.safetensors + adapters.safetensors
                                       + README.md (model card) + training.json

A checkpoint counts only once its `train_state.json` exists, and that file is written last (each
file through the project's one atomic write), so a run killed while saving leaves a folder without
it, which is ignored: the previous checkpoint stays the latest, and the next save at that step
starts by removing the marker. `final/` is written the same way, `training.json` last. The engine
loads `final/` (or any step checkpoint) as is: `generate --mode trained --checkpoint RUN/final`.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
from pathlib import Path

from ..attention import AudioAdapters
from ..export.atomic import atomic_write
from ..projector import ADAPTERS_FILE, CONFIG_FILE, WEIGHTS_FILE, AudioProjector, load_projector, save_projector
from .config import TrainConfig, TrainError
from .layout import CHECKPOINTS, FINAL, RUN_CONFIG, STEP_DIR, TRAINING_FILE, step_name, trained_models

STATE_FILE = "train_state.json"
CARD_FILE = "README.md"
LOW_SPACE = 64 << 20  # bytes: a checkpoint that failed with less left was cut off by the full disk


def _free_bytes(folder: Path) -> int:
    """What the user may still write on the disk holding `folder` (statvfs's f_bavail)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return LOW_SPACE


def list_checkpoints(run: str | Path) -> list[tuple[int, Path]]:
    """Complete step checkpoints of a run, oldest first (a folder counts once its state file exists)."""
    folder = Path(run) / CHECKPOINTS
    found = []
    for child in folder.iterdir() if folder.is_dir() else []:
        match = STEP_DIR.match(child.name)
        if match and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run: str | Path) -> Path | None:
    found = list_checkpoints(run)
    return found[-1][1] if found else None


def read_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / STATE_FILE).read_text())


def resolve_resume(run: Path, resume: str) -> Path:
    """'latest' or a checkpoint folder -> the checkpoint to continue from; TrainError if none. A
    folder a hint names to type again is named as given (`runs/s1`, as --out had it)."""
    if resume == "latest":
        if (run / FINAL / TRAINING_FILE).is_file():
            raise TrainError(
                f"{run.name} is finished (its {FINAL}/ is written): nothing to resume; the next stage starts "
                f"from it with --init {shlex.quote(str(run))}."
            )
        found = latest_checkpoint(run)
        if found is None:
            raise TrainError(
                f"{run.name} has no complete checkpoint to resume from: start the run without --resume "
                "(or check --out)."
            )
        return found
    path = Path(resume).expanduser()
    if not (path / STATE_FILE).is_file():
        raise TrainError(f"{resume} is not a training checkpoint (no {STATE_FILE}): use --resume latest.")
    step = read_state(path).get("step", 0)
    later = [p.name for s, p in list_checkpoints(run) if s > step]
    if later:  # their steps would be written again: two runs' checkpoints and metrics in one folder
        raise TrainError(
            f"{run.name} has checkpoints after {path.name} ({', '.join(later)}): going on from {path.name} would "
            f"mix two trainings in one run. Use --resume latest, or move the later checkpoints out of "
            f"{run / CHECKPOINTS}/ first."
        )
    return path


def check_fresh_run(run: Path) -> None:
    """A new run must not write over another one: say how to continue it instead."""
    if (run / FINAL / TRAINING_FILE).is_file():  # finished: nothing to continue
        raise TrainError(
            f"{run.name} already holds a finished training run (its {FINAL}/): choose another --out folder "
            f"(the next stage starts from it with --init {shlex.quote(str(run))})."
        )
    if list_checkpoints(run):
        raise TrainError(
            f"{run.name} already holds a training run: continue it with --resume latest, "
            "or choose another --out folder."
        )


def write_run_config(run: Path, config: TrainConfig) -> None:
    atomic_write(run / RUN_CONFIG, config.to_json().encode())


def read_run_config(run: Path) -> TrainConfig:
    path = run / RUN_CONFIG
    if not path.is_file():
        raise TrainError(f"{run.name} is not a training run (no {RUN_CONFIG}): check --out.")
    return TrainConfig.from_json(path.read_text())


def changed_settings(saved: TrainConfig, asked: TrainConfig) -> list[str]:
    """The fields a resume would change: all but `out`, the folder resumed, however named now
    (./runs/a, a moved run). The CLI names them by their flags."""
    before, now = saved.to_dict(), asked.to_dict()
    return [k for k, v in before.items() if k != "out" and now[k] != v]


def other_settings_hint(run: str, saved: TrainConfig) -> str:
    """What a resume refused for other settings can do instead: more steps or another learning rate
    go on from the run's weights in a new run (its optimizer starts anew), not in this one."""
    new = f"--init {shlex.quote(run)} --data {shlex.quote(saved.data)} --out NEW"
    return f"leave them out; to train on with them, start a new run from its weights: {new}"


def check_resume_config(run: Path, config: TrainConfig) -> None:
    """--resume goes on with the settings the run started with."""
    saved = read_run_config(run)
    if differ := changed_settings(saved, config):
        raise TrainError(
            f"--resume continues {run.name} with the settings it started with; these differ: {', '.join(differ)} "
            f"({other_settings_hint(config.out, saved)})."
        )


# -- engine files -------------------------------------------------------------------------------------
def save_adapters(adapters: AudioAdapters, folder: Path) -> None:
    from safetensors.torch import save

    state = {k: v.float().contiguous() for k, v in adapters.trained_state().items()}
    atomic_write(Path(folder) / ADAPTERS_FILE, save(state))


def export_engine_files(projector: AudioProjector, adapters: AudioAdapters, folder: Path) -> Path:
    """config.json + projector.safetensors + adapters.safetensors: exactly what Engine loads."""
    save_projector(projector, folder)
    save_adapters(adapters, folder)
    return folder


def resolve_init(path: str | Path) -> Path:
    """--init accepts a run folder (its final/ or latest checkpoint) or a checkpoint folder."""
    path = Path(path).expanduser()
    for candidate in (path, path / FINAL, latest_checkpoint(path) if path.is_dir() else None):
        cut_short = candidate is not None and candidate.name == FINAL and not (candidate / TRAINING_FILE).is_file()
        if cut_short or candidate is None:  # a final/ whose writing was killed: not one (write_final)
            continue
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    raise TrainError(
        f"--init {path}: no checkpoint there (expected {CONFIG_FILE} + {WEIGHTS_FILE}, or a run with {FINAL}/): "
        "point it at the previous stage's run folder."
    )


def init_note(init: str, folder: Path) -> str | None:
    """What to say when --init names a run with no final/ and its latest checkpoint is taken instead
    (a stage stopped half-way): which one, and how far that run had got."""
    path = Path(init).expanduser()
    if folder.name == FINAL or folder.parent.parent != path:
        return None
    from .metrics import read_status

    status = read_status(path) or {}
    state, step, total = status.get("state"), status.get("step"), status.get("total")
    how = f" ({state} at step {step} of {total})" if state in ("stopped", "failed") and step and total else ""
    return f"note: {init} has no {FINAL}/{how}: starting from its checkpoint {folder.name}"


def init_models(folder: Path) -> str | None:
    """The models an --init checkpoint was trained with, as this machine names them: its run's
    train_config.json when that names the same models as the checkpoint's training.json (a local
    models folder there by its path, in training.json by its name only), else `trained_models`."""
    recorded = trained_models(folder)
    run = folder.parent if folder.name == FINAL else folder.parent.parent
    try:
        here = json.loads((run / RUN_CONFIG).read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError, TypeError):
        return recorded
    if isinstance(here, str) and recorded is not None and same_models(here, recorded):
        return here
    return recorded


def same_models(a: str, b: str) -> bool:
    """Whether two models specs name the same models ('sd15' and its hub id; a folder by its name)."""
    from ..models import SD15_HUB_ID
    from ..params import models_name

    def canonical(spec: str) -> str:
        spec = spec.strip()
        return SD15_HUB_ID if spec in ("sd15", SD15_HUB_ID) else models_name(spec)

    return canonical(a) == canonical(b)


def check_init(config: TrainConfig) -> Path | None:
    """The checkpoint --init names (None without one); TrainError when there is none, or when it was
    trained on other models than this run's: a stage goes on from the previous one on the same base
    models (its projector's tokens were aligned with their text encoder, its adapters trained on
    their UNet; the tiny demo's widths fit no real model's), so a mix is refused before any loads."""
    if not config.init:
        return None
    from ..params import models_name

    folder = resolve_init(config.init)
    trained = init_models(folder)
    if trained is not None and not same_models(trained, config.models):
        was, asked = models_name(trained), models_name(config.models)
        raise TrainError(
            f"--init {config.init} was trained on the models {was}, not {asked}: a stage goes on with the models "
            f"the previous stage trained on. Train this stage on {was} (train takes --init's models when "
            f"--models is left out), or start from stage 1 on {asked}."
        )
    return folder


def load_init(folder: Path, adapters: AudioAdapters, input_dim: int, output_dim: int) -> AudioProjector:
    """The previous stage's projector (and adapters, when it has them) as this stage's start. The
    adapters are loaded in float32, as they train: a UNet loaded in fp16 (mixed precision) would
    otherwise round the stage-2 weights before stage 3 ever saw them."""
    projector = load_projector(folder, input_dim=input_dim, output_dim=output_dim)
    path = folder / ADAPTERS_FILE
    if path.is_file():
        from safetensors.torch import load_file

        for processor in adapters.trained_processors().values():
            processor.float()
        try:
            adapters.load_trained_state(load_file(str(path)))
        except Exception as exc:  # noqa: BLE001 - unreadable or mismatched: the same to the user
            raise TrainError(f"--init {folder.name}/{ADAPTERS_FILE} cannot be used: {exc}") from None
    return projector


# -- step checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(accelerator, run: Path, step: int, state: dict, export, keep: int) -> Path:
    """Every process calls this (accelerate saves each process's RNG state); the main process
    writes the engine's files (`export(folder)`), then the marker, then prunes old checkpoints."""
    folder = Path(run) / CHECKPOINTS / step_name(step)
    try:
        if accelerator.is_main_process:
            (folder / STATE_FILE).unlink(missing_ok=True)  # incomplete until the marker is written again
            folder.mkdir(parents=True, exist_ok=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(folder))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            export(folder)
            atomic_write(folder / STATE_FILE, json.dumps(state, indent=2).encode())  # last: marks it complete
    except Exception as exc:  # a full disk: torch and safetensors say it in errors of their own
        full = not isinstance(exc, OSError) and _free_bytes(folder.parent) < LOW_SPACE
        if accelerator.is_main_process:  # half saved, of no use: its space lets the status say why
            shutil.rmtree(folder, ignore_errors=True)
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder)) from exc
        raise
    if accelerator.is_main_process:
        complete = list_checkpoints(run)
        stale = [old for _, old in complete[:-keep] if old != folder]  # never the one just saved
        stale += [p for p in folder.parent.iterdir() if p not in dict(complete).values() and p != folder]
        for old in stale:
            shutil.rmtree(old, ignore_errors=True)  # old checkpoints, and folders a killed save left
    accelerator.wait_for_everyone()
    return folder


STORAGE_ERRNOS = {errno.ENOSPC: "free some space on its disk", errno.EDQUOT: "free some space on its disk",
                  errno.EROFS: "make its folder writable", errno.EACCES: "make its folder writable",
                  errno.EPERM: "make its folder writable"}  # fmt: skip
_DOING = {"preparing": "computing the dataset's features", "saving": "saving a checkpoint",
          "validating": "writing validation images"}  # fmt: skip


def write_refused(exc: BaseException, run: Path, state: str) -> TrainError | None:
    """A write the disk refused (full, over quota, read-only) while the run was in `state`, said as
    what to do and where the run can go on from, not as a traceback; None for any other error."""
    if not isinstance(exc, OSError) or exc.errno not in STORAGE_ERRNOS:
        return None
    file = f" ({Path(exc.filename).name})" if exc.filename else ""
    latest = latest_checkpoint(run)
    then = (
        f"then resume it (--resume latest, or Resume on the Train page): it goes on from {latest.name}"
        if latest is not None
        else "then start it again: it had saved no checkpoint"
    )
    doing = _DOING.get(state, "writing the run's files")
    return TrainError(f"{run.name}: {exc.strerror or exc} while {doing}{file}: {STORAGE_ERRNOS[exc.errno]}, {then}.")


def write_final(run: Path, export, card: str, training: dict) -> Path:
    """RUN/final/: the engine's files, the model card, then training.json (the marker) last."""
    final = Path(run) / FINAL
    (final / TRAINING_FILE).unlink(missing_ok=True)
    export(final)
    atomic_write(final / CARD_FILE, card.encode())
    atomic_write(final / TRAINING_FILE, json.dumps(training, indent=2, ensure_ascii=False).encode())
    return final


__all__ = [
    "CARD_FILE",
    "CHECKPOINTS",
    "FINAL",
    "RUN_CONFIG",
    "STATE_FILE",
    "check_fresh_run",
    "check_init",
    "changed_settings",
    "check_resume_config",
    "export_engine_files",
    "latest_checkpoint",
    "init_models",
    "init_note",
    "list_checkpoints",
    "load_init",
    "other_settings_hint",
    "read_run_config",
    "read_state",
    "resolve_init",
    "resolve_resume",
    "save_adapters",
    "same_models",
    "save_checkpoint",
    "step_name",
    "write_final",
    "write_refused",
    "write_run_config",
]
