"""Training conditions the UNet exactly as inference does: hierarchy, schedule and adapters."""

from __future__ import annotations

import pytest
import torch

from core.attention import AudioAdapters
from core.audio_state import AudioState
from core.hierarchy import build_levels, build_levels_batch
from core.params import LEVELS, GenerationParams
from core.schedule import level_schedule
from core.train.stages import level_blend_table, trained_groups


@pytest.mark.parametrize("measure", ["token", "tensor"])
def test_batched_hierarchy_is_inference_hierarchy_per_sample(measure):
    """Both norm measures; a silent and a near-silent (norm below 1e-8) sequence stay as they are,
    as `scale_to_norm` leaves them, never blown up to the target."""
    params = GenerationParams(norm_target=60.0, norm_measure=measure, split=(30, 27, 20), level_weights=(0.9, 0.4, 0.2))
    torch.manual_seed(0)
    tokens = torch.randn(4, 77, 32) * torch.tensor([1.0, 5.0, 0.1, 1e-12]).view(4, 1, 1)
    tokens[2] = 0.0  # a silent sequence stays as it is
    tokens.requires_grad_(True)
    batched = build_levels_batch(tokens, params)
    for i in range(4):
        single = build_levels(tokens[i : i + 1].detach(), params).tokens
        for level in LEVELS:
            torch.testing.assert_close(batched[level][i : i + 1], single[level], rtol=1e-5, atol=1e-6)
    assert batched["foreground"].shape == (4, 30, 32)
    assert float(batched["foreground"][3].detach().abs().max()) < 1e-10  # near-silent: unscaled
    sum(v.sum() for v in batched.values()).backward()
    assert tokens.grad is not None and tokens.grad[:2].abs().sum() > 0


@pytest.mark.parametrize("steps", [10, 20, 25, 50])
def test_training_timesteps_get_the_level_inference_gives_them(tiny_engine, steps):
    """For the engine's default scheduler (DPM-Solver++), timestep t_i of inference step i gets, in
    training, exactly the blend the inference schedule gives step i."""
    params = GenerationParams()
    scheduler = tiny_engine.pipe.scheduler
    scheduler.set_timesteps(steps)
    table = level_blend_table(scheduler.config.num_train_timesteps, params)
    schedule = level_schedule(steps, params.switch_points, params.switch_style, params.crossfade)
    for i, t in enumerate(scheduler.timesteps.tolist()):
        assert table[int(t)].tolist() == [schedule[i].get(level, 0.0) for level in LEVELS], (i, t)


def test_annealed_blends_are_soft_then_sharp():
    params = GenerationParams()
    soft = level_blend_table(1000, params, temperature=2.0)
    sharp = level_blend_table(1000, params, temperature=0.5)
    hard = level_blend_table(1000, params)
    torch.testing.assert_close(soft.sum(1), torch.ones(1000))
    mixed = lambda table: int(((table > 0).sum(1) > 1).sum())  # noqa: E731 - timesteps with two levels
    assert mixed(soft) == 4 * mixed(sharp) > 0 == mixed(hard)  # cross-fade width 0.2 vs 0.05 vs 0


@pytest.fixture
def unet_with_adapters(train_bundle):
    unet = train_bundle.pipe.unet
    state = AudioState()
    adapters = AudioAdapters(unet, state)
    yield unet, state, adapters
    adapters.remove()


