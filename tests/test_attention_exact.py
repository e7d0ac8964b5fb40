"""The gated adapter's arithmetic, value by value, against an independent float64 computation.

    out[uncond] = AttnProcessor2_0(attn)(uncond rows)                              (bit for bit)
    out[cond]   = to_out(text_attn + strength x group_scale x gate x sum_l w_l audio_attn_l)

where audio_attn_l attends from the conditional rows' own queries to level l's tokens through the
layer's K/V (zero-shot, gate 1) or the adapter's loaded K/V (trained, gate tanh(g)), and w_l is the
current step's level blend. Every check goes through the processors' outputs, never their
attributes: training may change how the gate and the blend are stored, not what they compute.
"""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from core.attention import AudioAdapters, GatedAudioAttnProcessor, block_group, cross_attention_layers
from core.audio_state import AudioState
from core.schedule import level_schedule

QUERY_DIM, CROSS_DIM, HEADS, HEAD_DIM = 16, 12, 2, 8
PIXELS, TEXT_TOKENS = 6, 5
LEVEL_SIZES = {"foreground": 4, "background": 3, "ambience": 2}  # unequal: a mixed-up level shows
MID_LAYER = "mid_block.attentions.0.transformer_blocks.0.attn2.processor"
STRENGTH, GROUP_SCALE = 0.8, 0.37  # neither 0 nor 1: an on/off or a dropped factor changes the output
ATOL = 2e-5  # float32 kernels against float64 arithmetic, outputs of order 1


