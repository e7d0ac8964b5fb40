"""The audio adapters in graph-safe ("static") mode, for a `torch.compile`d UNet.

Eager generations read the sliders as Python floats (strength, group scales, the step's level
blend) and skip the audio branch where a value is 0. Under `torch.compile`, every such float is a
guard: a new slider value would recompile the UNet (a minute on a GPU), and the per-step blend
would recompile every step. Here every value the processors read is a device tensor written in
place with `copy_` (the step's level weights from a (steps x levels) table, strength x group scale,
tanh(gate) straight from its parameter), nothing is skipped on a value (a 0 weight adds 0), the K/V
are recomputed inside the graph, and the ratios go into preallocated buffers: the traced graph does
not depend on the sliders, and nothing syncs with the host during the loop.

Only compiled previews use this mode; renders take the eager path, so their pixels never depend on it.
"""

from __future__ import annotations

import numpy as np
import torch

from .audio_state import AudioState
from .params import BLOCK_GROUPS, LEVELS


class StaticAudio:
    """Device tensors for one engine, allocated once per device / dtype / layer count and then only
    written, so a compiled graph (and a CUDA graph) keeps reading the same storage."""

    def __init__(self, layers: int, device: str | torch.device, dtype: torch.dtype):
        self.layers = layers
        self.device = torch.device(device)
        self.dtype = dtype
        self.blend_t = torch.zeros(len(LEVELS), device=device, dtype=dtype)  # this step's level weights
        self.scale_t = torch.zeros(len(BLOCK_GROUPS), device=device, dtype=dtype)  # strength x group scale
        self.ratio_now = torch.zeros(layers, device=device, dtype=torch.float32)  # written by the processors
        for t in (self.blend_t, self.scale_t, self.ratio_now):
            torch._dynamo.mark_static_address(t)
        self.schedule_t = torch.zeros(0, len(LEVELS), device=device, dtype=dtype)
        self.ratio_steps = torch.zeros(0, layers, device=device, dtype=torch.float32)
        self.state: AudioState | None = None

    def fits(self, layers: int, device: str | torch.device, dtype: torch.dtype) -> bool:
        return (layers, torch.device(device), dtype) == (self.layers, self.device, self.dtype)

    def begin(self, state: AudioState) -> None:
        """After `state.begin(...)`: load this generation's schedule and scales, and switch the
        processors to static mode (`state.begin` switches them back for the next generation)."""
        weights = [[blend.get(level, 0.0) for level in LEVELS] for blend in state.schedule]
        steps = len(weights)
        self.schedule_t = (
            torch.tensor(weights, dtype=torch.float32).reshape(steps, len(LEVELS)).to(self.device, self.dtype)
        )
        self.ratio_steps = torch.zeros(steps, self.layers, device=self.device, dtype=torch.float32)
        self.scale_t.copy_(torch.tensor(self.scales(state), dtype=torch.float32))
        self.ratio_now.zero_()
        self.state = state
        state.static = self
        self.advance(0)

    @staticmethod
    def scales(state: AudioState) -> list[float]:
        return [state.strength * state.group_scales.get(g, 0.0) for g in BLOCK_GROUPS]

    def advance(self, step: int) -> None:
        """The loop moved on to `step`: keep the finished step's ratios and write the next step's
        level weights, device to device; `state.used` (the trace's blend per step) is filled on the host."""
        state = self.state
        assert state is not None
        done = step - 1
        if 0 <= done < self.ratio_steps.shape[0]:
            self.ratio_steps[done].copy_(self.ratio_now)
            blend = state.blend()
            if blend and any(self.scales(state)):
                state.used.setdefault(done, dict(blend))
        self.ratio_now.zero_()
        if step < self.schedule_t.shape[0]:
            self.blend_t.copy_(self.schedule_t[step])
        state.step = step
        if self.device.type == "cuda":  # CUDA graphs: the last step's outputs may now be overwritten
            torch.compiler.cudagraph_mark_step_begin()

    def ratios(self, steps: int, layers: int) -> np.ndarray:
        """(steps, layers) float32, as `AudioState.ratios` gives for an eager run (one copy to the host)."""
        out = np.zeros((steps, layers), dtype=np.float32)
        recorded = self.ratio_steps.cpu().numpy()
        rows, cols = min(steps, recorded.shape[0]), min(layers, recorded.shape[1])
        out[:rows, :cols] = recorded[:rows, :cols]
        return out

    def add_audio(self, proc, attn, query, hidden_states, batch_size: int, head_dim: int) -> torch.Tensor:
        """The gated processor's audio branch (`GatedAudioAttnProcessor.__call__`, part 2) with the
        sliders as tensors: the same sum, never skipped on a value."""
        state = self.state
        if state is None or not state.level_tokens:
            return hidden_states
        n_cond = next(iter(state.level_tokens.values())).shape[0]
        if batch_size not in (n_cond, 2 * n_cond):
            raise ValueError(f"audio tokens for {n_cond} image(s) do not fit a batch of {batch_size}")
        q_cond = query[batch_size - n_cond :]
        audio = proc.levels_sum(attn, q_cond, head_dim, lambda c: self.blend_t[c].to(q_cond.dtype))
        scale = self.scale_t[BLOCK_GROUPS.index(proc.group)]
        if proc.gate is not None:
            scale = scale * torch.tanh(proc.gate).to(scale.dtype)
        audio = audio.transpose(1, 2).reshape(n_cond, -1, attn.heads * head_dim).to(query.dtype)
        audio = audio * scale.to(query.dtype)
        text_cond = hidden_states[batch_size - n_cond :]
        ratio = torch.linalg.vector_norm(audio.float()) / (torch.linalg.vector_norm(text_cond.float()) + 1e-12)
        self.ratio_now[proc.index] = ratio
        return torch.cat([hidden_states[: batch_size - n_cond], text_cond + audio])


__all__ = ["StaticAudio"]
