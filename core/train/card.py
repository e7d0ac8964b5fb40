"""The model card (RUN/final/README.md) and training.json: what was trained, on what, how well.

Both are meant to travel with the checkpoint, so they name folders by their last part only: no
path of the machine the run happened on ends up in a shared file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..params import models_name
from .config import STAGE_NAMES, TrainConfig
from .layout import checkpoint_name


def _name(value: str | None) -> str | None:
    return Path(value).expanduser().name if value else value


def shareable_config(config: TrainConfig) -> dict[str, Any]:
    """The config with every folder reduced to its name (a hub id or 'tiny' stays as it is)."""
    data = config.to_dict()
    for key in ("data", "out", "cache"):
        data[key] = _name(data[key])
    data["init"] = data["init"] and checkpoint_name(data["init"])  # 's1/final' as a PNG names it
    data["models"] = models_name(config.models)  # as a PNG names them
    return data


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def model_card(config: TrainConfig, summary: dict[str, Any]) -> str:
    shared = shareable_config(config)
    gates = summary.get("gates") or {}
    lines = [
        f"# CLAP2Diff audio adapters — stage {config.stage} ({STAGE_NAMES[config.stage]})",
        "",
        "Audio conditioning for Stable Diffusion 1.x trained with CLAP2Diff Studio: an `AudioProjector`",
        "(CLAP embedding -> 77 tokens) and gated cross-attention adapters (own K/V, tanh gate).",
        "",
        "## Use",
        "```",
        f"python -m core generate --mode trained --checkpoint {shared['out']}/final --audio clip.wav "
        f"--prompt 'a city' --models {shared['models']}",
        "```",
        f"(from the folder that holds the run `{shared['out']}`; or give this folder's full path)",
        "Generate with the hierarchy and schedule it was trained with (below) for the results it was trained for.",
        "",
        "## Data",
        f"- dataset: `{shared['data']}` — {summary.get('rows_used', 0)} rows used, "
        f"{summary.get('rows_skipped', 0)} skipped",
        f"- base models: `{shared['models']}`" + (f"; started from `{shared['init']}`" if shared["init"] else ""),
        "",
        "## Training",
        f"- stage {config.stage}: {summary.get('steps_done', 0)} of {config.steps} steps, "
        f"global batch {summary.get('global_batch', config.batch_size)} "
        f"({summary.get('processes', 1)} process(es) x {config.batch_size} x {config.grad_accum} accumulation)",
        f"- learning rate {config.lr:g} ({config.lr_schedule}, {config.warmup_steps} warm-up steps), "
        f"mixed precision {summary.get('mixed_precision', config.mixed_precision)}, seed {config.seed}",
        f"- loss: first {_fmt(summary.get('first_loss'))}, last {_fmt(summary.get('last_loss'))}; "
        f"validation loss: start {_fmt(summary.get('first_val_loss'))}, end {_fmt(summary.get('last_val_loss'))}",
        f"- time: {summary.get('seconds', 0.0):.0f} s; finished {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
    ]
    if config.stage == 3:
        lines.append(f"- temperature annealed {config.temperature[0]:g} -> {config.temperature[1]:g}")
    if gates:
        lines.append(
            "- learned gates, tanh(g) mean per block group: " + ", ".join(f"{g} {v:.4f}" for g, v in gates.items())
        )
    lines += [
        "",
        "## Hierarchy and schedule (as at inference)",
        f"- norm target {config.norm_target:g} ({config.norm_measure}), split {list(config.split)}, "
        f"level weights {list(config.level_weights)}",
        f"- switch points {list(config.switch_points)} ({config.switch_style}), gate scales {list(config.gate_scales)}",
        "",
        "Files: `config.json` + `projector.safetensors` (projector), `adapters.safetensors` (adapters), "
        "`training.json` (every setting).",
        "",
    ]
    return "\n".join(lines)


__all__ = ["model_card", "shareable_config"]
