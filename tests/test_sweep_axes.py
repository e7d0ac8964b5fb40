"""A sweep's axes and plan (core/sweep/axes.py, plan.py) as pure values: no torch, no models.

Each test pins a behaviour a mutant of those modules changed while tests/test_sweep.py (which runs
the sweeps on the tiny models) still passed: the boundaries (a value at a slider's end, exactly
MAX_TILES tiles), the words (an axis with a title, the settings a refusal offers), the parsing
('none' for a path only, a path resolved as typed, an empty value) and the tile order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.params import GenerationParams
from core.sweep import SweepError, SweepPlan, parse_axis
from core.sweep.axes import MAX_TILES, check_axes

BASE = GenerationParams(models="tiny", steps=2, width=64, height=64)


def refusal(*specs: str) -> str:
    with pytest.raises(SweepError) as err:
        SweepPlan(BASE, tuple(parse_axis(n, s, BASE) for n, s in zip("xyz", specs, strict=False)))
    return str(err.value)


@pytest.mark.parametrize(
    "specs, message",
    [
        (["norm_target= "], "--x 'norm_target= ': expected FIELD=V1,V2,... (e.g. --x norm_target=40,60,80)"),
        (["norm_target=40,,60"], "--x norm_target: an empty value (two commas in a row, or one at the end)"),
        (["seed=1,"], "--x seed: an empty value (two commas in a row, or one at the end)"),
        (["level_weights.x=1"], "--x level_weights.x: level_weights has no element 'x' (its elements are 0 to 2)"),
        (["level_weights.-1=1"], "--x level_weights.-1: level_weights has no element '-1' (its elements are 0 to 2)"),
        (["level_weights.3=1"], "--x level_weights.3: level_weights has no element '3' (its elements are 0 to 2)"),
        (["switch_points.2=0.5"], "--x switch_points.2: switch_points has no element '2' (its elements are 0 or 1)"),
        (["seed.0=1,2"], "--x seed.0: seed is one value: it has no element '0' (sweep it whole)"),
        (["level_weights=1,1,1;2,2,2", "level_weights.0=0.5"], "--y level_weights.0: already swept by --x"),
    ],
)
def test_each_refusal_is_worded_exactly(specs, message):
    assert refusal(*specs) == message


@pytest.mark.parametrize("field", ["models", "audio_sha256", "checkpoint_sha256"])
def test_what_the_run_sets_is_not_swept_and_not_offered(field):
    message = refusal(f"{field}=tiny")
    assert message.startswith(f"--x {field}: not a setting that can be swept (one of: prompt, negative_prompt, seed,")
    offered = message.split("(one of: ", 1)[1].rstrip(")").split(", ")
    assert "norm_target" in offered and "audio_path" in offered and "checkpoint" in offered
    assert not {"models", "audio_sha256", "checkpoint_sha256"} & set(offered)


def test_exactly_max_tiles_is_a_sweep_and_one_value_more_is_not():
    x = parse_axis("x", "seed=" + ",".join(map(str, range(16))), BASE)
    y = parse_axis("y", "steps=" + ",".join(map(str, range(1, 17))), BASE)
    assert len(x.values) * len(y.values) == MAX_TILES
    check_axes([x, y])
    assert len(SweepPlan(BASE, (x, y))) == MAX_TILES
    z = parse_axis("z", "guidance=2,3", BASE)
    with pytest.raises(SweepError) as err:
        check_axes([x, y, z])
    assert str(err.value) == f"{2 * MAX_TILES} tiles: a sweep makes at most {MAX_TILES}; use fewer values"


def test_none_is_no_file_for_a_path_and_a_word_for_a_prompt():
    assert parse_axis("x", "prompt=none,rain", BASE).values == ("none", "rain")
    assert parse_axis("x", "checkpoint=None,runs/a/final", BASE).values == (None, "runs/a/final")
    axis = parse_axis("x", "audio_path=NONE", BASE)
    assert axis.values == (None,) and axis.shown(0) == "NONE"


def test_a_clip_path_is_resolved_as_typed_and_shown_by_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    axis = parse_axis("x", "audio_path=~/rain.wav, clips/../sea.wav", BASE)
    assert axis.values == (str(tmp_path / "home" / "rain.wav"), str(tmp_path / "sea.wav"))
    assert axis.raw == ("~/rain.wav", "clips/../sea.wav")
    assert [axis.label(i) for i in range(2)] == ["audio_path=rain.wav", "audio_path=sea.wav"]
    assert axis.apply(BASE.replace(audio_sha256="a" * 64), 1).audio_sha256 is None  # its own hash, later
    assert Path(axis.values[0]).is_absolute()


def test_a_title_names_the_axis_in_the_studios_words():
    axis = parse_axis("x", "norm_target=40,80", BASE)
    assert [axis.label(i) for i in range(2)] == ["norm_target=40", "norm_target=80"]
    titled = dataclasses.replace(axis, title="Norm target")
    assert [titled.label(i) for i in range(2)] == ["Norm target: 40", "Norm target: 80"]
    assert (axis.named, titled.named) == ("norm_target", "Norm target")


def test_only_values_outside_the_sliders_span_are_beyond_it():
    """norm_target's slider spans 0-200 (validation 0-1000): both ends are on the slider."""
    assert parse_axis("x", "norm_target=0,200,200.5,250", BASE).beyond_slider() == ("200.5", "250")
    assert parse_axis("x", "level_weights.0=0,2,2.5", BASE).beyond_slider() == ("2.5",)
    whole = parse_axis("x", "level_weights=0.7,0.5,0.3;0,2,0;0.7,0.5,3", BASE)
    assert whole.beyond_slider() == ("0.7,0.5,3",)  # any element of a tuple value
    assert parse_axis("x", "sources=mix,bands", BASE).beyond_slider() == ()  # no slider at all
    assert parse_axis("x", "crossovers=100,5000;200,9000", BASE).beyond_slider() == ()


