"""Validation: a fixed-noise loss on fixed clips, and images made by the engine itself.

The validation loss uses the first `val_rows` usable rows at fixed points of the trajectory, with
their caption and without, with noise from fixed seeds: the same numbers at every validation, so
its curve shows learning rather than sampling noise. It always uses the inference schedule.

The images go through `Engine.generate` in trained mode from freshly exported checkpoint files,
so what they show is exactly what a user will get from the checkpoint. The engine shares the
training's models (no second copy); it is built before the training installs its adapters, so
it puts the UNet's original processors back after each image, and the training reinstalls its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch

from ..export.atomic import atomic_write
from .checkpoint import step_name
from .config import TrainConfig

VALIDATION = "validation"


class Validator:
    def __init__(self, run: Path, config: TrainConfig, bundle, samples, images: bool):
        self.run = Path(run)
        self.config = config
        self.samples = samples
        self.indices = list(range(min(config.val_rows, len(samples))))
        self.engine = None
        if images and self.indices:
            from ..engine import Engine

            self.engine = Engine(bundle=bundle)

    @torch.no_grad()
    def loss(self, model, maker, blend_table, chunk: int) -> float | None:
        """Mean loss of the fixed validation batch, `chunk` samples per forward."""
        if not self.indices:
            return None
        batch = maker.validation_batch(self.indices, blend_table)
        n = next(iter(batch.values())).shape[0]
        losses = [model({k: v[i : i + chunk] for k, v in batch.items()})["loss"].float() for i in range(0, n, chunk)]
        return float(torch.cat(losses).mean())

    def images(self, step: int, export: Callable[[Path], object], pause: Callable[[], object], resume) -> Path | None:
        """One image per validation clip (prompt "", the run's hierarchy), as PNGs in
        RUN/validation/step-N/. `pause`/`resume` take the training's adapters off the UNet and back."""
        if self.engine is None:
            return None
        weights = self.run / VALIDATION / ".weights"
        export(weights)
        folder = self.run / VALIDATION / step_name(step)
        base = self.config.generation_params().replace(
            mode="trained",
            checkpoint=str(weights),
            steps=self.config.val_steps,
            width=self.config.resolution,
            height=self.config.resolution,
            seed=self.config.seed,
        )
        pause()
        try:
            for index in self.indices:
                row = self.samples[index].row
                result = self.engine.generate(base.replace(audio_path=str(row.audio)))
                buffer = io.BytesIO()
                result.image.save(buffer, format="PNG")
                atomic_write(folder / f"row-{row.line:05d}.png", buffer.getvalue())
        finally:
            resume()
        return folder


def latest_validation(run: str | Path) -> Path | None:
    """The newest RUN/validation/step-N/ folder with images (for the studio)."""
    root = Path(run) / VALIDATION
    folders = sorted(p for p in root.glob("step-*") if p.is_dir() and any(p.glob("*.png"))) if root.is_dir() else []
    return folders[-1] if folders else None


__all__ = ["VALIDATION", "Validator", "latest_validation"]
