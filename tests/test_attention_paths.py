"""The adapter's other paths, value by value: every branch of diffusers' processor it copies, what it
records per step, training's per-sample blend, and the adapters' bookkeeping on a UNet.

test_attention_exact.py pins the arithmetic of one SD-shaped cross-attention; these tests pin what
mutation testing found unprotected there (docs/TESTING.md): the copied diffusers lines that SD's
layers never take, the recorded audio/text ratios, the K/V cache, training's path, and the
install / remove / load bookkeeping, with the exact messages of its errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from core.attention import GATE_INIT, AudioAdapters, GatedAudioAttnProcessor, block_group
from core.audio_state import AudioState
from core.params import LEVELS
from tests.test_attention_exact import (
    ATOL,
    CROSS_DIM,
    GROUP_SCALE,
    MID_LAYER,
    STRENGTH,
    _randn,
    attention_module,
    expected_cond,
    hand_set,
    inputs,
    level_tokens,
    plain,
    ref_attention,
    zero_shot,
)

ON = {"down": 0.0, "mid": GROUP_SCALE, "up": 0.0}


# -- every branch of the copied AttnProcessor2_0 ------------------------------------------------------
def _spatial_self_attention():
    """A VAE-style layer: 4-D input, spatial norm from `temb`, group norm, residual, rescaled output."""
    attn = Attention(query_dim=32, heads=2, dim_head=16, norm_num_groups=4, spatial_norm_dim=6,
                     residual_connection=True, rescale_output_factor=2.0, out_bias=True)  # fmt: skip
    hand_set(attn, 7)
    gen = torch.Generator().manual_seed(8)
    hidden, temb = _randn((2, 32, 3, 4), gen), _randn((2, 6, 3, 4), gen)
    return attn.eval(), dict(hidden_states=hidden, temb=temb), 32


def _normed_masked_cross_attention():
    """Layer-normed text, normed queries and keys, and a mask that hides a different token per row."""
    attn = Attention(query_dim=16, cross_attention_dim=CROSS_DIM, heads=2, dim_head=8, out_bias=True,
                     cross_attention_norm="layer_norm", qk_norm="layer_norm")  # fmt: skip
    hand_set(attn, 9)
    hidden, text = inputs(attn, batch=2, seed=10)
    mask = torch.zeros(2, hidden.shape[1], text.shape[1])  # one row per query: each pixel its own mask
    mask[0, :, 1], mask[1, 2, 3], mask[1, 4, 0] = -1e4, -1e4, -1e4
    return attn.eval(), dict(hidden_states=hidden, encoder_hidden_states=text, attention_mask=mask), CROSS_DIM


@pytest.mark.parametrize("layer", [_spatial_self_attention, _normed_masked_cross_attention])
@torch.no_grad()
def test_every_copied_diffusers_branch_matches_diffusers_bit_for_bit(layer):
    attn, kwargs, token_dim = layer()
    reference = AttnProcessor2_0()(attn, **kwargs)

    state = AudioState()
    processor = GatedAudioAttnProcessor(attn, MID_LAYER, 0, state)
    state.begin(level_tokens(token_dim), [{"foreground": 1.0}], 0.0, ON)  # audio off: all of it is diffusers'
    assert torch.equal(processor(attn, **kwargs), reference)

    state.begin(level_tokens(token_dim), [{"foreground": 1.0}], STRENGTH, ON)  # audio on: the uncond row still is
    out = processor(attn, **kwargs)
    assert torch.equal(out[:1], reference[:1])
    assert (out[1:] - reference[1:]).abs().max() > 1e-3
    if "attention_mask" in kwargs:  # the mask really reaches the text attention
        unmasked = {k: v for k, v in kwargs.items() if k != "attention_mask"}
        assert not torch.equal(AttnProcessor2_0()(attn, **unmasked), reference)


# -- what is skipped, and what is recorded ------------------------------------------------------------
@torch.no_grad()
def test_no_audio_attention_runs_at_strength_0_or_past_the_schedule():
    attn = attention_module()
    hidden, text = inputs(attn, batch=2)
    state = zero_shot(attn, level_tokens(CROSS_DIM), [{"foreground": 1.0}], strength=0.0)
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))
    assert state.used == {} and not state.ratios(1, 1).any()  # skipped, not computed and scaled by 0

    state = zero_shot(attn, level_tokens(CROSS_DIM), [{"foreground": 1.0}])
    state.step = 1  # one step past a one-step schedule: nothing to blend
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))
    assert state.used == {}


@torch.no_grad()
def test_a_missing_group_scale_means_off_and_a_scale_of_exactly_1_is_on():
    attn = attention_module()
    hidden, text = inputs(attn, batch=2)
    tokens = level_tokens(CROSS_DIM)
    state = AudioState()
    attn.set_processor(GatedAudioAttnProcessor(attn, MID_LAYER, 0, state))
    state.begin(tokens, [{"foreground": 1.0}], 1.0, {"down": 1.0, "up": 1.0})  # no "mid" entry
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))

    state.begin(tokens, [{"foreground": 1.0}], 1.0, {"mid": 1.0})  # effective scale exactly 1
    want = expected_cond(attn, hidden[1:], text[1:], tokens, {"foreground": 1.0}, 1.0)
    torch.testing.assert_close(attn(hidden, encoder_hidden_states=text)[1:].double(), want, atol=ATOL, rtol=0)


@torch.no_grad()
def test_each_step_records_its_blend_and_the_audio_to_text_ratio_at_the_layer_index():
    attn = attention_module()
    hidden, text = inputs(attn, batch=2)
    tokens = level_tokens(CROSS_DIM)
    schedule = [{"ambience": 1.0}, {"background": 0.25, "foreground": 0.75}]
    state = AudioState()
    attn.set_processor(GatedAudioAttnProcessor(attn, MID_LAYER, 2, state))  # layer index 2
    state.begin(tokens, schedule, STRENGTH, ON)
    for step in range(len(schedule)):
        state.step = step
        attn(hidden, encoder_hidden_states=text)
    assert state.used == {0: schedule[0], 1: schedule[1]}

    ratios = state.ratios(steps=3, layers=4)
    assert ratios.shape == (3, 4) and ratios.dtype == np.float32
    for step, blend in enumerate(schedule):
        text_attn = ref_attention(hidden[1:], text[1:], attn, attn.to_k.weight, attn.to_v.weight)
        audio = sum(w * ref_attention(hidden[1:], tokens[lv], attn, attn.to_k.weight, attn.to_v.weight)
                    for lv, w in blend.items())  # fmt: skip
        want = (STRENGTH * GROUP_SCALE * audio).norm() / text_attn.norm()
        assert ratios[step, 2] == pytest.approx(float(want), rel=1e-5), step
    ratios[:2, 2] = 0
    assert not ratios.any()  # nothing anywhere else: other layers, the step that never ran

    assert not state.ratios(steps=1, layers=2).any()  # a smaller table leaves out what does not fit
    small = state.ratios(steps=1, layers=3)  # step 1 does not fit, step 0 does
    assert small.shape == (1, 3) and small[0, 2] > 0
    assert state.ratios(steps=2, layers=3)[1, 2] == pytest.approx(float(want), rel=1e-5)

    state.end()  # the tokens go (they live on the device), the record stays
    assert state.level_tokens == {} and state.schedule == [] and state.strength == 0.0
    assert state.sample_blend is None
    assert state.ratios(2, 3)[1, 2] == pytest.approx(float(want), rel=1e-5)
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))
    state.begin(tokens, schedule[::-1], STRENGTH, ON)  # the next generation starts with an empty record
    assert state.used == {} and not state.ratios(2, 3).any()


def test_a_scheduled_level_without_tokens_is_left_out_of_the_blend_as_it_is():
    """Not renormalised (the schedule already was, for the levels it was given) and never looked up."""
    state = AudioState()
    state.begin({"background": torch.ones(1, 2, 4)}, [{"ambience": 0.4, "background": 0.6}], 1.0, ON)
    assert state.blend() == {"background": 0.6}


def test_audio_kv_are_computed_once_per_generation_and_again_after_begin():
    attn = attention_module()
    hidden, text = inputs(attn, batch=2)
    calls = []
    attn.to_k.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[1]))
    state = zero_shot(attn, level_tokens(CROSS_DIM), [{"foreground": 1.0}] * 3)
    with torch.no_grad():
        for step in range(3):
            state.step = step
            attn(hidden, encoder_hidden_states=text)
        audio_calls = [n for n in calls if n == 4]  # the foreground has 4 tokens, the text 5
        assert len(audio_calls) == 1  # once for the 3 steps, not once per step

        new = level_tokens(CROSS_DIM, seed=9)
        state.begin(new, [{"foreground": 1.0}], STRENGTH, ON)  # a new generation: new tokens
        out = attn(hidden, encoder_hidden_states=text)
    want = expected_cond(attn, hidden[1:], text[1:], new, {"foreground": 1.0}, STRENGTH * GROUP_SCALE)
    torch.testing.assert_close(out[1:].double(), want, atol=ATOL, rtol=0)


@torch.no_grad()
def test_audio_tokens_that_do_not_fit_the_batch_are_a_clear_error():
    attn = attention_module()
    hidden, text = inputs(attn, batch=3)
    zero_shot(attn, level_tokens(CROSS_DIM), [{"foreground": 1.0}])
    with pytest.raises(ValueError, match=r"^audio tokens for 1 image\(s\) do not fit a batch of 3$"):
        attn(hidden, encoder_hidden_states=text)


# -- training: every sample its own blend, the gate in the graph --------------------------------------
def _training_setup(gate: float, levels=LEVELS):
    attn = attention_module(seed=4)
    hidden, text = inputs(attn, batch=4, seed=5)  # [uncond a, uncond b, cond a, cond b]
    tokens = {lv: t for lv, t in level_tokens(CROSS_DIM, n_cond=2, seed=6).items() if lv in levels}
    state = AudioState()
    processor = GatedAudioAttnProcessor(attn, MID_LAYER, 0, state, own_kv=True, gate_init=gate)
    with torch.no_grad():
        processor.to_k_audio.weight.mul_(0.7)  # trained K/V: no longer the text ones
        processor.to_v_audio.weight.add_(0.2)
    attn.set_processor(processor)
    blend = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])  # columns in LEVELS order, a row per sample
    return attn, processor, state, hidden, text, tokens, blend


def test_training_gives_every_sample_its_own_blend_and_learns_the_gate():
    attn, processor, state, hidden, text, tokens, blend = _training_setup(gate=0.6)
    state.begin(tokens, [{"ambience": 1.0}], 9.0, ON)  # a stale inference schedule...
    state.begin_batch(tokens, blend, STRENGTH, ON)  # ...replaced by the per-sample blend
    assert state.schedule == [] and state.step == 0

    out = attn(hidden, encoder_hidden_states=text)
    with torch.no_grad():
        assert torch.equal(out[:2], plain(attn, hidden, text)[:2])
        factor = STRENGTH * GROUP_SCALE * math.tanh(0.6)
        w_k, w_v = processor.to_k_audio.weight, processor.to_v_audio.weight
        for i in range(2):
            mine = {lv: t[i : i + 1] for lv, t in tokens.items()}
            row_blend = {lv: float(blend[i, c]) for c, lv in enumerate(LEVELS)}
            want = expected_cond(attn, hidden[2 + i : 3 + i], text[2 + i : 3 + i], mine, row_blend, factor, w_k, w_v)
            torch.testing.assert_close(out[2 + i : 3 + i].double(), want, atol=ATOL, rtol=0, msg=f"sample {i}")

    out[2:].sum().backward()
    assert processor.gate.grad is not None and processor.gate.grad.abs() > 0  # tanh(gate) is in the graph
    assert processor.to_k_audio.weight.grad.abs().sum() > 0


@torch.no_grad()
def test_training_skips_absent_levels_and_a_zero_scale():
    attn, processor, state, hidden, text, tokens, blend = _training_setup(gate=0.3, levels=("background",))
    state.begin_batch(tokens, blend, STRENGTH, ON)
    out = attn(hidden, encoder_hidden_states=text)
    factor = STRENGTH * GROUP_SCALE * math.tanh(0.3)
    w_k, w_v = processor.to_k_audio.weight, processor.to_v_audio.weight
    for i in range(2):
        mine = {"background": tokens["background"][i : i + 1]}
        want = expected_cond(attn, hidden[2 + i : 3 + i], text[2 + i : 3 + i], mine,
                             {"background": float(blend[i, 1])}, factor, w_k, w_v)  # fmt: skip
        torch.testing.assert_close(out[2 + i : 3 + i].double(), want, atol=ATOL, rtol=0)

    state.begin_batch(tokens, blend, STRENGTH, {"mid": 0.0})
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))
    state.begin_batch(tokens, blend, STRENGTH, {"down": 1.0, "up": 1.0})  # no scale for "mid": off
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))
    state.begin_batch({}, blend, STRENGTH, ON)  # no tokens at all
    assert torch.equal(attn(hidden, encoder_hidden_states=text), plain(attn, hidden, text))


def test_a_frozen_group_in_training_puts_no_audio_in_the_graph():
    """Scale 0 skips the audio branch: the tokens get no gradient (not a zero one) and the gate none."""
    attn, processor, state, hidden, text, tokens, blend = _training_setup(gate=0.3)
    tokens = {lv: t.clone().requires_grad_(True) for lv, t in tokens.items()}
    state.begin_batch(tokens, blend, STRENGTH, {"mid": 0.0})
    attn(hidden, encoder_hidden_states=text).sum().backward()
    assert all(t.grad is None for t in tokens.values()) and processor.gate.grad is None


@torch.no_grad()
def test_the_graph_safe_path_adds_what_the_eager_path_adds_for_a_trained_adapter():
    """Compiled previews' branch (core/static_audio.py), run eagerly here: the same sum per step,
    with tanh of the learned gate and strength x group scale read from device tensors, and the
    same recorded ratios."""
    from core.static_audio import StaticAudio

    attn, processor, state, hidden, text, tokens, _ = _training_setup(gate=0.6)
    hidden, text, tokens = hidden[1:3], text[1:3], {lv: t[:1] for lv, t in tokens.items()}  # [uncond, cond]
    schedule = [{"ambience": 0.25, "background": 0.75}, {"foreground": 1.0}]
    state.begin(tokens, schedule, STRENGTH, ON)
    eager = []
    for step in range(2):
        state.step = step
        eager.append(attn(hidden, encoder_hidden_states=text))
    static = StaticAudio(layers=1, device="cpu", dtype=torch.float32)
    static.begin(state)
    for step in range(2):
        torch.testing.assert_close(attn(hidden, encoder_hidden_states=text), eager[step], atol=1e-6, rtol=1e-5)
        static.advance(step + 1)
    np.testing.assert_allclose(static.ratios(2, 1), state.ratios(2, 1), rtol=1e-5)
    assert state.used == {0: schedule[0], 1: schedule[1]}


@torch.no_grad()
def test_the_per_sample_path_of_a_zero_shot_adapter_uses_the_layer_kv_and_no_gate():
    """Scale exactly 1 (strength 1 x group 1), gate 1 and the layer's own K/V: the audio is added
    with factor 1, row by row."""
    attn = attention_module(seed=4)
    hidden, text = inputs(attn, batch=4, seed=5)
    tokens = level_tokens(CROSS_DIM, n_cond=2, seed=6)
    state = AudioState()
    attn.set_processor(GatedAudioAttnProcessor(attn, MID_LAYER, 0, state))
    blend = torch.tensor([[0.0, 0.6, 0.4], [0.5, 0.5, 0.0]])
    state.begin_batch(tokens, blend, 1.0, {"mid": 1.0})
    out = attn(hidden, encoder_hidden_states=text)
    for i in range(2):
        mine = {lv: t[i : i + 1] for lv, t in tokens.items()}
        row_blend = {lv: float(blend[i, c]) for c, lv in enumerate(LEVELS)}
        want = expected_cond(attn, hidden[2 + i : 3 + i], text[2 + i : 3 + i], mine, row_blend, 1.0)
        torch.testing.assert_close(out[2 + i : 3 + i].double(), want, atol=ATOL, rtol=0)


@torch.no_grad()
def test_training_errors_name_what_does_not_fit():
    attn, processor, state, hidden, text, tokens, blend = _training_setup(gate=0.3)
    with pytest.raises(ValueError, match=r"^sample_blend must be \(batch, 3\), got \(2, 2\)$"):
        state.begin_batch(tokens, blend[:, :2], STRENGTH, ON)
    with pytest.raises(ValueError, match=r"^sample_blend must be \(batch, 3\), got \(3,\)$"):
        state.begin_batch(tokens, blend[0], STRENGTH, ON)
    state.begin_batch(tokens, blend, STRENGTH, ON)
    with pytest.raises(ValueError, match=r"^audio tokens for 2 image\(s\) do not fit a batch of 3$"):
        attn(hidden[:3], encoder_hidden_states=text[:3])


def test_a_trained_adapter_starts_from_the_text_kv_in_the_layer_dtype():
    attn = attention_module().double()
    processor = GatedAudioAttnProcessor(attn, MID_LAYER, 0, AudioState(), own_kv=True)
    assert processor.to_k_audio.bias is None and processor.to_v_audio.bias is None
    assert torch.equal(processor.to_k_audio.weight, attn.to_k.weight)
    assert torch.equal(processor.to_v_audio.weight, attn.to_v.weight)
    assert processor.to_k_audio.weight.dtype == torch.float64
    assert processor.gate_value() == pytest.approx(math.tanh(0.1))  # SonicDiffusion's init, ~0.0997
    assert sorted(processor.state_dict()) == ["gate", "to_k_audio.weight", "to_v_audio.weight"]


# -- the adapters on a UNet ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=8, norm_num_groups=32,
    ).eval()  # fmt: skip


def test_install_and_remove_put_exactly_the_right_processors_in_place(unet):
    state = AudioState()
    adapters = AudioAdapters(unet, state)
    original = dict(unet.attn_processors)
    try:
        chosen = adapters.install(["mid", "up"])
        assert chosen == adapters.installed == [n for n in adapters.layers if block_group(n) in ("mid", "up")]
        now = unet.attn_processors
        for name, proc in now.items():
            if name in chosen:
                assert isinstance(proc, GatedAudioAttnProcessor) and not proc.own_kv
                assert proc.index == adapters.layers.index(name) and proc.group == block_group(name)
            else:
                assert proc is original[name], name  # self-attention and other groups untouched
        assert adapters.processor(chosen[0], trained=False) is now[chosen[0]]  # one pool, reused
        trained = adapters.processor(chosen[0], trained=True)
        assert trained.own_kv and trained is not now[chosen[0]]

        adapters.remove()
        assert adapters.installed == []
        assert all(unet.attn_processors[n] is p for n, p in original.items())
    finally:
        adapters.remove()


def test_gate_values_are_tanh_of_the_gate_times_the_group_scale_where_installed(unet):
    state = AudioState()
    adapters = AudioAdapters(unet, state)
    try:
        assert adapters.gate_values(trained=False) == [0.0] * len(adapters.layers)  # nothing installed yet
        state.begin({}, [], 1.0, {"down": 0.5})
        adapters.install(["down", "mid"])
        assert adapters.gate_values(trained=False) == [
            0.5 if block_group(n) == "down" else 0.0 for n in adapters.layers
        ]
        state.begin({}, [], 1.0, {"down": 0.5, "mid": 0.37, "up": 1.6})
        adapters.install(["down", "mid"])
        zero_shot_gates = {"down": 0.5, "mid": 0.37, "up": 0.0}  # gate 1; not installed: 0
        assert adapters.gate_values(trained=False) == [zero_shot_gates[block_group(n)] for n in adapters.layers]

        weights = adapters.trained_state()
        gates = {}
        for i, key in enumerate(sorted(k for k in weights if k.endswith(".gate"))):
            weights[key] = torch.tensor(0.2 * i - 0.5)
            gates[key.removesuffix(".gate")] = 0.2 * i - 0.5
        adapters.load_trained_state(weights)
        adapters.install(["mid", "up"], trained=True)
        for name, value in zip(adapters.layers, adapters.gate_values(trained=True), strict=True):
            group = block_group(name)
            want = (
                0.0
                if group == "down"
                else math.tanh(gates[name.removesuffix(".processor")]) * state.group_scales[group]
            )
            assert value == pytest.approx(want, abs=1e-7), name

        adapters.reset_trained()  # forgotten: rebuilt at the initial gate
        assert all(
            p.gate_value() == pytest.approx(math.tanh(GATE_INIT)) for p in adapters.trained_processors().values()
        )
    finally:
        adapters.remove()
        adapters.reset_trained()


def test_layers_are_in_forward_order_down_mid_up_keeping_block_order(unet):
    """diffusers lists the mid block after the up blocks; the trace's layer axis must not."""
    layers = AudioAdapters(unet, AudioState()).layers
    assert [n.split(".attentions")[0] for n in layers] == [
        "down_blocks.0", "down_blocks.1", "mid_block", "up_blocks.0", "up_blocks.0", "up_blocks.1", "up_blocks.1"
    ]  # fmt: skip


