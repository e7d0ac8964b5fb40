"""The three stages on the tiny models: each lowers its loss, and what they write is what the engine
and the studio read."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import load_file

from core.train.loop import train
from core.train.metrics import read_metrics, read_status
from tests.train_helpers import tiny_config


@pytest.fixture(scope="module")
def stages(train_bundle, train_data, tmp_path_factory):
    """Stage 1 -> 2 -> 3, each started from the previous one's run (validation images on in stage 2)."""
    root = tmp_path_factory.mktemp("stages")
    lrs = {1: 1e-3, 2: 1e-2, 3: 3e-3}
    results = {}
    for stage in (1, 2, 3):
        config = tiny_config(
            train_data,
            root / f"s{stage}",
            stage,
            stage_steps=(8, 8, 8),
            learning_rates=(lrs[stage],) * 3,
            init=str(root / f"s{stage - 1}") if stage > 1 else None,
            val_every=4,
        )
        results[stage] = train(config, bundle=train_bundle, progress=False, images=stage == 2, log=lambda _: None)
    return results


def test_each_stage_lowers_its_validation_loss(stages):
    """Fixed validation noise and timesteps: the same batch before and after (numbers of this seed)."""
    expected = {1: (2.2867, 0.8508), 2: (1.1328, 1.1252), 3: (1.2727, 1.1798)}
    for stage, (start, end) in expected.items():
        val = stages[stage].val_losses
        assert sorted(val) == [0, 4, 8]
        assert val[0] == pytest.approx(start, rel=2e-3) and val[8] == pytest.approx(end, rel=2e-3)
        assert val[8] < val[0] - 0.005
    assert stages[1].losses[8] < 0.5 * stages[1].losses[1]  # alignment is easy: the training loss halves
    metrics = read_metrics(stages[3].run)
    temperatures = [m["temperature"] for m in metrics if "temperature" in m]
    assert temperatures[0] == 2.0 and temperatures[-1] == 0.5 and temperatures == sorted(temperatures, reverse=True)


def test_final_checkpoint_is_what_the_engine_loads(stages, tiny_engine, tiny_params):
    final = stages[2].final
    assert sorted(p.name for p in final.iterdir()) == [
        "README.md",
        "adapters.safetensors",
        "config.json",
        "projector.safetensors",
        "training.json",
    ]
    assert set(load_file(str(final / "adapters.safetensors"))) == set(tiny_engine.adapters.trained_state())
    zero_shot = tiny_engine.generate(tiny_params)
    trained = tiny_engine.generate(tiny_params.replace(mode="trained", checkpoint=str(final)))
    diff = np.abs(np.asarray(zero_shot.image, float) - np.asarray(trained.image, float))
    assert diff.mean() > 1.0
    groups = np.array(trained.trace.layer_groups)
    gates = np.array(trained.trace.gates)
    assert np.all(np.abs(gates[groups != "down"] - np.tanh(0.1)) > 1e-4)  # learned, not the init
    card = (final / "README.md").read_text()
    assert "stage 2 (hierarchy + adapters)" in card and "6 rows used, 0 skipped" in card
    assert f"--checkpoint {final.parent.name}/final --audio" in card  # works beside the run, not only inside it
    assert str(final.parent.parent) not in card + (final / "training.json").read_text()  # no server paths


def test_stage_two_gates_move_and_stage_one_adapters_stay_at_init(stages):
    s2 = load_file(str(stages[2].final / "adapters.safetensors"))
    gates = {k: float(v) for k, v in s2.items() if k.endswith(".gate")}
    trained = [v for k, v in gates.items() if not k.startswith("down")]
    assert trained and all(abs(v - 0.1) > 1e-3 for v in trained)
    assert all(v == pytest.approx(0.1) for k, v in gates.items() if k.startswith("down"))  # not installed
    s1 = load_file(str(stages[1].final / "adapters.safetensors"))
    assert all(float(v) == pytest.approx(0.1) for k, v in s1.items() if k.endswith(".gate"))


