"""`python -m core evaluate`: a dataset's rows generated with their captions and scored; the same
table from 1 and 2 processes (torchrun on CPU, accelerate's MULTI_CPU)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.evaluate import aggregate
from tests.train_helpers import make_dataset

ROOT = Path(__file__).resolve().parent.parent


def test_aggregate_is_the_mean_and_a_95_percent_interval():
    rows = [{"prompt_match": v, "reference_match": None} for v in (0.1, 0.2, 0.3, 0.4)]
    pm, rm = aggregate(rows, ("prompt_match", "reference_match"))
    assert pm.n == 4 and pm.mean == pytest.approx(0.25)
    assert pm.ci95 == pytest.approx(1.96 * 0.12909944 / 2, rel=1e-6)  # sample sd of 0.1..0.4 = 0.1291
    assert (rm.n, rm.mean, rm.ci95) == (0, None, None)


def _args(data: Path, out: Path) -> list[str]:
    return ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "2", "--size", "64x64", "--seeds", "2",
            "--out", str(out), "--quiet"]  # fmt: skip


def _table(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "results.csv").open()))


def _torchrun(data: Path, out: Path, processes: int) -> list[dict]:
    torchrun = Path(sys.executable).with_name("torchrun")
    port = str(29600 + os.getpid() % 1000 + processes)
    launch = [str(torchrun), "--nproc_per_node", str(processes), "--master_port", port, "-m", "core"]
    command = [*launch, *_args(data, out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return _table(out)


@pytest.mark.slow  # torchrun's two processes each import torch and build the tiny models
def test_two_processes_give_the_table_of_one(tmp_path, capsys):
    """One process (this one, as test_train_runs.py's loss check runs it) against torchrun's two."""
    from core.cli import main

    data = make_dataset(tmp_path / "data", n=3)
    assert main(_args(data, tmp_path / "one")) == 0, capsys.readouterr().err
    one = _table(tmp_path / "one")
    two = _torchrun(data, tmp_path / "two", 2)
    assert [(r["line"], r["seed"]) for r in one] == [(str(line), str(s)) for line in (1, 2, 3) for s in (0, 1)]
    assert [(r["line"], r["seed"], r["caption"]) for r in two] == [(r["line"], r["seed"], r["caption"]) for r in one]
    for a, b in zip(one, two, strict=True):
        for name in ("prompt_match", "heard_similarity", "audio_effect_pixels", "reference_match"):
            assert float(b[name]) == pytest.approx(float(a[name]), abs=1e-5), (name, a, b)
    assert sorted(p.name for p in (tmp_path / "two" / "parts").iterdir()) == ["part-0.jsonl", "part-1.jsonl"]
    agg = {r["score"]: r for r in csv.DictReader((tmp_path / "two" / "aggregate.csv").open())}
    assert agg["reference_match"]["n"] == "6"
    report = (tmp_path / "two" / "report.md").read_text()
    assert "| reference_match | 6 |" in report and "![](images/line-0001_seed-0.png)" in report
    assert (tmp_path / "two" / "images" / "line-0003_seed-1.png").is_file()
    assert str(tmp_path) not in report  # no server path in the shared report


def test_a_row_whose_files_do_not_decode_is_skipped_with_its_reason(tmp_path, capsys):
    """A clip that passes the header check but holds no sound, and a damaged reference image: those
    rows are skipped (each once, whatever the seeds) and listed in the report; the rest is scored."""
    from core.cli import main

    data = make_dataset(tmp_path / "data", n=3)
    (data / "clips" / "1.wav").write_bytes((data / "clips" / "0.wav").read_bytes()[:44])  # row 2: a header, no sound
    (data / "frames" / "2.jpg").write_bytes((data / "frames" / "2.jpg").read_bytes()[:200])  # row 3: cut short
    out = tmp_path / "out"
    (out / "parts").mkdir(parents=True)  # an earlier run's with two processes: not this run's table
    (out / "parts" / "part-1.jsonl").write_text(
        '{"line": 3, "seed": 0, "audio": "2.wav", "caption": "old", "image": "x"}\n'
    )
    (out / "images").mkdir()  # an earlier run's images of rows and seeds this run does not make, and a user's file
    for name in ("line-0002_seed-0.png", "line-0001_seed-7.png", "keep.png"):
        (out / "images" / name).write_bytes(b"earlier")
    args = ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "2", "--size", "64x64", "--seeds", "2"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["line"], r["seed"]) for r in rows] == [("1", "0"), ("1", "1")]
    assert {r["scored_by"] for r in rows} == {"tiny"}  # scores of two CLIPs do not compare: each row says whose
    agg = {r["score"]: r for r in csv.DictReader((out / "aggregate.csv").open())}
    assert agg["prompt_match"]["n"] == "2"
    report = (out / "report.md").read_text()
    assert "2 row(s) skipped:" in report and "- line 2: " in report and "- line 3: " in report
    assert "audio strength 1, scored by CLIP tiny.\n" in report
    assert (
        str(tmp_path) not in report and "- line 2: 1.wav has no audio frames (zero length)" in report
    )  # names, not folders
    assert report.count("- line 2: ") == 1
    assert sorted(p.name for p in (out / "images").iterdir()) == ["keep.png", "line-0001_seed-0.png",
                                                                  "line-0001_seed-1.png"]  # fmt: skip


def test_a_failure_that_is_not_a_rows_ends_the_run_instead_of_skipping_every_row(tmp_path, capsys):
    from core.cli import main

    data = make_dataset(tmp_path / "data", n=2)
    missing = tmp_path / "runs" / "city" / "final"  # a checkpoint that is not there: no row can help it
    args = ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "2", "--size", "64x64"]
    assert main([*args, "--mode", "trained", "--checkpoint", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert "error: " in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_a_reference_photo_is_scored_upright_as_its_exif_orientation_says(tmp_path, capsys, monkeypatch):
    """A phone photo stored sideways with an EXIF orientation: the reference-match score sees it
    turned upright, as a viewer (and the Edit page's `load_photo`) shows it."""
    import numpy as np
    from PIL import Image

    from core.cli import main
    from core.scoring import Scorer

    data = make_dataset(tmp_path / "data", n=1)
    stored = np.zeros((32, 64, 3), np.uint8)  # landscape as stored, its left half red
    stored[:, :32, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: portrait, red on top
    Image.fromarray(stored).save(data / "frames" / "0.png", exif=exif.tobytes())
    seen, score = [], Scorer.score

    def recorded(self, image, *args, **kw):
        seen.append(args[4] if len(args) > 4 else kw["reference"])
        return score(self, image, *args, **kw)

    monkeypatch.setattr(Scorer, "score", recorded)
    args = ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "1", "--size", "64x64"]
    assert main([*args, "--out", str(tmp_path / "out"), "--quiet"]) == 0, capsys.readouterr().err
    upright = np.asarray(seen[0])
    assert upright.shape == (64, 32, 3) and upright[:32, :, 0].min() == 255 and upright[32:, :, 0].max() == 0


def test_a_caption_with_a_pipe_or_a_line_break_stays_in_its_report_cell(tmp_path):
    from core.evaluate import REPORT, _write, aggregate
    from core.params import GenerationParams

    rows = [{"line": 1, "seed": 0, "audio": "a.wav", "caption": "rain | thunder\nat night \\ late", "image": "i.png"}]
    _write(tmp_path, rows, aggregate(rows), "data", GenerationParams(), 1, [])
    table = (tmp_path / REPORT).read_text().split("| line | seed | caption |")[1].splitlines()
    assert table[2] == r"| 1 | 0 | rain \| thunder at night \\ late | ![](i.png) |  |"
    assert len(table) == 3  # the header, its rule, one row


def test_the_seeds_start_at_the_seed_given(tmp_path, capsys):
    """--seed 5 --seeds 2 generates each row at seeds 5 and 6 (what results.csv and the image names
    say), as `generate --seed 5` would: not 0 and 1 whatever the seed."""
    from core.cli import main
    from core.export import read_params

    data = make_dataset(tmp_path / "data", n=1)
    out = tmp_path / "out"
    args = ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "1", "--size", "64x64", "--seeds", "2"]
    assert main([*args, "--seed", "5", "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert [(r["seed"], r["image"]) for r in _table(out)] == [
        ("5", "images/line-0001_seed-5.png"), ("6", "images/line-0001_seed-6.png")
    ]  # fmt: skip
    assert read_params(out / "images" / "line-0001_seed-6.png").seed == 6


def test_a_baseline_at_strength_0_is_its_own_twin(tmp_path, capsys, monkeypatch):
    """--strength 0 (plain SD, the baseline a method is compared with): each image already is its
    strength-0 twin, so it is generated once, not twice, and its audio effect is exactly 0."""
    from core.cli import main
    from core.engine import Engine

    made, generate = [], Engine.generate
    monkeypatch.setattr(
        Engine, "generate", lambda self, params, **kw: made.append(params) or generate(self, params, **kw)
    )
    data = make_dataset(tmp_path / "data", n=1)
    out = tmp_path / "out"
    args = ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "1", "--size", "64x64", "--seeds", "2"]
    assert main([*args, "--strength", "0", "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert [p.seed for p in made] == [0, 1]
    assert [(r["audio_effect_clip"], r["audio_effect_pixels"]) for r in _table(out)] == [("0.000000", "0.000000")] * 2


def test_seeds_past_the_largest_seed_are_refused_before_any_image(tmp_path, capsys):
    """--seed 4294967295 --seeds 2: the second seed does not exist. Said at once, not as the error
    that ended the run after its first image."""
    from core.cli import main
    from core.params import MAX_SEED

    data = make_dataset(tmp_path / "data", n=1)
    args = ["evaluate", "--data", str(data), "--models", "tiny", "--steps", "1", "--size", "64x64", "--seeds", "2"]
    assert main([*args, "--seed", str(MAX_SEED), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: --seed {MAX_SEED} --seeds 2: the last seed would be {MAX_SEED + 1}, over the largest seed, "
        f"{MAX_SEED}: give a smaller --seed\n"
    )
    assert not (tmp_path / "out" / "images").exists()