def test_install_reads_a_gate_changed_since_the_last_install(unet):
    """A trained gate moved by an optimizer (or a load) is what the next generation uses: the
    processors keep tanh(gate) as a float between installs, read again on every install."""
    state = AudioState()
    adapters = AudioAdapters(unet, state)
    try:
        state.begin({}, [], STRENGTH, {"up": GROUP_SCALE})
        proc = adapters.processor(adapters.layers[-1], trained=True)
        assert proc.effective_scale() == pytest.approx(STRENGTH * GROUP_SCALE * math.tanh(GATE_INIT))
        with torch.no_grad():
            proc.gate.fill_(0.7)
        assert proc.effective_scale() == pytest.approx(STRENGTH * GROUP_SCALE * math.tanh(GATE_INIT))  # cached
        adapters.install(["up"], trained=True)
        assert proc.effective_scale() == pytest.approx(STRENGTH * GROUP_SCALE * math.tanh(0.7))
    finally:
        adapters.remove()
        adapters.reset_trained()


def test_a_checkpoint_that_does_not_fit_names_what_is_wrong(unet):
    adapters = AudioAdapters(unet, AudioState())
    try:
        good = adapters.trained_state()
        keys = sorted(good)
        missing = {k: v for k, v in good.items() if k not in keys[:4]}
        with pytest.raises(ValueError) as err:
            adapters.load_trained_state(missing)
        assert str(err.value) == f"adapter weights do not fit this UNet: missing {keys[:3]}, unexpected []"

        extra = {**good, **{f"x{i}.weight": torch.zeros(1) for i in range(4)}}
        with pytest.raises(ValueError) as err:
            adapters.load_trained_state(extra)
        want = "['x0.weight', 'x1.weight', 'x2.weight']"
        assert str(err.value) == f"adapter weights do not fit this UNet: missing [], unexpected {want}"

        key = keys[1]
        bad = {**good, key: torch.zeros(3, 2)}
        with pytest.raises(ValueError) as err:
            adapters.load_trained_state(bad)
        assert str(err.value) == f"adapter weight {key} has shape (3, 2), expected {tuple(good[key].shape)}"
    finally:
        adapters.reset_trained()


def test_a_layer_outside_the_unet_blocks_is_named():
    with pytest.raises(ValueError, match=r"^not a UNet block attention layer: conv_in\.processor$"):
        block_group("conv_in.processor")
