"""X/Y/Z sweeps over any knob: axes (axes.py), the plan (plan.py), the run on one engine (run.py),
the files (files.py).

The axes and the plan load with the package; the run and the files (torch, the engine's exports)
load on first use, so the CLI checks a sweep's flags and clips before it pays for torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .axes import MAX_TILES, MAX_VALUES, Axis, SweepError, check_axes, parse_axis
from .plan import CSV_FILE, ZIP_FILE, SweepPlan

_LATER = {
    **dict.fromkeys(
        ("SweepRun", "SweepTile", "heard_overall", "needs_twin", "no_audio_twin", "run_sweep", "sweep_steps"), "run"
    ),
    **dict.fromkeys(("grid_name", "grids", "save_sweep", "scores_csv", "sweep_files", "tile_name"), "files"),
}


def __getattr__(name: str) -> Any:
    if name not in _LATER:
        raise AttributeError(f"module 'core.sweep' has no attribute {name!r}")
    return getattr(import_module(f".{_LATER[name]}", __name__), name)


if TYPE_CHECKING:
    from .files import grid_name, grids, save_sweep, scores_csv, sweep_files, tile_name
    from .run import SweepRun, SweepTile, heard_overall, needs_twin, no_audio_twin, run_sweep, sweep_steps

__all__ = [
    "CSV_FILE",
    "MAX_TILES",
    "MAX_VALUES",
    "ZIP_FILE",
    "Axis",
    "SweepError",
    "SweepPlan",
    "SweepRun",
    "SweepTile",
    "check_axes",
    "grid_name",
    "grids",
    "heard_overall",
    "needs_twin",
    "no_audio_twin",
    "parse_axis",
    "run_sweep",
    "save_sweep",
    "scores_csv",
    "sweep_files",
    "sweep_steps",
    "tile_name",
]
