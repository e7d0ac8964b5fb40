"""CLAP2Diff core engine: audio + text -> image with Stable Diffusion 1.x. Knows nothing of the UI.

The facade: front ends (the studio's pages, scripts) import what they need from here,

    from core import Engine, GenerationParams, read_params

and every name loads its module on first use (PEP 562 module `__getattr__`), so `import core.params`
stays light (no torch, no diffusers) and only a caller that touches `core.Engine` pays for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it (one place each)
_EXPORTS: dict[str, str] = {
    # the engine and what it reports
    "Engine": "core.engine",
    "EngineError": "core.engine",
    "Listening": "core.listening",
    "ListeningKey": "core.listening",
    "LISTENING_FIELDS": "core.listening",
    "listening_key": "core.listening",
    "Phase": "core.events",
    "Stage": "core.events",
    "StatusEvent": "core.events",
    "StepInfo": "core.events",
    "Waiting": "core.events",
    # parameters
    "BLOCK_GROUPS": "core.params",
    "GenerationParams": "core.params",
    "Knob": "core.params",
    "LEVELS": "core.params",
    "MAX_SEED": "core.params",
    "ParamsError": "core.params",
    "SOURCE_MODES": "core.params",
    "STEMS": "core.params",
    "TOKENS": "core.params",
    "clip_name": "core.params",
    "knobs": "core.params",
    # results
    "GenerationResult": "core.trace",
    "HeardLabel": "core.trace",
    "Trace": "core.trace",
    # errors a user can act on, and the one "stop" signal
    "AudioError": "core.audio",
    "Cancelled": "core.cancel",
    "ExportError": "core.export",
    "ModelUnavailable": "core.models",
    "ProjectorError": "core.projector",
    "SeparationError": "core.separation",
    "UserError": "core.errors",
    # audio
    "AUDIO_TYPES": "core.audio",
    "AudioClip": "core.audio",
    "CLAP_SECONDS": "core.audio",
    "FORMATS_TEXT": "core.audio",
    "load_audio": "core.audio",
    "sample_paths": "core.samples",
    # comparisons (the Compare page, `python -m core compare`)
    "COMPARE_MODES": "core.compare",
    "Cell": "core.compare",
    "CompareRun": "core.compare",
    "Plan": "core.compare",
    "compare_files": "core.compare",
    "mode_about": "core.compare",
    "mode_label": "core.compare",
    "run_compare": "core.compare",
    # sweeps and scores (the Sweep page, `python -m core sweep`)
    "SCORE_NAMES": "core.score_names",
    "Scorer": "core.scoring",
    "Scores": "core.scoring",
    "SweepError": "core.sweep",
    "SweepPlan": "core.sweep",
    "SweepRun": "core.sweep",
    "SweepTile": "core.sweep",
    "parse_axis": "core.sweep",
    "run_sweep": "core.sweep",
    "sweep_files": "core.sweep",
    # what each part of a clip sounds like (the Spectrogram and Compare views)
    "ModeView": "core.parts",
    "PartView": "core.parts",
    "clip_overview": "core.parts",
    "MelSpectrogram": "core.spectrum",
    # training (the Train page, `python -m core train`): settings, data, a run in its own process
    "DatasetError": "core.train.dataset",
    "DatasetReport": "core.train.dataset",
    "STAGE_NAMES": "core.train.config",
    "TrainConfig": "core.train.config",
    "TrainError": "core.train.config",
    "latest_validation": "core.train.validation",
    "load_dataset": "core.train.dataset",
    "read_metrics": "core.train.metrics",
    "read_status": "core.train.metrics",
    "request_stop": "core.train.stop",
    "start_training": "core.train.launch",
    "train_knobs": "core.train.config",
    "training_alive": "core.train.launch",
    # export entry points
    "GRID_FORMAT": "core.export",
    "default_filename": "core.export",
    "extra_from_result": "core.export",
    "grid_png_bytes": "core.export",
    "png_bytes": "core.export",
    "read_grid": "core.export",
    "read_metadata": "core.export",
    "read_params": "core.export",
    "save_png": "core.export",
    "save_result": "core.export",
    "wav_bytes": "core.export",
    "write_zip": "core.export",
    "zip_bytes": "core.export",
    # editing a photo with sound (the Edit page, `python -m core edit`)
    "EditError": "core.edit.inputs",
    "EditParams": "core.edit.params",
    "EditResult": "core.edit.run",
    "ImageError": "core.images",
    "edit_photo": "core.edit.run",
    "load_mask": "core.images",
    "load_photo": "core.images",
    # the one decoded-clip cache (bytes-bounded), shared by the engine and the studio
    "CLIP_CACHE_ENV": "core.clip_cache",
    "decoded_clips": "core.clip_cache",
    "forget_clip_file": "core.clip_cache",
    "load_clip_cached": "core.clip_cache",
    # previews' fast paths (the sidebar's toggles, bench/gpu.py)
    "CompileFailed": "core.fastpaths",
    "FAST_PATHS": "core.fastpaths",
    "FastSettings": "core.fastpaths",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what IDEs and type checkers see: the same names, imported eagerly
    from .audio import AUDIO_TYPES, CLAP_SECONDS, FORMATS_TEXT, AudioClip, AudioError, load_audio
    from .cancel import Cancelled
    from .clip_cache import CLIP_CACHE_ENV, decoded_clips, forget_clip_file, load_clip_cached
    from .compare import COMPARE_MODES, Cell, CompareRun, Plan, compare_files, mode_about, mode_label, run_compare
    from .edit.inputs import EditError
    from .edit.params import EditParams
    from .edit.run import EditResult, edit_photo
    from .engine import Engine, EngineError
    from .errors import UserError
    from .events import Phase, Stage, StatusEvent, StepInfo, Waiting
    from .export import (
        GRID_FORMAT,
        ExportError,
        default_filename,
        extra_from_result,
        grid_png_bytes,
        png_bytes,
        read_grid,
        read_metadata,
        read_params,
        save_png,
        save_result,
        wav_bytes,
        write_zip,
        zip_bytes,
    )
    from .fastpaths import FAST_PATHS, CompileFailed, FastSettings
    from .images import ImageError, load_mask, load_photo
    from .listening import LISTENING_FIELDS, Listening, ListeningKey, listening_key
    from .models import ModelUnavailable
    from .params import (
        BLOCK_GROUPS,
        LEVELS,
        MAX_SEED,
        SOURCE_MODES,
        STEMS,
        TOKENS,
        GenerationParams,
        Knob,
        ParamsError,
        clip_name,
        knobs,
    )
    from .parts import ModeView, PartView, clip_overview
    from .projector import ProjectorError
    from .samples import sample_paths
    from .score_names import SCORE_NAMES
    from .scoring import Scorer, Scores
    from .separation import SeparationError
    from .spectrum import MelSpectrogram
    from .sweep import SweepError, SweepPlan, SweepRun, SweepTile, parse_axis, run_sweep, sweep_files
    from .trace import GenerationResult, HeardLabel, Trace
    from .train.config import STAGE_NAMES, TrainConfig, TrainError, train_knobs
    from .train.dataset import DatasetError, DatasetReport, load_dataset
    from .train.launch import start_training, training_alive
    from .train.metrics import read_metrics, read_status
    from .train.stop import request_stop
    from .train.validation import latest_validation
