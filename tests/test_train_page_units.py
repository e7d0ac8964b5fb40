"""The Train page's words and numbers without a page: a run's status line, progress, skipped rows
and line among the past runs (studio/run_view.py), read from status.json as another process wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.train.runs import RunInfo
from studio import run_view


def _run(tmp_path: Path, alive: bool = False, name: str = "city", **status) -> RunInfo:
    return RunInfo(tmp_path / name, status, alive=alive)


def test_the_status_line_says_what_the_run_knows(tmp_path):
    going = _run(tmp_path, alive=True, state="training", stage=1, step=40, total=500, loss=0.123456, eta_s=125)
    assert run_view.status_line(going) == (
        "**training** · stage 1 (alignment) · step 40 of 500 · loss 0.1235 · about 2 min 05 s left"
    )
    loading = _run(tmp_path, alive=True, state="starting", stage=2)  # no total, no loss, no estimate yet
    assert run_view.status_line(loading) == "**starting** · stage 2 (hierarchy + adapters) · step 0 of ?"
    for total in (0, None):
        assert run_view.status_line(_run(tmp_path, alive=True, state="training", stage=3, step=5, total=total)) == (
            "**training** · stage 3 (fine-tuning) · step 5 of ?"
        )
    stopped = _run(tmp_path, state="stopped", stage=1, step=40, total=500, loss=0.5, eta_s=125)
    assert run_view.status_line(stopped) == "**stopped** · stage 1 (alignment) · step 40 of 500 · loss 0.5000"
    assert "left" not in run_view.status_line(stopped)  # its last estimate is not true once it stopped
    odd = _run(tmp_path, alive=True, state="training", step=1, total=2, loss="nan?", eta_s=None)
    assert run_view.status_line(odd) == "**training** · stage ? · step 1 of 2"  # a status edited by hand
    assert run_view.status_line(_run(tmp_path, alive=True, state="training", stage=1, loss=0.0, eta_s=0)).endswith(
        "loss 0.0000"
    )  # a loss of 0 is said; no time left is not "about 0 s left"


@pytest.mark.parametrize(
    ("step", "total", "done"),
    [(0, 500, 0.0), (250, 500, 0.5), (500, 500, 1.0), (612, 500, 1.0), (3, 0, None), (3, None, None)],
)
def test_progress_is_a_fraction_of_the_total_and_none_while_it_is_unknown(tmp_path, step, total, done):
    assert run_view.progress(_run(tmp_path, state="training", step=step, total=total)) == done


def test_the_skipped_rows_label_and_how_many_the_table_shows(tmp_path):
    assert run_view.skipped_label(_run(tmp_path, rows_used=4, rows_skipped=2)) == "Trained on 4 rows; 2 skipped"
    assert run_view.skipped_label(_run(tmp_path, rows_skipped=3)) == "Trained on ? rows; 3 skipped"
    assert run_view.skipped_label(_run(tmp_path, rows_used=4, rows_skipped=0)) is None
    assert run_view.skipped_label(_run(tmp_path)) is None
    older = _run(tmp_path, rows_used=4, rows_skipped=26)  # a run from before skipped_rows.txt: twenty named
    assert run_view.skipped_shown_note(older, 20) == "The first 20 of 26."
    assert run_view.skipped_shown_note(older, 26) is None
    assert run_view.skipped_shown_note(_run(tmp_path), 0) is None


def test_a_past_runs_line(tmp_path):
    (tmp_path / "city" / "final").mkdir(parents=True)
    (tmp_path / "city" / "final" / "training.json").write_text("{}")
    done = _run(tmp_path, state="done", stage=2, step=500, total=500)
    assert run_view.past_run_line(done) == "`city` · done · stage 2 · step 500/500 · final checkpoint"
    started = _run(tmp_path, name="new", alive=True, state="starting")
    assert run_view.past_run_line(started) == "`new` · starting · stage ? · step 0/?"
    odd = _run(tmp_path, name="a`b", state="stopped", stage=1, step=3, total=9)
    assert run_view.past_run_line(odd) == "``a`b`` · stopped · stage 1 · step 3/9"  # a name cannot end its code span


def test_a_runs_settings_put_the_steps_and_rate_typed_in_the_stage_chosen_and_its_folders_under_the_roots(
    tmp_path, monkeypatch
):
    """Stage 2 at 7 steps and 3e-4: the other stages keep their declared numbers; the dataset, the run and
    the --init run are folders under the roots (CLAP2DIFF_DATASETS, CLAP2DIFF_RUNS)."""
    from core.train.config import starting_config
    from studio import training

    monkeypatch.setenv(training.DATASETS_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(training.RUNS_ENV, str(tmp_path / "runs"))
    base = starting_config("tiny")
    config = training.config_for("tones", "r2", "tiny", 2, 7, 3e-4, 1, "r1", seed=5)
    assert (config.stage, config.steps, config.lr, config.batch_size, config.seed) == (2, 7, 3e-4, 1, 5)
    assert config.stage_steps == (base.stage_steps[0], 7, base.stage_steps[2])
    assert config.learning_rates == (base.learning_rates[0], 3e-4, base.learning_rates[2])
    assert (config.data, config.out, config.init) == tuple(
        str(tmp_path / part) for part in ("data/tones", "runs/r2", "runs/r1")
    )
    assert training.config_for("tones", "r3", "tiny", 1, 7, 3e-4, 1, None).init is None


@pytest.mark.parametrize(
    ("name", "said"),
    [("city-2.b_c", None), ("9" * 100, None), ("9" * 101, "Use letters"), ("-city", "Use letters"),
     ("a/b", "Use letters"), ("taken", "A run named taken exists already")],
)  # fmt: skip
def test_a_run_name_is_one_folder_name_not_taken(tmp_path, monkeypatch, name, said):
    from studio import training

    monkeypatch.setenv(training.RUNS_ENV, str(tmp_path))
    (tmp_path / "taken").mkdir()
    found = training.check_run_name(name)
    assert found == said if said is None else found.startswith(said)
