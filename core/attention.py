"""Gated audio cross-attention for the SD UNet: out = text_attn + tanh(gate) * scale * audio_attn.

Modelled on diffusers' `IPAdapterAttnProcessor2_0`: a second cross-attention over another token
stream is added to the text cross-attention before the output projection, with a per-layer scale,
and skipped entirely when that scale is 0. The text path is line for line diffusers'
`AttnProcessor2_0`, so with the audio off the pixels are exactly those of the plain pipeline.

- zero-shot mode reuses the layer's own `to_k`/`to_v` for the audio tokens (they come from the
  same CLIP text encoder), so nothing needs training; the gate is fixed at 1.
- trained mode has its own K/V projections (initialised from the text ones) and a learned gate
  (tanh(0.1) at init, as SonicDiffusion).

The processors read the current step's level blend from a shared `AudioState`, which the engine
advances once per denoising step, and record ||audio|| / ||text|| per step and layer without a
device sync (the ratios stay tensors until the generation ends).

Training (core/train) uses the same processors through `AudioState.begin_batch`: every sample of
the batch has its own timestep and so its own level blend, a (batch, levels) tensor; the gate is then
`tanh(gate)` in the autograd graph and the audio K/V are recomputed on every call (not inference's).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .audio_state import AudioState
from .params import BLOCK_GROUPS, LEVELS

GATE_INIT = 0.1  # SonicDiffusion's gate init; tanh(0.1) ~ 0.0997


def block_group(layer_name: str) -> str:
    """'down' / 'mid' / 'up' for a diffusers attention-processor key."""
    if layer_name.startswith("down_blocks"):
        return "down"
    if layer_name.startswith("mid_block"):
        return "mid"
    if layer_name.startswith("up_blocks"):
        return "up"
    raise ValueError(f"not a UNet block attention layer: {layer_name}")


def cross_attention_layers(unet) -> list[str]:
    """Processor keys of the UNet's cross-attention (attn2) layers, in forward order."""
    names = [n for n in unet.attn_processors if n.endswith("attn2.processor")]
    order = {g: i for i, g in enumerate(BLOCK_GROUPS)}
    return sorted(names, key=lambda n: order[block_group(n)])  # stable: keeps block order inside a group


def level_attention(attn, q_cond: torch.Tensor, k: torch.Tensor, v: torch.Tensor, head_dim: int) -> torch.Tensor:
    """SDPA of the conditional rows' queries (n, heads, L, head_dim) over one level's K/V (n, N, inner)."""
    k, v = (x.view(q_cond.shape[0], -1, attn.heads, head_dim).transpose(1, 2) for x in (k, v))
    return F.scaled_dot_product_attention(q_cond, k, v, dropout_p=0.0, is_causal=False)