def _randn(shape, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * scale


def hand_set(module: torch.nn.Module, seed: int) -> None:
    """Every parameter from one seeded generator, large enough that no softmax is uniform."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(_randn(p.shape, gen, 0.6))


def attention_module(seed: int = 0) -> Attention:
    attn = Attention(query_dim=QUERY_DIM, cross_attention_dim=CROSS_DIM, heads=HEADS, dim_head=HEAD_DIM, out_bias=True)
    hand_set(attn, seed)
    return attn.eval()


def inputs(attn: Attention, batch: int, seed: int = 1):
    """Hidden states and text embeddings, every row different (a row mix-up changes the output)."""
    gen = torch.Generator().manual_seed(seed)
    hidden = _randn((batch, PIXELS, attn.query_dim), gen)
    text = _randn((batch, TEXT_TOKENS, attn.cross_attention_dim), gen)
    return hidden, text


def level_tokens(dim: int, n_cond: int = 1, seed: int = 2) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {level: _randn((n_cond, n, dim), gen, 1.5) for level, n in LEVEL_SIZES.items()}


# -- the independent computation ------------------------------------------------------------------
def ref_attention(queries_in, kv_in, attn: Attention, w_k: torch.Tensor, w_v: torch.Tensor) -> torch.Tensor:
    """softmax(QK^T / sqrt(d)) V per head, in float64, before the output projection: (B, N, inner)."""
    q = queries_in.double() @ attn.to_q.weight.double().T
    k = kv_in.double() @ w_k.double().T
    v = kv_in.double() @ w_v.double().T
    b, heads = q.shape[0], attn.heads
    d = q.shape[-1] // heads
    q, k, v = (x.reshape(b, -1, heads, d).transpose(1, 2) for x in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
    return (weights @ v).transpose(1, 2).reshape(b, -1, heads * d)


def out_proj(x: torch.Tensor, attn: Attention) -> torch.Tensor:
    return x @ attn.to_out[0].weight.double().T + attn.to_out[0].bias.double()


def expected_cond(attn, hidden, text, tokens, blend, factor, w_k=None, w_v=None) -> torch.Tensor:
    """to_out(text_attn + factor x sum_l w_l audio_attn_l) for conditional rows `hidden`/`text`."""
    w_k = attn.to_k.weight if w_k is None else w_k
    w_v = attn.to_v.weight if w_v is None else w_v
    mixed = ref_attention(hidden, text, attn, attn.to_k.weight, attn.to_v.weight)
    audio = sum(weight * ref_attention(hidden, tokens[level], attn, w_k, w_v) for level, weight in blend.items())
    return out_proj(mixed + factor * audio, attn)


def plain(attn: Attention, hidden: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """diffusers' own processor on the same module and rows."""
    return AttnProcessor2_0()(attn, hidden, encoder_hidden_states=text)


def zero_shot(attn: Attention, tokens, schedule, strength=STRENGTH, scale=GROUP_SCALE) -> AudioState:
    state = AudioState()
    attn.set_processor(GatedAudioAttnProcessor(attn, MID_LAYER, 0, state))
    state.begin(tokens, schedule, strength, {"down": 0.0, "mid": scale, "up": 0.0})
    return state


# -- zero-shot: one module, hand-set weights --------------------------------------------------------
@torch.no_grad()
def test_uncond_half_is_diffusers_bit_for_bit_and_cond_half_adds_the_scaled_audio():
    attn = attention_module()
    hidden, text = inputs(attn, batch=2)
    tokens = level_tokens(CROSS_DIM)
    zero_shot(attn, tokens, [{"background": 1.0}])

    out = attn(hidden, encoder_hidden_states=text)
    reference = plain(attn, hidden, text)
    assert torch.equal(out[:1], reference[:1])  # [uncond, cond]: the unconditional row is untouched
    want = expected_cond(attn, hidden[1:], text[1:], tokens, {"background": 1.0}, STRENGTH * GROUP_SCALE)
    torch.testing.assert_close(out[1:].double(), want, atol=ATOL, rtol=0)
    # and the audio term is large enough that a dropped or doubled factor could not hide in ATOL
    assert (out[1:] - reference[1:]).abs().max() > 100 * ATOL


@torch.no_grad()
def test_two_images_take_their_own_tokens_from_their_own_queries():
    attn = attention_module()
    hidden, text = inputs(attn, batch=4)  # [uncond a, uncond b, cond a, cond b]
    tokens = level_tokens(CROSS_DIM, n_cond=2)
    zero_shot(attn, tokens, [{"ambience": 1.0}])

    out = attn(hidden, encoder_hidden_states=text)
    assert torch.equal(out[:2], plain(attn, hidden, text)[:2])
    for i in range(2):
        mine = {k: v[i : i + 1] for k, v in tokens.items()}
        want = expected_cond(
            attn, hidden[2 + i : 3 + i], text[2 + i : 3 + i], mine, {"ambience": 1.0}, STRENGTH * GROUP_SCALE
        )
        torch.testing.assert_close(out[2 + i : 3 + i].double(), want, atol=ATOL, rtol=0)


@torch.no_grad()
def test_without_guidance_every_row_is_conditional():
    attn = attention_module()
    hidden, text = inputs(attn, batch=1)
    tokens = level_tokens(CROSS_DIM)
    zero_shot(attn, tokens, [{"foreground": 1.0}])
    want = expected_cond(attn, hidden, text, tokens, {"foreground": 1.0}, STRENGTH * GROUP_SCALE)
    torch.testing.assert_close(attn(hidden, encoder_hidden_states=text).double(), want, atol=ATOL, rtol=0)


@torch.no_grad()
def test_every_step_of_a_smooth_cross_fade_uses_its_blend_weights():
    attn = attention_module(seed=3)
    hidden, text = inputs(attn, batch=2, seed=4)
    tokens = level_tokens(CROSS_DIM, seed=5)
    schedule = level_schedule(10, (0.4, 0.7), style="smooth", crossfade=0.3)
    state = zero_shot(attn, tokens, schedule)
    assert any(0.0 < w < 1.0 for blend in schedule for w in blend.values())  # the fade really blends

    reference = plain(attn, hidden, text)
    for step, blend in enumerate(schedule):
        state.step = step  # what the engine does at the end of every denoising step
        out = attn(hidden, encoder_hidden_states=text)
        assert torch.equal(out[:1], reference[:1]), step
        want = expected_cond(attn, hidden[1:], text[1:], tokens, blend, STRENGTH * GROUP_SCALE)
        torch.testing.assert_close(out[1:].double(), want, atol=ATOL, rtol=0, msg=f"step {step}: {blend}")


@pytest.mark.parametrize(
    "strength, scales, schedule",
    [
        (0.0, {"down": 0.0, "mid": 1.0, "up": 0.0}, [{"foreground": 1.0}]),  # strength 0
        (1.0, {"down": 0.0, "mid": 0.0, "up": 1.0}, [{"foreground": 1.0}]),  # this layer's group off
        (1.0, {"down": 0.0, "mid": 1.0, "up": 0.0}, [{}]),  # a step with no level
    ],
)
@torch.no_grad()
def test_no_audio_means_diffusers_bit_for_bit(strength, scales, schedule):
    attn = attention_module()
    hidden, text = inputs(attn, batch=2)
    state = AudioState()
    attn.set_processor(GatedAudioAttnProcessor(attn, MID_LAYER, 0, state))
    state.begin(level_tokens(CROSS_DIM), schedule, strength, scales)
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))