def test_tiles_are_in_reading_order_with_each_axis_on_its_own_index():
    plan = SweepPlan(
        BASE,
        (
            parse_axis("x", "seed=1,2,3", BASE),
            parse_axis("y", "norm_target=40,80", BASE),
            parse_axis("z", "steps=3,4", BASE),
        ),
    )
    assert plan.shape() == (2, 2, 3) and len(plan) == 12
    positions = list(plan.positions())
    assert positions[:4] == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)] and positions[-1] == (1, 1, 2)
    tile = plan.params_at(1, 0, 2)
    assert (tile.steps, tile.norm_target, tile.seed) == (4, 40.0, 3)
    assert plan.labels_at(1, 0, 2) == {"z": "steps=4", "y": "norm_target=40", "x": "seed=3"}


def test_a_checkpoint_axis_needs_trained_mode_in_the_base_or_a_mode_axis():
    with pytest.raises(SweepError) as err:
        SweepPlan(BASE, (parse_axis("y", "checkpoint=runs/a/final,runs/b/final", BASE),))
    assert (err.value.axis, err.value.field) == ("y", "checkpoint")
    assert str(err.value).startswith("--y checkpoint: a checkpoint is used in trained mode only")
    trained = BASE.replace(mode="trained", checkpoint="runs/a/final")
    assert len(SweepPlan(trained, (parse_axis("x", "checkpoint=runs/a/final,runs/b/final", trained),))) == 2
    named = BASE.replace(checkpoint="runs/a/final")  # zero-shot, but a mode axis makes trained tiles
    axes = (
        parse_axis("x", "mode=zero-shot,trained", named),
        parse_axis("y", "checkpoint=runs/a/final,runs/b/final", named),
    )
    assert SweepPlan(named, axes).params_at(0, 1, 1).replace() == named.replace(
        mode="trained", checkpoint="runs/b/final"
    )


