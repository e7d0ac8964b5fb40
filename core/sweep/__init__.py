"""X/Y/Z sweeps over any knob: axes (axes.py), the run on one engine (run.py), the files (files.py)."""

from .axes import MAX_TILES, MAX_VALUES, Axis, SweepError, check_axes, parse_axis
from .files import CSV_FILE, ZIP_FILE, grid_name, grids, save_sweep, scores_csv, sweep_files, tile_name
from .run import SweepPlan, SweepRun, SweepTile, heard_overall, run_sweep

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
    "parse_axis",
    "run_sweep",
    "save_sweep",
    "scores_csv",
    "sweep_files",
    "tile_name",
]
