"""Which samples, noise and timesteps each training step sees: a pure function of (seed, position).

Every random choice of a sample (its place in the epoch's shuffle, its noise, its timestep, whether
its caption is dropped) comes from a generator seeded by the run's seed and the sample's global
position in the stream of samples, never from a process-wide RNG. Hence:

- resuming at step k gives step k+1 exactly what the uninterrupted run gave it;
- N processes with batch b see, together, the same global batch as one process with batch N*b
  (rank r takes positions [r*b, (r+1)*b) of it), with the same noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .features import FeatureStore, Sample

VAL_TIMESTEP_FRACTIONS = (0.125, 0.375, 0.625, 0.875)  # fixed points of the trajectory for val loss


def _seed(*parts: object) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass
class BatchPlan:
    """Global positions of the samples of one micro-batch, and which sample sits at each."""

    n_samples: int
    seed: int
    per_process: int
    processes: int = 1
    grad_accum: int = 1

    def __post_init__(self) -> None:
        self._perms: dict[int, torch.Tensor] = {}

    @property
    def global_batch(self) -> int:
        return self.per_process * self.processes

    def positions(self, step: int, micro: int, rank: int) -> list[int]:
        first = ((step * self.grad_accum) + micro) * self.global_batch + rank * self.per_process
        return list(range(first, first + self.per_process))

    def sample_index(self, position: int) -> int:
        epoch, offset = divmod(position, self.n_samples)
        perm = self._perms.get(epoch)
        if perm is None:
            g = torch.Generator().manual_seed(_seed(self.seed, "epoch", epoch))
            perm = torch.randperm(self.n_samples, generator=g)
            self._perms = {epoch: perm}  # positions only move forward: keep one epoch
        return int(perm[offset])


class BatchMaker:
    """Assembles the tensors of a micro-batch from the feature cache (on CPU, then to the device)."""

    def __init__(
        self,
        samples: Sequence[Sample],
        store: FeatureStore,
        empty_text_key: str,
        seed: int,
        caption_dropout: float,
        num_timesteps: int,
        device,
    ):
        self.samples = samples
        self.store = store
        self.empty_text_key = empty_text_key
        self.seed = seed
        self.caption_dropout = caption_dropout
        self.num_timesteps = num_timesteps
        self.device = device

    def batch(self, positions: Sequence[int], indices: Sequence[int], blend_table: torch.Tensor | None):
        """Training batch: per sample, noise/timestep/caption dropout from its own seeded generator."""
        rows = []
        for position, index in zip(positions, indices):
            g = torch.Generator().manual_seed(_seed(self.seed, "sample", position))
            rows.append(self._row(self.samples[index], g, blend_table, timestep=None, drop=None))
        return self._stack(rows)

    def validation_batch(self, indices: Sequence[int], blend_table: torch.Tensor | None):
        """Fixed validation set: each row at fixed trajectory points, with its caption and without."""
        rows = []
        for index in indices:
            for k, fraction in enumerate(VAL_TIMESTEP_FRACTIONS):
                t = int(self.num_timesteps * (1.0 - fraction))
                for drop in (False, True):
                    g = torch.Generator().manual_seed(_seed(self.seed, "val", index, k, drop))
                    rows.append(self._row(self.samples[index], g, blend_table, timestep=t, drop=drop))
        return self._stack(rows)

    def _row(self, sample: Sample, g: torch.Generator, blend_table, timestep: int | None, drop: bool | None):
        row = {"clap": self.store.get("clap", sample.clap).float(), "text": self.store.get("text", sample.text)}
        if sample.latent is None or blend_table is None:
            return row
        latent = self.store.get("latent", sample.latent)
        noise = torch.randn(latent.shape, generator=g, dtype=torch.float32)
        t = int(torch.randint(0, self.num_timesteps, (1,), generator=g)) if timestep is None else timestep
        dropped = bool(torch.rand((), generator=g) < self.caption_dropout) if drop is None else drop
        row.update(
            latents=latent.float(),
            noise=noise,
            timesteps=torch.tensor(t),
            cond=self.store.get("text", self.empty_text_key) if dropped else row["text"],
            blend=blend_table[t],
        )
        return row

    def _stack(self, rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([r[k] for r in rows]).to(self.device) for k in rows[0]}


__all__ = ["BatchMaker", "BatchPlan", "VAL_TIMESTEP_FRACTIONS"]