def test_a_checkpoint_on_an_axis_is_shown_by_its_run_never_by_this_machines_folders():
    """Captions, grid titles and scores.csv name a checkpoint as `checkpoint_name` does (the run and
    its final or step folder): the folders above the run are this machine's."""
    trained = BASE.replace(mode="trained", checkpoint="/srv/ana/runs/city/final")
    axis = parse_axis("x", "checkpoint=/srv/ana/runs/city/final,/srv/ana/runs/sea/checkpoints/step-0000500", trained)
    assert [axis.label(i) for i in range(2)] == ["checkpoint=city/final", "checkpoint=sea/checkpoints/step-0000500"]
    assert axis.values[0] == "/srv/ana/runs/city/final"  # the tile itself still loads the folder typed


@pytest.mark.parametrize("spec", ["audio_path=rain.wav,", "audio_path=rain.wav,,sea.wav", "audio_path=rain.wav, "])
def test_an_empty_clip_value_is_refused_not_read_as_the_working_folder(spec, tmp_path, monkeypatch):
    """A trailing comma made a tile whose clip was the folder the command ran in ('/home/ana is not
    a file'), named nowhere in what the user typed: it is an empty value, as for a number."""
    monkeypatch.chdir(tmp_path)
    assert refusal(spec) == "--x audio_path: an empty value (two commas in a row, or one at the end)"


def test_two_clips_or_checkpoints_shown_by_one_name_are_refused():
    """Two clips of one file name in two folders were both captioned 'rain.wav': the CSV rows and
    the tiles could not be told apart, and the heatmap drew the two columns as one."""
    assert refusal("audio_path=takes/1/rain.wav,takes/2/rain.wav,sea.wav") == (
        "--x audio_path: takes/1/rain.wav and takes/2/rain.wav are both shown as rain.wav: the grids, scores.csv "
        "and the heatmap could not tell them apart; give them different names"
    )
    trained = BASE.replace(mode="trained", checkpoint="runs/city/final")
    with pytest.raises(SweepError, match="ana/runs/city/final and bo/runs/city/final are both shown as city/final"):
        parse_axis("x", "checkpoint=ana/runs/city/final,bo/runs/city/final", trained)
    assert parse_axis("x", "audio_path=takes/1/rain.wav,takes/2/sea.wav", BASE).shown(1) == "sea.wav"


def test_a_stem_map_axis_takes_stem_map_pairs_as_the_cli_flag_does():
    """The help listed stem_map as sweepable, but every value was refused ("expected pairs"): each
    value is --stem-map's pairs, values separated by ';', each checked by the params' own rule."""
    axis = parse_axis(
        "x", "stem_map=drums=foreground,bass=background,other=ambience,vocals=foreground; "
        "drums=ambience, bass=background,other=ambience,vocals=foreground", BASE,
    )  # fmt: skip
    assert [dict(v)["drums"] for v in axis.values] == ["foreground", "ambience"]
    assert axis.apply(BASE, 1).stem_map == (("drums", "ambience"), ("bass", "background"), ("other", "ambience"),
                                            ("vocals", "foreground"))  # fmt: skip
    assert axis.label(1) == "stem_map=drums=ambience, bass=background,other=ambience,vocals=foreground"
    assert refusal("stem_map=drums=sky,bass=background,other=ambience,vocals=foreground") == (
        "--x stem_map=drums=sky,bass=background,other=ambience,vocals=foreground: drums -> 'sky': level must be "
        "one of foreground, background, ambience"
    )
    assert "expected pairs (stem, level)" in refusal("stem_map=drums")


def test_a_quoted_value_keeps_its_commas():
    """Prompts have commas, and a bare comma splits: `prompt=a city, at night,a forest` is three
    prompts. In double quotes, as in a CSV row, a value holds its commas; numbers are read as before."""
    axis = parse_axis("x", 'prompt="a city, at night", "a forest",a harbour', BASE)
    assert axis.values == ("a city, at night", "a forest", "a harbour")
    assert axis.label(0) == "prompt=a city, at night" and axis.apply(BASE, 0).prompt == "a city, at night"
    assert parse_axis("x", "prompt=a city, at night", BASE).values == ("a city", "at night")  # unquoted: split
    assert parse_axis("x", 'norm_target="40",60', BASE).values == (40.0, 60.0)
    assert refusal('prompt="a, b","a, b"') == "--x prompt: a, b is listed twice: list each value once"