class GatedAudioAttnProcessor(nn.Module):
    """Text cross-attention plus a gated audio cross-attention over the current level's tokens."""

    def __init__(
        self,
        attn,
        name: str,
        index: int,
        state: AudioState,
        own_kv: bool = False,
        gate_init: float = GATE_INIT,
    ):
        super().__init__()
        self.group = block_group(name)
        self.index = index
        self.state = state
        self.own_kv = own_kv
        if own_kv:
            self.to_k_audio = nn.Linear(attn.to_k.in_features, attn.to_k.out_features, bias=False)
            self.to_v_audio = nn.Linear(attn.to_v.in_features, attn.to_v.out_features, bias=False)
            with torch.no_grad():
                self.to_k_audio.weight.copy_(attn.to_k.weight)
                self.to_v_audio.weight.copy_(attn.to_v.weight)
            self.to(device=attn.to_k.weight.device, dtype=attn.to_k.weight.dtype)
            self.gate = nn.Parameter(torch.tensor(float(gate_init), device=attn.to_k.weight.device))
        else:
            self.gate = None
        self._gate_value = self.gate_value()
        self._kv_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._kv_generation = -1

    def gate_value(self) -> float:
        """tanh(gate) for trained adapters; 1 in zero-shot mode (no learned gate)."""
        return 1.0 if self.gate is None else float(torch.tanh(self.gate.detach().float()))

    def refresh_gate(self) -> None:
        """Read the gate once per install: reading a GPU tensor every step and layer would sync."""
        self._gate_value = self.gate_value()

    def effective_scale(self) -> float:
        s = self.state
        return s.strength * s.group_scales.get(self.group, 0.0) * self._gate_value

    def _audio_kv(self, attn, level: str) -> tuple[torch.Tensor, torch.Tensor]:
        """K/V of a level's tokens; constant within one generation, so computed once per layer."""
        if self._kv_generation != self.state.generation:
            self._kv_cache = {}
            self._kv_generation = self.state.generation
        if level not in self._kv_cache:
            tokens = self.state.level_tokens[level]
            to_k, to_v = (self.to_k_audio, self.to_v_audio) if self.own_kv else (attn.to_k, attn.to_v)
            self._kv_cache[level] = (to_k(tokens), to_v(tokens))
        return self._kv_cache[level]

    def levels_sum(self, attn, q_cond, head_dim: int, weight) -> torch.Tensor:
        """Σ over the levels present of weight(column) x attention over that level's tokens, K/V
        recomputed: training's and compiled previews' audio branch (eager inference caches K/V)."""
        to_k, to_v = (self.to_k_audio, self.to_v_audio) if self.own_kv else (attn.to_k, attn.to_v)
        audio = None
        for column, level in enumerate(LEVELS):
            if (tokens := self.state.level_tokens.get(level)) is not None:
                out = level_attention(attn, q_cond, to_k(tokens), to_v(tokens), head_dim) * weight(column)
                audio = out if audio is None else audio + out
        return audio

    def _add_audio_per_sample(self, attn, query, hidden_states, batch_size: int, head_dim: int) -> torch.Tensor:
        """Training's audio branch: each conditional row gets its own level blend, the gate is a
        tensor in the graph (so it learns), and K/V are recomputed (the tokens change every batch)."""
        s = self.state
        scale = s.strength * s.group_scales.get(self.group, 0.0)
        if scale == 0.0 or not s.level_tokens:
            return hidden_states
        weights = s.sample_blend
        n_cond = weights.shape[0]
        if batch_size not in (n_cond, 2 * n_cond):
            raise ValueError(f"audio tokens for {n_cond} image(s) do not fit a batch of {batch_size}")
        q_cond = query[batch_size - n_cond :]
        audio = self.levels_sum(attn, q_cond, head_dim, lambda c: weights[:, c].to(q_cond.dtype).view(n_cond, 1, 1, 1))
        gate = torch.tanh(self.gate) if self.gate is not None else 1.0
        audio = audio.transpose(1, 2).reshape(n_cond, -1, attn.heads * head_dim) * (scale * gate)
        text_cond = hidden_states[batch_size - n_cond :]
        return torch.cat([hidden_states[: batch_size - n_cond], text_cond + audio.to(query.dtype)])

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        # --- 1. text cross-attention ----------------------------------------------------------
        # Copied from diffusers.models.attention_processor.AttnProcessor2_0.__call__ (diffusers 0.42.1),
        # up to the output projection, without its deprecated `scale` check and its comments. Keep it
        # line for line: with the audio off, the pixels are exactly those of the plain pipeline (tested).
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = (
            hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        )
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)

        inner_dim = key.shape[-1]
        head_dim = inner_dim // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        hidden_states = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False
        )
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        # End of copy (AttnProcessor2_0); the output projection below is its tail, also copied.

        # --- 2. gated audio cross-attention, on the conditional rows only -----------------------
        # With classifier-free guidance the batch is [uncond, cond]: the audio joins the
        # conditional half only, so guidance amplifies it as it does the prompt (IP-Adapter does
        # the same with its zero image embedding).
        if self.state.sample_blend is not None:
            hidden_states = self._add_audio_per_sample(attn, query, hidden_states, batch_size, head_dim)
            scale, blend = 0.0, {}
        elif self.state.static is not None:  # compiled previews: slider values as device tensors
            hidden_states = self.state.static.add_audio(self, attn, query, hidden_states, batch_size, head_dim)
            scale, blend = 0.0, {}
        else:
            scale = self.effective_scale()
            blend = self.state.blend() if scale != 0.0 else {}
        if blend:
            n_cond = next(iter(self.state.level_tokens.values())).shape[0]
            if batch_size not in (n_cond, 2 * n_cond):
                raise ValueError(f"audio tokens for {n_cond} image(s) do not fit a batch of {batch_size}")
            q_cond = query[batch_size - n_cond :]
            audio = None
            for level, weight in blend.items():
                out = level_attention(attn, q_cond, *self._audio_kv(attn, level), head_dim)
                out = out * weight if weight != 1.0 else out
                audio = out if audio is None else audio + out
            audio = audio.transpose(1, 2).reshape(n_cond, -1, attn.heads * head_dim).to(query.dtype) * scale
            text_cond = hidden_states[batch_size - n_cond :]
            self.state.record_ratio(
                self.index,
                torch.linalg.vector_norm(audio.float()) / (torch.linalg.vector_norm(text_cond.float()) + 1e-12),
                blend,
            )
            hidden_states = torch.cat([hidden_states[: batch_size - n_cond], text_cond + audio])

        # --- 3. output projection ---------------------------------------------------------------
        # Copied from diffusers.models.attention_processor.AttnProcessor2_0.__call__ (the tail).
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        hidden_states = hidden_states / attn.rescale_output_factor
        return hidden_states