def test_run_files_for_the_studio(stages):
    run = stages[2].run
    status = read_status(run)
    assert status["state"] == "done" and status["step"] == status["total"] == 8
    assert status["last_checkpoint"] == "checkpoints/step-0000008" and status["final"] == "final"
    lines = read_metrics(run)
    assert [m["step"] for m in lines if "loss" in m] == list(range(1, 9))
    assert set(lines[1]) == {"step", "stage", "loss", "lr", "samples_per_s"}
    assert sorted(p.name for p in (run / "validation").glob("step-*")) == [
        "step-0000000",
        "step-0000004",
        "step-0000008",
    ]
    assert len(list((run / "validation" / "step-0000008").glob("*.png"))) == 2
    events = list((run / "logs").rglob("events.out.tfevents.*"))  # TensorBoard through accelerate
    assert events
    logged = b"".join(p.read_bytes() for p in (run / "logs").rglob("*") if p.is_file())
    assert b"stage" in logged and str(run.parent).encode() not in logged  # hparams name no folder of this machine


def test_training_json_and_the_card_sum_up_the_run_they_close(stages):
    """training.json's summary is the run's own numbers: the first and last logged loss and validation
    loss, the steps done, the batch, the mean learned tanh(gate) of each block group; the card says the
    same. Validation is logged once per step it ran at (the last step too, when val_every divides it)."""
    import json

    run = stages[2]
    summary = json.loads((run.final / "training.json").read_text())["summary"]
    assert summary["first_loss"] == run.losses[1] and summary["last_loss"] == run.losses[8]
    assert summary["first_val_loss"] == run.val_losses[0] and summary["last_val_loss"] == run.val_losses[8]
    assert (summary["steps_done"], summary["global_batch"], summary["processes"]) == (8, 2, 1)
    saved = load_file(str(run.final / "adapters.safetensors"))
    for group in ("mid", "up"):
        gates = [np.tanh(float(v)) for k, v in saved.items() if k.startswith(group) and k.endswith(".gate")]
        assert summary["gates"][group] == pytest.approx(np.mean(gates), abs=1e-6)
    assert set(summary["gates"]) == {"mid", "up"}  # down (gate scale 0) is not trained: no learned gate
    card = (run.final / "README.md").read_text()
    assert f"first {run.losses[1]:.4g}, last {run.losses[8]:.4g}" in card
    assert f"start {run.val_losses[0]:.4g}, end {run.val_losses[8]:.4g}" in card
    assert "8 of 8 steps, global batch 2 (1 process(es) x 2 x 1 accumulation)" in card
    assert f"mid {summary['gates']['mid']:.4f}, up {summary['gates']['up']:.4f}" in card
    assert "temperature annealed 2 -> 0.5" in (stages[3].final / "README.md").read_text()
    assert "learned gates" not in (stages[1].final / "README.md").read_text()  # stage 1 trains no adapter
    for stage in (1, 2, 3):
        assert [m["step"] for m in read_metrics(stages[stage].run) if "val_loss" in m] == [0, 4, 8]


def test_a_validation_image_is_what_the_engine_makes_from_the_checkpoint_with_the_runs_settings(stages, tiny_engine):
    """The last validation (step 8, the final weights): the first clip's image is the engine's in trained
    mode at the run's seed, resolution and validation steps, pixel for pixel."""
    from PIL import Image

    from core.train.checkpoint import read_run_config
    from core.train.dataset import load_dataset

    run = stages[2]
    config = read_run_config(run.run)
    for row in load_dataset(config.data).rows[:1]:
        params = config.generation_params().replace(
            mode="trained", checkpoint=str(run.final), steps=config.val_steps, width=64, height=64,
            seed=config.seed, audio_path=str(row.audio),
        )  # fmt: skip
        made = np.asarray(tiny_engine.generate(params).image)
        saved = np.asarray(Image.open(run.run / "validation" / "step-0000008" / f"row-{row.line:05d}.png"))
        assert np.array_equal(made, saved)
