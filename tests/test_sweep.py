"""X/Y/Z sweeps (core/sweep) and scores (core/scoring.py) on the tiny models, offline."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from core.cli import main
from core.export import read_grid, read_params
from core.params import GenerationParams
from core.scoring import Scorer, heard_scores
from core.sweep import SweepError, SweepPlan, parse_axis, run_sweep, save_sweep, sweep_files
from core.trace import HeardLabel
from core.vocabulary import SoundEvent, Vocabulary


@pytest.fixture(scope="module")
def scorer():
    return Scorer("tiny")


def _tone(path: Path, hz: float) -> Path:
    t = np.arange(16000) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000)
    return path


def _base(tiny_params, **changes) -> GenerationParams:
    return tiny_params.replace(steps=2, width=64, height=64, **changes)


def test_a_2x2x2_sweep_puts_every_value_in_its_tile_and_label(tmp_path, tiny_engine, tiny_params):
    base = _base(tiny_params)
    plan = SweepPlan(
        base,
        (
            parse_axis("x", "level_weights.0=0.2,1.4", base),
            parse_axis("y", "norm_target=30,90", base),
            parse_axis("z", "seed=3,4", base),
        ),
    )
    run = run_sweep(tiny_engine, plan)
    save_sweep(run, tmp_path)
    for z, seed in enumerate((3, 4)):
        for y, norm in enumerate((30.0, 90.0)):
            for x, fg in enumerate((0.2, 1.4)):
                p = read_params(tmp_path / f"z{z + 1:02d}_y{y + 1:02d}_x{x + 1:02d}.png")
                assert (p.seed, p.norm_target, p.level_weights[0]) == (seed, norm, fg)
                assert p.level_weights[1:] == base.level_weights[1:] and p.prompt == base.prompt
        items = read_grid(tmp_path / f"sweep_grid_{z + 1:02d}.png")
        assert [(i.params.norm_target, i.params.level_weights[0]) for i in items] == [
            (30.0, 0.2), (30.0, 1.4), (90.0, 0.2), (90.0, 1.4)
        ]  # fmt: skip
        assert [i.caption for i in items][1] == "norm_target=30 · level_weights.0=1.4"
    rows = list(csv.DictReader(io.StringIO((tmp_path / "scores.csv").read_text())))
    assert [r["file"] for r in rows][:3] == ["z01_y01_x01.png", "z01_y01_x02.png", "z01_y02_x01.png"]
    assert rows[1]["x_level_weights.0"] == "1.4" and rows[2]["y_norm_target"] == "90" and rows[4]["z_seed"] == "4"
    assert [r["seed"] for r in rows] == ["3"] * 4 + ["4"] * 4  # each tile's own seed, not the base's
    assert {r["scored_by"] for r in rows} == {""}  # unscored: no CLIP named


def test_shared_work_runs_once_per_clip_and_prompt(tmp_path, tiny_engine, tiny_params):
    """A 6-tile sweep costs CLAP and the text encoder what one generation of the same clip and
    prompt costs: nothing is heard or encoded again per tile."""

    from core.engine import Engine

    def cost(params: GenerationParams, axes: list[str]) -> tuple[int, int]:
        """On an engine that has heard and encoded nothing yet (the phrases a clip is heard as are
        encoded once per engine: on a shared one the count would depend on the tests before)."""
        engine = Engine("tiny")
        plan = SweepPlan(params, tuple(parse_axis(n, a, params) for n, a in zip("xy", axes, strict=False)))
        run_sweep(engine, plan)
        return engine.clap.audio_calls, engine.counters["text_encoder"]

    params = _base(tiny_params, audio_path=str(_tone(tmp_path / "b.wav", 550)), prompt="two")
    single = cost(params, ["seed=1"])
    sweep = cost(params, ["level_weights.0=0.2,0.9,1.6", "norm_target=40,80"])
    assert single[0] >= 1 and single[1] >= 2 and sweep == single  # the prompt and at least one phrase
    # Two clips on an axis: each heard once.
    base = _base(tiny_params, prompt="three")
    clips = ",".join(str(_tone(tmp_path / f"c{i}.wav", 200 + 100 * i)) for i in range(2))
    clap_before = tiny_engine.clap.audio_calls
    run_sweep(tiny_engine, SweepPlan(base, (parse_axis("x", f"audio_path={clips}", base),
                                            parse_axis("y", "norm_target=40,80", base))))  # fmt: skip
    assert tiny_engine.clap.audio_calls - clap_before == 2 * single[0]


@pytest.mark.parametrize(
    "axes, message",
    [
        (["nope=1,2"], "--x nope: not a setting that can be swept"),
        (["steps=0,5"], "--x steps=0: must be between 1 and 500 (got 0)"),
        (["level_weights.3=1"], "--x level_weights.3: level_weights has no element '3'"),
        (["level_weights.1=0.5,-1"], "--x level_weights.1=-1: must be a number between 0 and 10 (got -1"),
        (["switch_points=0.2,0.5,0.9;0.3,0.6"], "--x switch_points: each value needs 2 numbers"),  # none dropped
        (["norm_target=" + ",".join(["50"] * 17)], "--x norm_target: 17 values; give 1 to 16"),
        (["seed=1,x"], "--x seed: 'x' is not a number"),
        (["seed=1,10.0"], "--x seed: '10.0' is not a whole number: this setting takes whole numbers"),
        (["level_weights.0=0.3,0.3,0.7"], "--x level_weights.0: 0.3 is listed twice: list each value once"),
        (["seed=1", "norm_target=40,80,40.0"], "--y norm_target: 40 and 40.0 are the same value: list each value once"),
        (["switch_points=0.2,0.5;0.4,0.7;0.20,0.5"], "--x switch_points: 0.2,0.5 and 0.20,0.5 are the same value"),
        (["sources=mix, mix"], "--x sources: mix is listed twice"),
        (["level_weights.0=1,2", "level_weights=1,1,1"], "--y level_weights: already swept by --x"),
        (
            ["seed=" + ",".join(map(str, range(16))), "steps=" + ",".join(map(str, range(1, 17))), "guidance=2,3"],
            "512 tiles: a sweep makes at most 256",
        ),
        (["norm_target"], "expected FIELD=V1,V2"),
        (["checkpoint=a,b"], "--x checkpoint: a checkpoint is used in trained mode only (zero-shot ignores it)"),
        (  # each value fine alone, x=0.6 with y=0.5 out of order: refused before any tile, not at that one
            ["switch_points.0=0.3,0.6", "switch_points.1=0.5,0.9"],
            "the tile switch_points.1=0.5 · switch_points.0=0.6 cannot be made (must be in order: "
            "ambience->background (0.6) before background->foreground (0.5)): change these axes' values",
        ),
    ],
)
def test_a_bad_axis_is_one_error_naming_it_before_anything_runs(axes, message, tiny_params):
    base = _base(tiny_params)
    with pytest.raises(SweepError) as err:
        SweepPlan(base, tuple(parse_axis(n, a, base) for n, a in zip("xyz", axes, strict=False)))
    assert message in str(err.value)


def test_a_scored_sweep_pauses_for_waiting_work_after_every_image_it_makes(
    tiny_engine, tiny_params, scorer, monkeypatch
):
    """Batch work yields after each image (a tile, and its no-audio twin), not only after a whole
    scored tile: a preview waiting meanwhile runs after at most one image."""
    base = _base(tiny_params)
    plan = SweepPlan(base, (parse_axis("x", "audio_strength=0.5,1.5", base), parse_axis("y", "seed=1,2", base)))
    events: list[str] = []
    generate = tiny_engine.generate

    def logged(params, **kw):
        events.append("twin" if params.audio_strength == 0 else f"tile s{params.seed}")
        return generate(params, **kw)

    monkeypatch.setattr(tiny_engine, "generate", logged)
    run_sweep(
        tiny_engine, plan, scorer, on_tile=lambda t: events.append("done"), between_images=lambda: events.append("|")
    )
    assert events == [
        "tile s1", "|", "twin", "|", "done",  # seed 1: the twin is made once, for both strengths
        "tile s1", "|", "done",
        "tile s2", "|", "twin", "|", "done",
        "tile s2", "|", "done",
    ]  # fmt: skip


def test_scores_are_deterministic_and_mean_what_they_say(tiny_engine, tiny_params, scorer):
    base = _base(tiny_params)
    plan = SweepPlan(base, (parse_axis("x", "audio_strength=0,1.5", base),))
    a, b = run_sweep(tiny_engine, plan, scorer), run_sweep(tiny_engine, plan, scorer)
    assert [t.scores for t in a.tiles] == [t.scores for t in b.tiles]  # deterministic
    silent, loud = a.tiles[0].scores, a.tiles[1].scores
    assert silent.audio_effect_clip == 0.0 and silent.audio_effect_pixels == 0.0
    assert loud.audio_effect_pixels > 0 and loud.audio_effect_clip != 0
    image = a.tiles[1].result.image
    assert scorer.score(image, reference=image).reference_match == pytest.approx(1.0, abs=1e-5)
    assert -1 <= loud.prompt_match <= 1 and 0 <= loud.heard_similarity <= 1
    rows = list(csv.DictReader(io.StringIO(sweep_files(a)[2].decode())))  # scores.csv: the same numbers
    for row, tile in zip(rows, a.tiles, strict=True):
        for name, value in tile.scores.as_row().items():
            cell = row[name]
            assert cell == ("" if value is None else value if isinstance(value, str) else f"{value:.6f}")
    assert rows[0]["reference_match"] == "" and rows[1]["heard_top1"] in ("0.000000", "1.000000")
    assert [r["scored_by"] for r in rows] == ["tiny", "tiny"]  # which CLIP: scores of two CLIPs do not compare


def test_a_scorer_is_named_by_its_hub_id_or_its_folders_name_only(tmp_path):
    from core.score_names import CLIP_REAL
    from core.scoring import scorer_name

    folder = tmp_path / "my-clip"
    folder.mkdir()
    assert [scorer_name(s) for s in ("tiny", "", "real", "org/clip-b32", str(folder))] == [
        "tiny", CLIP_REAL, CLIP_REAL, "org/clip-b32", "my-clip"
    ]  # fmt: skip


def test_heard_in_the_image_uses_the_projectors_vocabulary(tiny_engine, scorer):
    vocabulary = tiny_engine.zero_shot.vocabulary
    probs = scorer.event_probabilities(scorer.embed_images([Image.new("RGB", (32, 32), (90, 20, 200))])[0], vocabulary)
    assert probs.shape == (len(vocabulary.events),) and float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    top = vocabulary.events[int(probs.argmax())].label
    agree = heard_scores(probs, [HeardLabel(top, "p", "c", 0.9, 0.5), HeardLabel("x", "p", "c", 0.1, 0.1)], vocabulary)
    other = next(e.label for e in vocabulary.events if e.label != top)
    disagree = heard_scores(probs, [HeardLabel(other, "p", "c", 1.0, 0.5)], vocabulary)
    assert (agree["heard_top1"], disagree["heard_top1"]) == (1.0, 0.0)
    assert agree["clip_top_event"] == top


def test_audio_effect_is_one_minus_the_clip_cosine_and_the_mean_pixel_change(scorer):
    """audio_effect_clip = 1 - cos(image, twin) (0 for no effect, larger for more), audio_effect_pixels
    = mean |difference| on a 0-1 scale; exactly 0 for the same pixels in another image object."""
    image, twin = Image.new("RGB", (48, 48), (100, 100, 100)), Image.new("RGB", (48, 48), (151, 151, 151))
    scores = scorer.score(image, twin=twin)
    cosine = float(scorer.embed_images([twin])[0] @ scorer.embed_images([image])[0])
    assert scores.audio_effect_pixels == pytest.approx(51 / 255, abs=1e-6)
    assert scores.audio_effect_clip == pytest.approx(1.0 - cosine, abs=1e-6) and scores.audio_effect_clip > 0
    rng = np.random.default_rng(0)
    for _ in range(4):
        noisy = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
        same = scorer.score(noisy, twin=noisy.copy())
        assert (same.audio_effect_clip, same.audio_effect_pixels) == (0.0, 0.0)


def test_the_audio_effect_is_never_below_zero_when_the_cosine_rounds_above_one(scorer, monkeypatch):
    """Two different images with (nearly) one embedding: 1 - cos came out as -1.2e-7 in float32."""
    import torch

    from core.cache import LRUCache

    unit = torch.nn.functional.normalize(torch.arange(1.0, 513.0), dim=0) * (1 + 1e-6)  # a unit vector, rounded up
    # The shared scorer caches twins' embeddings: the fakes below must not outlive this test.
    monkeypatch.setattr(scorer, "_references", LRUCache(32))
    monkeypatch.setattr(scorer, "embed_images", lambda images: unit.repeat(len(images), 1))
    image, twin = Image.new("RGB", (48, 48), (100, 100, 100)), Image.new("RGB", (48, 48), (101, 101, 101))
    assert float(unit @ unit) > 1.0
    assert scorer.score(image, twin=twin).audio_effect_clip == 0.0
    short = unit * (1 - 2e-6) / (1 + 1e-6)  # rounded down: 1 - cos is a hair above 0 for one image
    monkeypatch.setattr(scorer, "embed_images", lambda images: short.repeat(len(images), 1))
    assert float(short @ short) < 1.0
    assert scorer.score(image, twin=image.copy()).audio_effect_clip == 0.0  # the same pixels: no effect, exactly


def test_heard_similarity_is_the_cosine_of_clips_and_claps_distributions():
    """CLAP's side of the heard score is its heard labels' weights (zero for the rest of the vocabulary)."""
    vocabulary = Vocabulary(tuple(SoundEvent(label, "things", label) for label in ("rain", "dog", "car", "bell")))
    clip = torch.tensor([0.1, 0.6, 0.2, 0.1])
    heard = [HeardLabel("dog", "a dog", "animal", 0.75, 0.5), HeardLabel("rain", "rain", "natural", 0.25, 0.4)]
    clap = np.array([0.25, 0.75, 0.0, 0.0])
    expected = float(clip.numpy() @ clap / (np.linalg.norm(clip.numpy()) * np.linalg.norm(clap)))
    scores = heard_scores(clip, heard, vocabulary)
    assert scores == {"heard_top1": 1.0, "heard_similarity": pytest.approx(expected, abs=1e-6), "clip_top_event": "dog"}
    assert heard_scores(clip, heard[::-1], vocabulary) == scores  # CLAP's top event by weight, not by place


def test_reference_match_compares_with_the_reference_not_the_twin(scorer):
    image, twin = Image.new("RGB", (48, 48), (30, 140, 60)), Image.new("RGB", (48, 48), (30, 140, 61))
    reference = Image.new("RGB", (48, 48), (220, 20, 20))
    scores = scorer.score(image, twin=twin, reference=reference)
    expected = float(scorer.embed_images([reference])[0] @ scorer.embed_images([image])[0])
    assert scores.reference_match == pytest.approx(expected, abs=1e-6)


def test_clips_event_distribution_is_transformers_own_zero_shot_softmax(tiny_engine, scorer):
    """The heard scores' CLIP distribution is CLIP's zero-shot classifier as transformers computes
    it (`logits_per_image.softmax(-1)`: cosines times CLIP's learnt logit scale), not a flatter one."""
    vocabulary = tiny_engine.zero_shot.vocabulary
    image = Image.new("RGB", (32, 32), (90, 20, 200))
    phrases = [e.phrase for e in vocabulary.events]
    inputs = scorer.processor(text=phrases, images=[image], return_tensors="pt", padding=True, truncation=True)
    with torch.inference_mode():
        expected = scorer.model(**inputs).logits_per_image.softmax(-1)[0]
    assert float(scorer.model.logit_scale.detach().exp()) > 2  # sharper than a softmax of the bare cosines
    ours = scorer.event_probabilities(scorer.embed_images([image])[0], vocabulary)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_cli_sweep_tiles_reproduce_with_generate_from(tmp_path, samples, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--prompt", "a street", "--steps", "2"]
    args += ["--size", "64x64", "--seed", "8", "--x", "norm_target=40,80", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert "2 tiles, 1 grid(s)" in capsys.readouterr().out
    again = tmp_path / "again.png"
    assert main(["generate", "--from", str(out / "z01_y01_x02.png"), "--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(out / "z01_y01_x02.png")))
    assert read_params(again).norm_target == 80.0
    assert main(["sweep", "--models", "tiny", "--x", "steps=0", "--out", str(out)]) == 2
    assert "--x steps=0" in capsys.readouterr().err
    # Again into the same folder with one tile: the earlier run's second tile goes, the user's file stays.
    (out / "notes.png").write_bytes(b"mine")
    assert main([*args[:-5], "--x", "norm_target=60", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["notes.png", "scores.csv", "sweep.zip", "sweep_grid_01.png",
                                                     "z01_y01_x01.png"]  # fmt: skip


def test_cli_sweep_refuses_a_clip_model_it_was_given_and_cannot_load(tmp_path, samples, capsys):
    """--clip named on purpose: refused before any tile (not a sweep without its scores and exit 0),
    and a folder is not told to `hf download` itself."""
    out = tmp_path / "sw"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--steps", "2", "--size", "64x64"]
    assert main([*args, "--x", "seed=1,2", "--clip", str(tmp_path / "no-clip"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "give a folder holding a CLIP model" in err and "download" not in err and "--no-scores" in err
    assert not out.exists() or not list(out.iterdir())


def test_cli_sweep_refuses_a_reference_it_cannot_decode_in_one_line_before_any_tile(tmp_path, samples, capsys):
    """--reference was opened with a bare Image.open: a canvas over Pillow's limit was a traceback."""
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 10000)).save(bomb)  # 200 megapixels in a few kB
    (tmp_path / "notes.png").write_text("not an image")
    out = tmp_path / "sw"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--x", "seed=1,2", "--out", str(out)]
    assert main([*args, "--reference", str(bomb)]) == 2
    assert capsys.readouterr().err == (
        "error: --reference: bomb.png is 200.0 megapixels, over the limit of 50 megapixels "
        "(a file this large may be a decompression bomb): scale it down first\n"
    )
    assert main([*args, "--reference", str(tmp_path / "notes.png")]) == 2
    assert capsys.readouterr().err.startswith("error: --reference: notes.png is not an image file this studio reads")
    assert not out.exists() or not list(out.iterdir())


def test_cli_sweep_interrupted_keeps_the_tiles_done(tmp_path, samples, capsys, monkeypatch):
    """Ctrl-C in the third tile: exit 130, and the two tiles done are saved with their grid and
    CSV (the rest of the grid left empty), as the studio's Stop keeps them."""
    from core.engine import Engine

    generate, calls = Engine.generate, []

    def interrupted_third(self, params, **kw):
        calls.append(params.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return generate(self, params, **kw)

    monkeypatch.setattr(Engine, "generate", interrupted_third)
    out = tmp_path / "sw"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--steps", "2", "--size", "64x64"]
    assert main([*args, "--x", "seed=1,2,3,4", "--no-scores", "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "the 2 of 4 tiles done are saved in" in err and err.rstrip().endswith("error: interrupted")
    assert sorted(p.name for p in out.glob("z*.png")) == ["z01_y01_x01.png", "z01_y01_x02.png"]
    assert [i.params and i.params.seed for i in read_grid(out / "sweep_grid_01.png")] == [1, 2, None, None]
    assert len((out / "scores.csv").read_text().splitlines()) == 3


def failing_on_call(n: int, generate):
    """An Engine.generate that raises an EngineError on its `n`th call (as a tile running out of
    memory would), and is the real one otherwise."""
    from core.engine import EngineError

    calls: list[int] = []

    def generate_or_fail(*args, **kw):
        calls.append(1)
        if len(calls) == n:
            raise EngineError(f"tile {n} failed on purpose")
        return generate(*args, **kw)

    return generate_or_fail


def test_a_failing_tile_keeps_the_tiles_done_with_its_error(tmp_path, tiny_engine, tiny_params, monkeypatch):
    """An engine error in the third tile of four: the two tiles done are kept, with the error that
    stopped the run (not a cancel), and they save as a grid with the rest marked."""
    from core.engine import EngineError

    monkeypatch.setattr(tiny_engine, "generate", failing_on_call(3, tiny_engine.generate))
    base = _base(tiny_params)
    run = run_sweep(tiny_engine, SweepPlan(base, (parse_axis("x", "seed=1,2,3,4", base),)))
    assert isinstance(run.error, EngineError) and str(run.error) == "tile 3 failed on purpose"
    assert not run.cancelled and [t.result.params.seed for t in run.tiles] == [1, 2]
    save_sweep(run, tmp_path)
    assert [i.params and i.params.seed for i in read_grid(tmp_path / "sweep_grid_01.png")] == [1, 2, None, None]


def test_cli_sweep_failing_in_a_tile_saves_the_tiles_done_then_says_the_error(tmp_path, samples, capsys, monkeypatch):
    """The CLI as for Ctrl-C: the tiles before the failing one are saved (grid, CSV), then the
    error ends the command with its own message and exit status."""
    from core.engine import Engine

    monkeypatch.setattr(Engine, "generate", failing_on_call(3, Engine.generate))  # a method: self in *args
    out = tmp_path / "sw"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--steps", "2", "--size", "64x64"]
    assert main([*args, "--x", "seed=1,2,3,4", "--no-scores", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "stopped by an error: the 2 of 4 tiles done are saved in" in err
    assert err.rstrip().endswith("error: tile 3 failed on purpose")
    assert sorted(p.name for p in out.glob("z*.png")) == ["z01_y01_x01.png", "z01_y01_x02.png"]
    assert [i.params and i.params.seed for i in read_grid(out / "sweep_grid_01.png")] == [1, 2, None, None]
    assert len((out / "scores.csv").read_text().splitlines()) == 3


def test_a_sources_axis_separates_each_clip_once(tmp_path, tiny_engine, tiny_params, monkeypatch):
    """Sweeping the sources mode against another knob: the clip is decoded once, the stems tiles
    share one separation, and CLAP hears the clip what one mixed and one stems generation cost."""
    import core.clip_cache

    decoded: list[str] = []
    load = core.clip_cache.load_audio  # the one decoder behind the process's clip cache
    monkeypatch.setattr(
        core.clip_cache, "load_audio", lambda path, *a, **k: decoded.append(str(path)) or load(path, *a, **k)
    )
    clip = str(_tone(tmp_path / "s.wav", 440))
    one = _base(tiny_params, audio_path=str(_tone(tmp_path / "one.wav", 660)), prompt="solo")
    sep, clap = tiny_engine.separator.calls, tiny_engine.clap.audio_calls
    tiny_engine.generate(one.replace(sources="mix"))
    tiny_engine.generate(one.replace(sources="stems"))
    single = (tiny_engine.separator.calls - sep, tiny_engine.clap.audio_calls - clap)
    assert single[0] == 1

    base = _base(tiny_params, audio_path=clip, prompt="duo")
    plan = SweepPlan(base, (parse_axis("x", "sources=mix,stems", base), parse_axis("y", "norm_target=40,80", base)))
    sep, clap = tiny_engine.separator.calls, tiny_engine.clap.audio_calls
    decoded.clear()
    run = run_sweep(tiny_engine, plan)
    assert (tiny_engine.separator.calls - sep, tiny_engine.clap.audio_calls - clap) == single
    assert decoded == [clip]
    assert [(t.result.params.sources, t.result.params.norm_target) for t in run.tiles] == [
        ("mix", 40.0), ("stems", 40.0), ("mix", 80.0), ("stems", 80.0)
    ]  # fmt: skip


def test_a_sweeps_heard_score_reads_the_engines_own_vocabulary(tiny_engine, tiny_params, scorer):
    """An engine with a 4-event vocabulary: CLAP hears, and CLIP is asked about, those 4 events
    only, and the sweep's scores are what the scorer gives with that vocabulary (not the default)."""
    from core.engine import Engine
    from core.sweep import heard_overall

    small = tiny_engine.vocabulary.subset(tiny_engine.vocabulary.labels[::40][:4])
    engine = Engine("tiny", vocabulary=small, bundle=tiny_engine.bundle)
    assert engine.zero_shot.vocabulary is engine.vocabulary is small
    base = _base(tiny_params, prompt="a field")
    run = run_sweep(engine, SweepPlan(base, (parse_axis("x", "seed=1,2", base),)), scorer)
    for tile in run.tiles:
        heard = heard_overall(tile.result.trace.heard)
        assert heard and {h.label for h in heard} <= set(small.labels)
        assert tile.scores.clip_top_event in small.labels
        twin = engine.generate(tile.result.params.replace(audio_strength=0.0)).image
        expected = scorer.score(tile.result.image, base.prompt, heard, small, twin)
        assert tile.scores == expected
        assert scorer.score(tile.result.image, base.prompt, heard, tiny_engine.vocabulary, twin) != expected


def test_cli_2x2x2_sweep_tiles_and_grid_labels_carry_their_axis_values(tmp_path, samples, capsys):
    """The command line end to end: each tile's PNG, read back by `params`, holds exactly its
    X/Y/Z values, in row/column order, and each grid's captions name the same values."""
    import json

    out = tmp_path / "cube"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--prompt", "a quay", "--steps", "2"]
    args += ["--size", "64x64", "--x", "guidance=2,9", "--y", "level_weights.2=0.1,0.8", "--z", "seed=5,6"]
    assert main([*args, "--no-scores", "--out", str(out), "--quiet"]) == 0
    assert "8 tiles, 2 grid(s)" in capsys.readouterr().out
    for z, seed in enumerate((5, 6)):
        captions = [i.caption for i in read_grid(out / f"sweep_grid_{z + 1:02d}.png")]
        for y, bg in enumerate((0.1, 0.8)):
            for x, guidance in enumerate((2.0, 9.0)):
                assert main(["params", str(out / f"z{z + 1:02d}_y{y + 1:02d}_x{x + 1:02d}.png")]) == 0
                p = json.loads(capsys.readouterr().out)
                assert (p["seed"], p["level_weights"][2], p["guidance"]) == (seed, bg, guidance)
                assert captions[2 * y + x] == f"level_weights.2={bg:g} · guidance={guidance:g}"
    with zipfile.ZipFile(out / "sweep.zip") as zf:  # every tile and grid, byte for byte, and the CSV
        tiles = [f"z{z:02d}_y{y:02d}_x{x:02d}.png" for z in (1, 2) for y in (1, 2) for x in (1, 2)]
        for name in [*tiles, "sweep_grid_01.png", "sweep_grid_02.png", "scores.csv"]:
            assert zf.read(name) == (out / name).read_bytes()


def test_a_cancel_keeps_the_tiles_done_and_the_grid_marks_the_rest(tmp_path, tiny_engine, tiny_params, monkeypatch):
    """Cancel after the third tile of four: three tiles kept (each with its full steps reported),
    the fourth never started, and the saved grid names it "not generated"."""
    import threading

    base = _base(tiny_params).replace(steps=3)
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2", base), parse_axis("y", "guidance=3,6", base)))
    cancel, steps, seen = threading.Event(), [], []

    def on_tile(tile):
        seen.append((tile.y, tile.x))
        if len(seen) == 3:
            cancel.set()

    generate, started = tiny_engine.generate, []
    monkeypatch.setattr(tiny_engine, "generate", lambda params, **kw: started.append(params) or generate(params, **kw))
    run = run_sweep(tiny_engine, plan, cancel=cancel, progress=lambda s: steps.append(s.step), on_tile=on_tile)
    assert run.cancelled and seen == [(0, 0), (0, 1), (1, 0)] and len(run.tiles) == 3
    assert len(started) == 3  # the fourth tile is not begun (its clip heard, separated) after Stop
    assert steps == [1, 2, 3] * 3
    save_sweep(run, tmp_path)
    captions = [i.caption for i in read_grid(tmp_path / "sweep_grid_01.png")]
    assert captions == ["guidance=3 · seed=1", "guidance=3 · seed=2", "guidance=6 · seed=1",
                        "guidance=6 · seed=2: not generated"]  # fmt: skip
    assert not (tmp_path / "z01_y02_x02.png").exists() and (tmp_path / "z01_y02_x01.png").exists()


def test_a_cancel_while_the_twin_is_made_keeps_the_tile_done_unscored(tiny_engine, tiny_params, scorer, monkeypatch):
    """Stop pressed while a tile's strength-0 twin (for its scores) is generated: the tile itself is
    done, so it is kept and reported, without scores, and nothing after it runs."""
    import threading

    base = _base(tiny_params)
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2", base),))
    cancel, generate, seen = threading.Event(), tiny_engine.generate, []

    def stopped_in_twin(params, **kw):
        if params.audio_strength == 0:
            cancel.set()  # as Stop, pressed once the twin has started
        return generate(params, **kw)

    monkeypatch.setattr(tiny_engine, "generate", stopped_in_twin)
    run = run_sweep(tiny_engine, plan, scorer, cancel=cancel, on_tile=seen.append)
    assert run.cancelled and run.error is None
    assert [(t.x, t.result.params.seed, t.scores) for t in run.tiles] == [(0, 1, None)] and seen == run.tiles


def test_a_scorer_error_keeps_the_tile_done_with_the_error(tiny_engine, tiny_params, monkeypatch):
    """A scorer failing on a tile: the tile is kept and reported (unscored), the error stops the run."""

    def failing(*args, **kw):
        raise RuntimeError("CLIP failed")

    broken = Scorer("tiny")
    monkeypatch.setattr(broken, "score", failing)
    base = _base(tiny_params)
    seen: list = []
    run = run_sweep(tiny_engine, SweepPlan(base, (parse_axis("x", "seed=1,2", base),)), broken, on_tile=seen.append)
    assert isinstance(run.error, RuntimeError) and str(run.error) == "CLIP failed" and not run.cancelled
    assert [(t.result.params.seed, t.scores) for t in run.tiles] == [(1, None)] and seen == run.tiles


def test_a_stopped_sweeps_files_hold_only_the_grids_it_made(tmp_path, tiny_engine, tiny_params):
    """Stopped in the first of three Z values: the ZIP and the folder hold that Z's grid, its tiles
    and a CSV of them, never a grid of placeholders for the Z values it did not reach."""
    import threading

    base = _base(tiny_params)
    plan = SweepPlan(base, (parse_axis("x", "level_weights.0=0.3,0.7", base), parse_axis("z", "seed=0,1,2", base)))
    stop = threading.Event()
    run = run_sweep(tiny_engine, plan, cancel=stop, on_tile=lambda t: stop.set())
    assert run.cancelled and [(t.z, t.x) for t in run.tiles] == [(0, 0)]
    grids, zipped, table = sweep_files(run)
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        assert z.namelist() == ["z01_y01_x01.png", "sweep_grid_01.png", "scores.csv", "params.json"]
    assert [r["file"] for r in csv.DictReader(io.StringIO(table.decode()))] == ["z01_y01_x01.png"]
    assert grids[1:] == [b"", b""]  # indexed by Z: the page shows grid z, and says why there is none
    save_sweep(run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "sweep.zip", "sweep_grid_01.png",
                                                          "z01_y01_x01.png"]  # fmt: skip


def test_a_fresh_tiny_scorer_gives_the_same_numbers(tiny_engine, scorer):
    """Deterministic across loads too: the tiny CLIP is built from a fixed seed, so a score in one
    process's scores.csv is the score another process (evaluate's ranks) computes."""
    image = Image.new("RGB", (48, 48), (30, 140, 60))
    heard = [HeardLabel(tiny_engine.vocabulary.labels[3], "p", "c", 1.0, 0.4)]
    kwargs = {"prompt": "a green field", "heard": heard, "vocabulary": tiny_engine.vocabulary, "reference": image}
    again = Scorer("tiny").score(image, **kwargs)
    assert again == scorer.score(image, **kwargs) and again.prompt_match is not None


def test_a_shared_twin_is_embedded_once(tiny_engine, tiny_params):
    """Three tiles over the foreground weight share one strength-0 twin: CLIP sees it once."""
    fresh = Scorer("tiny")
    base = _base(tiny_params)
    run_sweep(tiny_engine, SweepPlan(base, (parse_axis("x", "level_weights.0=0.2,0.9,1.6", base),)), fresh)
    assert fresh.image_calls == 3 + 1


def test_sweep_files_name_no_folder_of_this_machine(tmp_path, tiny_engine, tiny_params, monkeypatch):
    """Clips on an axis appear by file name in the CSV, the tile captions and a Z grid's title."""
    import zipfile

    import core.sweep.files as files

    private = tmp_path / "private-folder"
    private.mkdir()
    clips = ",".join(str(_tone(private / f"p{i}.wav", 300 + 100 * i)) for i in range(2))
    base = _base(tiny_params, prompt="private")
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2", base), parse_axis("z", f"audio_path={clips}", base)))
    run = run_sweep(tiny_engine, plan)
    titles: list[str] = []
    original = files.grid_png_bytes

    def recording(*args, **kwargs):
        titles.append(kwargs["title"])
        return original(*args, **kwargs)

    monkeypatch.setattr(files, "grid_png_bytes", recording)
    grids, zipped, table = sweep_files(run)
    assert titles == ["Sweep · X: seed · Z: audio_path = p0.wav", "Sweep · X: seed · Z: audio_path = p1.wav"]
    rows = list(csv.DictReader(io.StringIO(table.decode())))
    assert [r["z_audio_path"] for r in rows] == ["p0.wav", "p0.wav", "p1.wav", "p1.wav"]
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        members = [z.read(name) for name in z.namelist()]
    assert all(b"private-folder" not in data for data in [*grids, table, *members])


def test_progress_with_a_steps_axis_never_goes_back_and_ends_at_its_total(tiny_engine, tiny_params, scorer):
    """Each tile counts its own steps (a Steps axis), and each strength-0 twin the scores make its
    own: the progress a page draws from Phase + step climbs to exactly the total, never past it."""
    from core.events import Phase
    from core.sweep.run import sweep_steps

    base = _base(tiny_params).replace(steps=3)
    plan = SweepPlan(base, (parse_axis("x", "steps=2,5", base), parse_axis("y", "audio_strength=0,1", base)))
    totals, base_done, seen = set(), [0], []

    def on_status(event) -> None:
        if isinstance(event, Phase):
            totals.add(event.steps_total)
            base_done[0] = event.steps_done
            seen.append(event.steps_done)

    run = run_sweep(
        tiny_engine, plan, scorer, on_status=on_status, progress=lambda s: seen.append(base_done[0] + s.step)
    )
    tile_steps = [t.result.params.steps for t in run.tiles]
    assert tile_steps == [2, 5, 2, 5]
    total = sum(tile_steps) + 2 + 5  # one twin for each step count at strength 1; strength 0 is its own
    assert totals == {total} and sweep_steps(plan, scored=True) == total and sweep_steps(plan) == sum(tile_steps)
    assert seen == sorted(seen) and seen[-1] == total, seen


def _made(plan: SweepPlan, *positions: tuple[int, int, int]):
    """A SweepRun holding tiles at `positions` (flat grey images, the plan's params): files without a model."""
    from types import SimpleNamespace

    from core.sweep import SweepRun, SweepTile

    tiles = [
        SweepTile(*at, plan.labels_at(*at), SimpleNamespace(image=Image.new("RGB", (64, 64), (128,) * 3),
                                                            params=plan.params_at(*at)), b"")
        for at in positions
    ]  # fmt: skip
    return SweepRun(plan, tiles)


def test_a_stopped_sweeps_grid_leaves_out_the_rows_its_own_z_never_reached(tiny_params):
    """Z 1 holds all rows, Z 2 only its first: Z 2's grid shows one row, not Z 1's rows as placeholders."""
    base = _base(tiny_params)
    axes = (parse_axis("x", "seed=1,2", base), parse_axis("y", "norm_target=30,90", base))
    plan = SweepPlan(base, (*axes, parse_axis("z", "guidance=2,9", base)))
    run = _made(plan, (0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0))
    assert (run.rows_at(0), run.rows_at(1)) == ([0, 1], [0])
    first, second = (Image.open(io.BytesIO(png)) for png in sweep_files(run)[0])
    assert second.width == first.width and second.height < first.height
    assert len(read_grid(io.BytesIO(sweep_files(run)[0][1]))) == 2  # one row of two: a tile and a placeholder


def test_a_sweep_with_one_column_draws_a_grid_one_tile_wide(tiny_params):
    base = _base(tiny_params)
    column = SweepPlan(base, (parse_axis("y", "seed=1,2", base),))
    row = SweepPlan(base, (parse_axis("x", "seed=1,2", base),))
    tall = Image.open(io.BytesIO(sweep_files(_made(column, (0, 0, 0), (0, 1, 0)))[0][0]))
    wide = Image.open(io.BytesIO(sweep_files(_made(row, (0, 0, 0), (0, 0, 1)))[0][0]))
    assert tall.width < wide.width and tall.height > wide.height


def test_a_strength_0_tile_is_its_own_twin(tiny_engine, tiny_params, scorer, monkeypatch):
    """Scored tiles at audio strength 0 make no strength-0 twin: the tile itself is one (no extra
    image, none counted in the progress total)."""
    from core.sweep import sweep_steps

    base = _base(tiny_params, audio_strength=0.0)
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2", base),))
    assert sweep_steps(plan, scored=True) == 2 * base.steps
    made: list = []
    generate = tiny_engine.generate
    monkeypatch.setattr(tiny_engine, "generate", lambda params, **kw: made.append(params) or generate(params, **kw))
    run = run_sweep(tiny_engine, plan, scorer)
    assert len(made) == 2 and [t.scores.audio_effect_pixels for t in run.tiles] == [0.0, 0.0]


def test_a_scored_sweep_without_a_clip_makes_no_twin_and_no_audio_scores(tiny_engine, tiny_params, scorer, monkeypatch):
    """No clip: nothing to compare with a no-audio twin. No twin is made or counted in the progress
    (the bar reaches its total), and the audio and heard scores are empty, not an 'effect' of 0."""
    from core.events import Phase
    from core.sweep import sweep_steps

    base = _base(tiny_params, audio_path=None, prompt="a lighthouse")
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2", base),))
    assert sweep_steps(plan, scored=True) == 2 * base.steps
    made, totals, generate = [], set(), tiny_engine.generate
    monkeypatch.setattr(tiny_engine, "generate", lambda params, **kw: made.append(params) or generate(params, **kw))
    run = run_sweep(tiny_engine, plan, scorer, on_status=lambda e: isinstance(e, Phase) and totals.add(e.steps_total))
    assert len(made) == 2 and totals == {2 * base.steps}
    for tile in run.tiles:
        s = tile.scores
        assert s.prompt_match is not None
        assert (s.audio_effect_clip, s.audio_effect_pixels, s.heard_top1, s.heard_similarity) == (None,) * 4


def test_an_empty_prompt_has_no_prompt_match(scorer):
    """Prompt match needs a prompt (docs/SCORES.md): the similarity to the empty text is no score."""
    image = Image.new("RGB", (48, 48), (30, 140, 60))
    assert scorer.score(image, prompt="").prompt_match is None
    assert scorer.score(image, prompt="a field").prompt_match is not None


def test_cli_sweep_reference_scores_each_tile_against_it(tmp_path, samples, scorer):
    """--reference adds each tile's reference match to scores.csv, computed by the tiny CLIP (the
    tiny models' scorer) against that tile's own image."""
    reference = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(reference)
    out = tmp_path / "sw"
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--prompt", "a street", "--steps", "2"]
    args += ["--size", "64x64", "--x", "seed=1,2", "--reference", str(reference), "--out", str(out), "--quiet"]
    assert main(args) == 0
    rows = list(csv.DictReader(io.StringIO((out / "scores.csv").read_text())))
    assert [r["file"] for r in rows] == ["z01_y01_x01.png", "z01_y01_x02.png"]
    for row in rows:
        expected = scorer.score(Image.open(out / row["file"]), reference=Image.open(reference)).reference_match
        assert float(row["reference_match"]) == pytest.approx(expected, abs=1e-5)


def test_cli_sweep_refuses_an_out_that_is_a_file_before_any_tile(tmp_path, samples, capsys, monkeypatch):
    """--out names a file: said before the models load, not after every tile is made."""
    import core.engine

    def no_engine(*args, **kwargs):
        raise AssertionError("the models were loaded for a sweep whose folder cannot be written")

    monkeypatch.setattr(core.engine, "Engine", no_engine)
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    args = ["sweep", "--models", "tiny", "--audio", str(samples["rain"]), "--x", "seed=1,2", "--no-scores"]
    assert main([*args, "--out", str(taken), "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: {taken} is a file: give a folder\n"
    assert taken.read_text() == "mine"


def test_cli_sweep_without_an_axis_is_refused(tmp_path, capsys):
    """No --x: not a one-tile 'sweep' of the base settings, but one line saying what a sweep needs."""
    assert main(["sweep", "--models", "tiny", "--out", str(tmp_path / "sw")]) == 2
    assert capsys.readouterr().err == "error: a sweep needs at least --x FIELD=V1,V2 (e.g. --x norm_target=40,60,80)\n"
    assert not (tmp_path / "sw").exists()
