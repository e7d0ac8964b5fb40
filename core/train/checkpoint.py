"""Run folders, step checkpoints and the final export the engine loads.

    RUN/train_config.json              the TrainConfig the run started with (resume uses it)
    RUN/checkpoints/step-0000500/      accelerate's state (model, optimizer, LR schedule, RNG)
                                       + the engine's files + train_state.json (written last)
    RUN/final/                         config.json + projector.safetensors + adapters.safetensors
                                       + README.md (model card) + training.json

A checkpoint is built in `checkpoints/.partial-step-N/` and renamed into place only when complete
(a rename within one folder is atomic), so a run killed while saving leaves the previous
checkpoint as the latest; leftover partial folders are ignored and removed by the next save. Every
single file is written through the project's atomic write. The engine loads `final/` (or any step
checkpoint) as is: `generate --mode trained --checkpoint RUN/final`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..attention import AudioAdapters
from ..export import _atomic_write
from ..projector import ADAPTERS_FILE, CONFIG_FILE, WEIGHTS_FILE, AudioProjector, load_projector, save_projector
from .config import TrainConfig, TrainError

CHECKPOINTS = "checkpoints"
FINAL = "final"
RUN_CONFIG = "train_config.json"
STATE_FILE = "train_state.json"
CARD_FILE = "README.md"
TRAINING_FILE = "training.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(run: str | Path) -> list[tuple[int, Path]]:
    """Complete step checkpoints of a run, oldest first (a folder counts once its state file exists)."""
    folder = Path(run) / CHECKPOINTS
    found = []
    for child in folder.iterdir() if folder.is_dir() else []:
        match = _STEP_DIR.match(child.name)
        if match and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run: str | Path) -> Path | None:
    found = list_checkpoints(run)
    return found[-1][1] if found else None


def read_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / STATE_FILE).read_text())


def resolve_resume(run: Path, resume: str) -> Path:
    """'latest' or a checkpoint folder -> the checkpoint to continue from; TrainError if none."""
    if resume == "latest":
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
    return path


def check_fresh_run(run: Path) -> None:
    """A new run must not write over another one: say how to continue it instead."""
    if list_checkpoints(run) or (run / FINAL).is_dir():
        raise TrainError(
            f"{run.name} already holds a training run: continue it with --resume latest, "
            "or choose another --out folder."
        )


def write_run_config(run: Path, config: TrainConfig) -> None:
    _atomic_write(run / RUN_CONFIG, config.to_json().encode())


def read_run_config(run: Path) -> TrainConfig:
    path = run / RUN_CONFIG
    if not path.is_file():
        raise TrainError(f"{run.name} is not a training run (no {RUN_CONFIG}): check --out.")
    return TrainConfig.from_json(path.read_text())


# -- engine files -------------------------------------------------------------------------------------
def save_adapters(adapters: AudioAdapters, folder: Path) -> None:
    from safetensors.torch import save

    state = {k: v.float().contiguous() for k, v in adapters.trained_state().items()}
    _atomic_write(Path(folder) / ADAPTERS_FILE, save(state))


def export_engine_files(projector: AudioProjector, adapters: AudioAdapters, folder: Path) -> Path:
    """config.json + projector.safetensors + adapters.safetensors: exactly what Engine loads."""
    save_projector(projector, folder)
    save_adapters(adapters, folder)
    return folder


def resolve_init(path: str | Path) -> Path:
    """--init accepts a run folder (its final/ or latest checkpoint) or a checkpoint folder."""
    path = Path(path).expanduser()
    for candidate in (path, path / FINAL, latest_checkpoint(path) if path.is_dir() else None):
        if candidate is not None and (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    raise TrainError(
        f"--init {path}: no checkpoint there (expected {CONFIG_FILE} + {WEIGHTS_FILE}, or a run with {FINAL}/): "
        "point it at the previous stage's run folder."
    )


def load_init(folder: Path, adapters: AudioAdapters, input_dim: int, output_dim: int) -> AudioProjector:
    """The previous stage's projector (and adapters, when it has them) as this stage's start."""
    projector = load_projector(folder, input_dim=input_dim, output_dim=output_dim)
    path = folder / ADAPTERS_FILE
    if path.is_file():
        from safetensors.torch import load_file

        try:
            adapters.load_trained_state(load_file(str(path)))
        except Exception as exc:  # noqa: BLE001 - unreadable or mismatched: the same to the user
            raise TrainError(f"--init {folder.name}/{ADAPTERS_FILE} cannot be used: {exc}") from None
    return projector


# -- step checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(accelerator, run: Path, step: int, state: dict, export, keep: int) -> Path:
    """Every process calls this (accelerate saves each process's RNG state); only the main process
    renames the finished folder into place and prunes old checkpoints. `export(folder)` writes the
    engine's files."""
    root = Path(run) / CHECKPOINTS
    partial = root / f".partial-{step_name(step)}"
    final = root / step_name(step)
    if accelerator.is_main_process:
        for stale in root.glob(".partial-*") if root.is_dir() else []:
            shutil.rmtree(stale, ignore_errors=True)
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        export(partial)
        _atomic_write(partial / STATE_FILE, json.dumps(state, indent=2).encode())  # last: marks it complete
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        for _, old in list_checkpoints(run)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def write_final(run: Path, export, card: str, training: dict) -> Path:
    """RUN/final/, swapped in whole: built beside it, then renamed."""
    run = Path(run)
    partial, final, old = run / f".{FINAL}.partial", run / FINAL, run / f".{FINAL}.old"
    for stale in (partial, old):
        shutil.rmtree(stale, ignore_errors=True)
    partial.mkdir(parents=True)
    export(partial)
    _atomic_write(partial / CARD_FILE, card.encode())
    _atomic_write(partial / TRAINING_FILE, json.dumps(training, indent=2, ensure_ascii=False).encode())
    if final.exists():
        final.rename(old)
    partial.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


__all__ = [
    "CARD_FILE",
    "CHECKPOINTS",
    "FINAL",
    "RUN_CONFIG",
    "STATE_FILE",
    "check_fresh_run",
    "export_engine_files",
    "latest_checkpoint",
    "list_checkpoints",
    "load_init",
    "read_run_config",
    "read_state",
    "resolve_init",
    "resolve_resume",
    "save_adapters",
    "save_checkpoint",
    "step_name",
    "write_final",
    "write_run_config",
]
