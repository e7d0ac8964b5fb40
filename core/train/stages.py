"""The method's three training stages as one module whose forward returns per-sample losses.

1. alignment: CLAP embedding -> AudioProjector -> 77 tokens, pulled towards the SD text encoder's
   tokens of the caption (MSE). Only the projector trains; the UNet never runs.
2. hierarchy + adapters: the projector's tokens go through the inference hierarchy (norm target,
   positional split, level weights: core.hierarchy) into the gated adapters (own K/V + tanh gate,
   core.attention), and the frozen UNet predicts the noise of the image latent. Each sample's
   timestep is conditioned by the level the inference schedule gives that point of the trajectory
   (core.schedule), so training and inference agree.
3. fine-tuning: both losses (diffusion + align_weight x alignment), a lower learning rate, and the
   level assignment annealed from soft to sharp: the cross-fade between levels is
   `temperature x anneal_crossfade` wide, the temperature going 2.0 -> 0.5 (seed 001).

The trainable parameters are exactly the ones the engine loads: `AudioProjector` and the trained
`GatedAudioAttnProcessor`s of the installed block groups (`AudioAdapters.trained_state()`).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import AudioAdapters, block_group
from ..audio_state import AudioState
from ..hierarchy import build_levels_batch
from ..params import BLOCK_GROUPS, LEVELS, GenerationParams
from ..schedule import level_schedule


@lru_cache(maxsize=8)
def _blend_table(timesteps: int, switch_points: tuple[float, float], style: str, crossfade: float) -> torch.Tensor:
    # Timestep t sits at (T-1-t)/(T-1) of the trajectory: 0 for the first (noisiest) step, 1 at t=0.
    # That is where the engine's samplers (DPM-Solver++, Euler: "linspace" timesteps) put step i of
    # N, so with the schedule evaluated on that grid every inference timestep t_i gets exactly the
    # blend of step i whenever a switch point falls on (or half-way between) whole steps, as 0.4
    # and 0.7 do for 10, 20, 25 and 50 steps; elsewhere the two differ by the half-step rounding of
    # the switch point.
    span = timesteps - 1
    schedule = level_schedule(span, switch_points, style, crossfade)
    rows = [[schedule[min(span - 1, span - t)].get(level, 0.0) for level in LEVELS] for t in range(timesteps)]
    return torch.tensor(rows, dtype=torch.float32)


def level_blend_table(
    timesteps: int, params: GenerationParams, temperature: float | None = None, anneal_crossfade: float = 0.1
) -> torch.Tensor:
    """(timesteps, len(LEVELS)): the level weights that condition each training timestep.

    Without a temperature: the inference schedule itself (its style and cross-fade). With one
    (stage 3): a smooth schedule whose cross-fades are `temperature x anneal_crossfade` wide."""
    if temperature is None:
        return _blend_table(timesteps, tuple(params.switch_points), params.switch_style, float(params.crossfade))
    return _blend_table(timesteps, tuple(params.switch_points), "smooth", float(temperature * anneal_crossfade))


class StageModel(nn.Module):
    """Trainable parts of one stage; `forward(batch)` gives per-sample losses.

    The frozen UNet and noise scheduler are held outside the module tree, so that wrapping this
    module for data-parallel training (accelerate -> DDP) sees only the trainable parameters."""

    def __init__(
        self,
        stage: int,
        projector: nn.Module,
        adapters: AudioAdapters | None = None,
        unet=None,
        noise_scheduler=None,
        params: GenerationParams | None = None,
        align_weight: float = 0.1,
    ):
        super().__init__()
        self.stage = stage
        self.projector = projector
        self.align_weight = float(align_weight)
        self.params = params or GenerationParams()
        self.group_scales = {g: self.params.gate_scale(g) for g in BLOCK_GROUPS}
        self.groups = trained_groups(self.params) if stage in (2, 3) else []
        self._frozen = (unet, noise_scheduler, adapters, adapters.state if adapters is not None else AudioState())
        trained = {}
        if stage in (2, 3):
            if adapters is None or unet is None or noise_scheduler is None:
                raise ValueError(f"stage {stage} needs the adapters, the UNet and the noise scheduler")
            installed = self.install()
            if not installed:
                raise ValueError("no block group has a gate scale above 0: nothing to train")
            trained = {name: adapters.processor(name, trained=True) for name in installed}
        # ModuleDict keys may not contain dots; the processors stay registered in the UNet as well
        self.adapters = nn.ModuleDict({_module_key(n): p for n, p in trained.items()})

    @property
    def unet(self):
        return self._frozen[0]

    @property
    def noise_scheduler(self):
        return self._frozen[1]

    @property
    def state(self) -> AudioState:
        return self._frozen[3]

    def install(self) -> list[str]:
        """Put the trained adapters (back) on the UNet's cross-attention layers of the trained groups."""
        adapters = self._frozen[2]
        return adapters.install(self.groups, trained=True) if self.groups else []

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tokens = self.projector(batch["clap"])
        out: dict[str, torch.Tensor] = {}
        if self.stage in (1, 3):
            out["align"] = F.mse_loss(tokens.float(), batch["text"].float(), reduction="none").mean(dim=(1, 2))
        if self.stage == 1:
            out["loss"] = out["align"]
            return out
        out["diffusion"] = self.diffusion_loss(tokens, batch)
        out["loss"] = out["diffusion"] + self.align_weight * out["align"] if self.stage == 3 else out["diffusion"]
        return out

    def diffusion_loss(self, tokens: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample noise-prediction MSE with the audio tokens in the gated adapters."""
        unet, scheduler = self.unet, self.noise_scheduler
        levels = build_levels_batch(tokens, self.params)
        # Kept until the next batch: gradient checkpointing re-runs the adapters during backward.
        self.state.begin_batch(levels, batch["blend"], 1.0, self.group_scales)
        latents, noise, timesteps = batch["latents"], batch["noise"], batch["timesteps"]
        noisy = scheduler.add_noise(latents, noise, timesteps)
        pred = unet(noisy.to(unet.dtype), timesteps, encoder_hidden_states=batch["cond"].to(unet.dtype)).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))


def _module_key(layer: str) -> str:
    return layer.removesuffix(".processor").replace(".", "__")


def trained_groups(params: GenerationParams) -> list[str]:
    return [g for g in BLOCK_GROUPS if params.gate_scale(g) > 0]


def gate_summary(adapters: AudioAdapters, groups: list[str]) -> dict[str, float]:
    """Mean learned tanh(gate) of each block group the stage trained (for the model card): a group
    it did not train (stage 1; a gate scale of 0) has no learned gate to report."""
    values: dict[str, list[float]] = {}
    for name, proc in adapters.trained_processors().items():
        if block_group(name) in groups:
            values.setdefault(block_group(name), []).append(proc.gate_value())
    return {g: sum(v) / len(v) for g, v in values.items()}


def make_optimizer(model: StageModel, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; no weight decay on gates, biases and norms (decay would pull the gates shut)."""
    decay = [p for p in model.trainable_parameters() if p.ndim > 1]
    no_decay = [p for p in model.trainable_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def optimizer_step(accelerator, model, optimizer, micro_batches, max_grad_norm: float) -> torch.Tensor:
    """One optimizer step over the micro-batches of gradient accumulation; the mean loss (detached)."""
    total, count = None, 0
    for batch in micro_batches:
        with accelerator.accumulate(model):
            loss = model(batch)["loss"].mean()
            accelerator.backward(loss)
            if accelerator.sync_gradients and max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        total = loss.detach() if total is None else total + loss.detach()
        count += 1
    return total / count


__all__ = ["StageModel", "gate_summary", "level_blend_table", "make_optimizer", "optimizer_step", "trained_groups"]