def test_per_sample_blends_match_inference_per_row(unet_with_adapters):
    """A batch of two samples at two levels gives each row what inference gives it alone; the gate,
    the audio K/V and the tokens all receive gradients."""
    unet, state, adapters = unet_with_adapters
    adapters.install(["mid", "up"], trained=True)
    scales = {"down": 0.0, "mid": 1.0, "up": 1.0}
    torch.manual_seed(1)
    tokens = {level: torch.randn(2, n, 32) * 5 for level, n in zip(LEVELS, (35, 21, 21))}
    latents, text = torch.randn(2, 4, 8, 8), torch.randn(2, 77, 32)
    timesteps = torch.tensor([100, 800])
    expected = []
    with torch.no_grad():
        for row, level in enumerate(["foreground", "ambience"]):
            state.begin({k: v[row : row + 1] for k, v in tokens.items()}, [{level: 1.0}], 1.0, scales)
            expected.append(
                unet(latents[row : row + 1], timesteps[row], encoder_hidden_states=text[row : row + 1]).sample
            )
    leaf = {k: v.clone().requires_grad_(True) for k, v in tokens.items()}
    blend = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    state.begin_batch(leaf, blend, 1.0, scales)
    out = unet(latents, timesteps, encoder_hidden_states=text).sample
    torch.testing.assert_close(out, torch.cat(expected), rtol=1e-4, atol=1e-5)
    out.square().mean().backward()
    proc = adapters.processor(adapters.installed[0], trained=True)
    assert proc.gate.grad is not None and proc.gate.grad.abs() > 0
    assert proc.to_k_audio.weight.grad.abs().sum() > 0 and proc.to_v_audio.weight.grad.abs().sum() > 0
    assert leaf["foreground"].grad.abs().sum() > 0 and leaf["background"].grad.abs().sum() == 0  # weight 0
    state.end()
    assert state.sample_blend is None


def test_begin_clears_a_training_blend(unet_with_adapters):
    _, state, _ = unet_with_adapters
    state.begin_batch({"foreground": torch.zeros(1, 35, 32)}, torch.ones(1, 3), 1.0, {"up": 1.0})
    state.begin({}, [{}], 1.0, {"up": 1.0})
    assert state.sample_blend is None
    with pytest.raises(ValueError, match="sample_blend"):
        state.begin_batch({}, torch.ones(2, 2), 1.0, {})


def test_only_block_groups_with_a_gate_above_zero_are_trained():
    """The default gates (down 0, mid 1, up 1): down's adapters are neither trained nor saved."""
    assert trained_groups(GenerationParams()) == ["mid", "up"]
    assert trained_groups(GenerationParams(gate_scales=(0.5, 0.0, 0.0))) == ["down"]


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_the_diffusion_loss_targets_what_the_scheduler_predicts(monkeypatch, prediction):
    """SD 2-style v-prediction models learn the velocity, SD 1.x the noise: every tiny model predicts
    the noise, so a loss that always took the noise as its target survived (mutation review)."""
    from types import SimpleNamespace

    from diffusers import DDPMScheduler

    from core.train import stages

    scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction)
    g = torch.Generator().manual_seed(0)
    latents, noise = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    timesteps = torch.tensor([10, 900])
    velocity = scheduler.get_velocity(latents, noise, timesteps)

    class Predicts:  # a UNet whose prediction is the velocity, whatever it is given
        dtype = torch.float32

        def __call__(self, *_args, **_kwargs) -> SimpleNamespace:
            return SimpleNamespace(sample=velocity)

    monkeypatch.setattr(stages, "build_levels_batch", lambda tokens, params: None)
    model = SimpleNamespace(unet=Predicts(), noise_scheduler=scheduler, params=None, group_scales=None,
                            state=SimpleNamespace(begin_batch=lambda *_: None))  # fmt: skip
    batch = {"latents": latents, "noise": noise, "timesteps": timesteps, "blend": None, "cond": torch.zeros(2, 77, 8)}
    loss = stages.StageModel.diffusion_loss(model, torch.zeros(2, 1), batch)
    expected = torch.zeros(2) if prediction == "v_prediction" else ((velocity - noise) ** 2).mean(dim=(1, 2, 3))
    assert not torch.allclose(velocity, noise)  # the two targets differ: a loss on the wrong one is not 0
    assert torch.allclose(loss, expected)