class AudioAdapters:
    """Installs gated processors on a UNet's cross-attention layers of chosen block groups, and
    puts the original processors back. Trained adapters are kept between installs so their
    weights are loaded once."""

    def __init__(self, unet, state: AudioState):
        self.unet = unet
        self.state = state
        self.original = dict(unet.attn_processors)
        self.layers = cross_attention_layers(unet)
        self._zero_shot: dict[str, GatedAudioAttnProcessor] = {}
        self._trained: dict[str, GatedAudioAttnProcessor] = {}
        self.installed: list[str] = []
        self._attn = {n: unet.get_submodule(n.removesuffix(".processor")) for n in self.layers}
        self.swaps = 0  # processors set: a generation sets each adapted layer twice (install, remove)

    def processor(self, name: str, trained: bool) -> GatedAudioAttnProcessor:
        pool = self._trained if trained else self._zero_shot
        if name not in pool:
            pool[name] = GatedAudioAttnProcessor(
                self._attn[name], name, self.layers.index(name), self.state, own_kv=trained
            )
        return pool[name]

    def reset_trained(self) -> None:
        """Forget trained adapters: the next use rebuilds them at the seed's initialisation."""
        self._trained = {}

    def trained_processors(self) -> dict[str, GatedAudioAttnProcessor]:
        """All trained adapters (created on first use), e.g. to load a checkpoint's weights into."""
        return {name: self.processor(name, trained=True) for name in self.layers}

    def install(self, groups: Iterable[str], trained: bool = False) -> list[str]:
        groups = set(groups)
        chosen = [n for n in self.layers if block_group(n) in groups]
        for name in chosen:
            self.processor(name, trained).refresh_gate()
        self._swap({n: self.processor(n, trained) if n in chosen else self.original[n] for n in self.layers})
        self.installed = chosen
        return chosen

    def remove(self) -> None:
        self._swap(self.original)
        self.installed = []

    def _swap(self, processors: dict) -> None:
        """Set the cross-attention layers whose processor differs, only those (what diffusers'
        set_processor does per layer): `set_attn_processor` walks and resets every attention layer."""
        for name in self.layers:
            if self._attn[name].processor is not processors[name]:
                self._attn[name].set_processor(processors[name])
                self.swaps += 1

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Adapter weights for a checkpoint: '<layer>.to_k_audio.weight', '.to_v_audio.weight', '.gate'."""
        state = {}
        for name, proc in self.trained_processors().items():
            for key, value in proc.state_dict().items():
                state[f"{name.removesuffix('.processor')}.{key}"] = value.detach().cpu()
        return state

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load adapter weights; a key or shape that does not fit this UNet is a ValueError naming it."""
        expected = self.trained_state()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"adapter weights do not fit this UNet: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        for key, value in expected.items():
            if state[key].shape != value.shape:
                raise ValueError(
                    f"adapter weight {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}"
                )
        for name, proc in self.trained_processors().items():
            prefix = name.removesuffix(".processor") + "."
            proc.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
            proc.refresh_gate()

    def gate_values(self, trained: bool) -> list[float]:
        """Per cross-attention layer: tanh(gate) x group scale (0 where no adapter is installed)."""
        values = []
        for name in self.layers:
            if name not in self.installed:
                values.append(0.0)
                continue
            proc = self.processor(name, trained)
            values.append(proc.gate_value() * self.state.group_scales.get(proc.group, 0.0))
        return values