# -- trained adapters on the tiny UNet's attn2 layers, through load_trained_state ------------------
@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    ).eval()


def checkpoint(adapters: AudioAdapters, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """A trained-adapter state with hand-set K/V (not the text ones) and a different gate per layer."""
    gen = torch.Generator().manual_seed(seed)
    state, gates = {}, {}
    for i, (key, value) in enumerate(sorted(adapters.trained_state().items())):
        if key.endswith(".gate"):
            g = (-0.9, -0.2, 0.35, 0.6, 1.1, 0.45, -0.5)[i % 7] + 0.01 * seed
            state[key], gates[key.removesuffix(".gate")] = torch.tensor(g), g
        else:
            state[key] = _randn(value.shape, gen, 0.5)
    return state, gates


def check_trained_layers(unet, state, weights, gates, scales, installed_groups) -> None:
    tokens = level_tokens(unet.config.cross_attention_dim, seed=11)
    blend = {"foreground": 0.25, "ambience": 0.75}
    state.begin(tokens, [blend], STRENGTH, scales)
    for name in cross_attention_layers(unet):
        layer = name.removesuffix(".processor")
        attn = unet.get_submodule(layer)
        hidden, text = inputs(attn, batch=2, seed=12)
        out = attn(hidden, encoder_hidden_states=text)
        reference = plain(attn, hidden, text)
        if block_group(name) not in installed_groups:
            assert torch.equal(out, reference), name  # no adapter here: plain diffusers
            continue
        assert torch.equal(out[:1], reference[:1]), name
        factor = STRENGTH * scales[block_group(name)] * math.tanh(gates[layer])
        w_k, w_v = weights[f"{layer}.to_k_audio.weight"], weights[f"{layer}.to_v_audio.weight"]
        want = expected_cond(attn, hidden[1:], text[1:], tokens, blend, factor, w_k, w_v)
        torch.testing.assert_close(out[1:].double(), want, atol=ATOL, rtol=0, msg=name)


@torch.no_grad()
def test_trained_adapters_use_the_loaded_kv_and_tanh_of_the_loaded_gate(unet):
    state = AudioState()
    adapters = AudioAdapters(unet, state)
    try:
        scales = {"down": 0.0, "mid": 0.37, "up": 1.6}
        weights, gates = checkpoint(adapters, seed=1)
        adapters.load_trained_state(weights)  # the engine's order: load, then install
        assert adapters.install(["mid", "up"], trained=True)
        check_trained_layers(unet, state, weights, gates, scales, {"mid", "up"})

        # a checkpoint loaded into adapters that are already installed reaches the next forward too
        weights, gates = checkpoint(adapters, seed=2)
        adapters.load_trained_state(weights)
        check_trained_layers(unet, state, weights, gates, scales, {"mid", "up"})
    finally:
        adapters.remove()
        adapters.reset_trained()