def test_weight_decay_pulls_on_matrices_never_on_gates_biases_or_norms(unet_with_adapters):
    """AdamW's decay would pull a gate shut: the scalar gates (and biases, norms) go in a group of 0."""
    from diffusers import DDPMScheduler

    from core.projector import AudioProjector, ProjectorConfig
    from core.train.stages import StageModel, make_optimizer

    unet, _, adapters = unet_with_adapters
    projector = AudioProjector(
        ProjectorConfig(input_dim=8, hidden_dim=16, expand_dim=32, output_dim=32, layers=1, heads=4)
    )
    model = StageModel(2, projector, adapters, unet, DDPMScheduler(num_train_timesteps=1000))
    decay, no_decay = make_optimizer(model, 1e-3, 0.5).param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.5, 0.0)
    assert {id(p) for p in decay["params"]} == {id(p) for p in model.trainable_parameters() if p.ndim > 1}
    gates = [p.gate for p in model.adapters.values()]
    assert gates and {id(g) for g in gates} <= {id(p) for p in no_decay["params"]}
    assert all(p.ndim <= 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(model.trainable_parameters())


class _Dot(torch.nn.Module):
    """loss = x . w per sample: its gradient is x, so a clipped step is easy to foresee."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(4))

    def forward(self, batch: dict) -> dict:
        return {"loss": batch["x"] @ self.w}


def test_an_optimizer_step_clips_the_accumulated_gradient_once_and_returns_the_mean_loss():
    """Two micro-batches: gradient (x1 + x2) / 2 = (1.5, 2, 1.5, 3), clipped to norm 1 as a whole
    (clipping the first half alone would tilt it); SGD at lr 1 moves w by it; the loss is the mean."""
    from accelerate import Accelerator

    from core.train.stages import optimizer_step

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    model = _Dot()
    model, optimizer = accelerator.prepare(model, torch.optim.SGD(model.parameters(), lr=1.0))
    micro = [{"x": torch.tensor([[3.0, 4.0, 0.0, 0.0]])}, {"x": torch.tensor([[0.0, 0.0, 3.0, 6.0]])}]
    loss = optimizer_step(accelerator, model, optimizer, micro, max_grad_norm=1.0)
    assert float(loss) == pytest.approx((7.0 + 9.0) / 2)
    grad = torch.tensor([1.5, 2.0, 1.5, 3.0])
    expected = torch.ones(4) - grad / grad.norm()
    torch.testing.assert_close(accelerator.unwrap_model(model).w.detach(), expected)


def test_the_batch_plan_gives_each_process_and_micro_batch_its_own_positions_and_each_epoch_its_own_order():
    """2 processes x 2 samples x 2 micro-batches: a step takes 8 consecutive positions, rank r of
    micro-batch m the pair at (step x 2 + m) x 4 + 2r; every epoch is a permutation, not the first again."""
    from core.train.batches import BatchPlan

    plan = BatchPlan(n_samples=6, seed=3, per_process=2, processes=2, grad_accum=2)
    assert plan.positions(1, 1, 1) == [14, 15] and plan.positions(1, 0, 0) == [8, 9]
    taken = [p for step in range(3) for m in range(2) for r in range(2) for p in plan.positions(step, m, r)]
    assert taken == list(range(24))
    epochs = [[plan.sample_index(e * 6 + i) for i in range(6)] for e in range(3)]
    assert all(sorted(order) == list(range(6)) for order in epochs)
    assert len({tuple(order) for order in epochs}) == 3
    assert epochs[0] == [BatchPlan(6, 3, 1).sample_index(i) for i in range(6)]  # the seed's, whatever the layout


def test_a_training_forward_scales_each_block_group_as_inference_does(unet_with_adapters):
    """Gate scales (0, 1, 0.5): the adapters of 'up' train at half strength, as the engine runs them."""
    from diffusers import DDPMScheduler

    from core.projector import AudioProjector, ProjectorConfig
    from core.train.stages import StageModel

    unet, state, adapters = unet_with_adapters
    projector = AudioProjector(
        ProjectorConfig(input_dim=8, hidden_dim=16, expand_dim=32, output_dim=32, layers=1, heads=4)
    )
    params = GenerationParams(gate_scales=(0.0, 1.0, 0.5))
    model = StageModel(2, projector, adapters, unet, DDPMScheduler(num_train_timesteps=1000), params)
    batch = {"latents": torch.zeros(1, 4, 8, 8), "noise": torch.ones(1, 4, 8, 8), "timesteps": torch.tensor([500]),
             "blend": torch.tensor([[1.0, 0.0, 0.0]]), "cond": torch.zeros(1, 77, 32)}  # fmt: skip
    model.diffusion_loss(projector(torch.zeros(1, 8)), batch)
    assert state.group_scales == {"down": 0.0, "mid": 1.0, "up": 0.5}
