"""Each field's own rule in GenerationParams (core/param_rules.py `RULES`), pinned by field and by its
exact message: mutation testing showed the round trips alone let these change unnoticed."""

from __future__ import annotations

import json

import pytest

from core.params import GenerationParams, ParamsError

STEMS_OK = (("vocals", "foreground"), ("drums", "background"), ("bass", "ambience"), ("other", "ambience"))


@pytest.mark.parametrize(
    "changes, field, message",
    [
        (dict(width=100), "width", "must be a multiple of 8 (got 100)"),
        (dict(height=68), "height", "must be a multiple of 8 (got 68)"),
        (dict(audio_path="a\x00b.wav"), "audio_path", "contains a NUL character, which no file name can hold"),
        (dict(models="ti\x00ny"), "models", "contains a NUL character, which no file name can hold"),
        (dict(checkpoint="c\x00"), "checkpoint", "contains a NUL character, which no file name can hold"),
        (dict(audio_sha256="A" * 64), "audio_sha256", "must be a SHA-256 hex digest (64 characters 0-9a-f)"),
        (dict(audio_sha256="a" * 63), "audio_sha256", "must be a SHA-256 hex digest (64 characters 0-9a-f)"),
        (dict(audio_sha256="g" * 64), "audio_sha256", "must be a SHA-256 hex digest (64 characters 0-9a-f)"),
        (dict(audio_sha256=""), "audio_sha256", "must be a SHA-256 hex digest (64 characters 0-9a-f)"),
        (dict(checkpoint_sha256="A" * 64), "checkpoint_sha256", "must be a SHA-256 hex digest (64 characters 0-9a-f)"),
        (dict(mode="trained"), "checkpoint", "trained mode needs a projector checkpoint path"),
        (dict(mode="trained", checkpoint=""), "checkpoint", "trained mode needs a projector checkpoint path"),
        (dict(split=(30, 21, 21)), "split", "token counts must add up to 77 (got 72)"),
        (
            dict(switch_points=(0.8, 0.2)),
            "switch_points",
            "must be in order: ambience->background (0.8) before background->foreground (0.2)",
        ),  # fmt: skip
        (dict(crossovers=(1000.0, 1000.0)), "crossovers", "the low crossover must be below the high one"),
        (dict(crossovers=(4000.0, 250.0)), "crossovers", "the low crossover must be below the high one"),
        (dict(stem_map=[("vocals", "foreground")]), "stem_map", "expected pairs (stem, level)"),
        (dict(stem_map=(("vocals",),)), "stem_map", "expected pairs (stem, level)"),
        (dict(stem_map=(["vocals", "foreground"], *STEMS_OK[1:])), "stem_map", "expected pairs (stem, level)"),
        (
            dict(stem_map=STEMS_OK[:3]),
            "stem_map",
            "must map each of drums, bass, other, vocals exactly once (got vocals, drums, bass)",
        ),  # fmt: skip
        (
            dict(stem_map=(STEMS_OK[0], ("vocals", "background"), *STEMS_OK[2:])),
            "stem_map",
            "must map each of drums, bass, other, vocals exactly once (got vocals, vocals, bass, other)",
        ),  # fmt: skip
        (
            dict(stem_map=(*STEMS_OK, ("vocals", "background"))),
            "stem_map",
            "must map each of drums, bass, other, vocals exactly once (got vocals, drums, bass, other, vocals)",
        ),  # fmt: skip
        (
            dict(stem_map=(("vocals", "sky"), *STEMS_OK[1:])),
            "stem_map",
            "vocals -> 'sky': level must be one of foreground, background, ambience",
        ),  # fmt: skip
        (  # "mix" is a sources mode, not a level a stem can go to
            dict(stem_map=(("vocals", "mix"), *STEMS_OK[1:])),
            "stem_map",
            "vocals -> 'mix': level must be one of foreground, background, ambience",
        ),  # fmt: skip
    ],
)
def test_each_rule_names_its_field_and_says_why(changes, field, message):
    with pytest.raises(ParamsError) as err:
        GenerationParams(**changes).validate()
    assert err.value.field == field
    assert str(err.value) == f"{field}: {message}"


@pytest.mark.parametrize(
    "changes",
    [
        dict(width=104, height=72),
        dict(audio_path="ok.wav", models="tiny", checkpoint=None),
        dict(audio_sha256="0123456789abcdef" * 4),
        dict(mode="trained", checkpoint="runs/a/final"),
        dict(split=(1, 1, 75)),
        dict(switch_points=(0.5, 0.5)),
        dict(crossovers=(999.0, 1000.0)),
        dict(stem_map=tuple(reversed(STEMS_OK))),
    ],
)
def test_values_just_inside_each_rule_pass(changes):
    assert GenerationParams(**changes).validate() == GenerationParams(**changes)


def test_json_forms():
    p = GenerationParams(prompt="천둥", level_weights=(0.1, 0.2, 1 / 3))
    text = p.to_json()
    assert text.startswith('{"prompt": "천둥", "negative_prompt": "", "seed": 0,')  # field order, unicode kept
    assert p.to_json(indent=2).startswith('{\n  "prompt": "천둥",\n')
    assert GenerationParams.from_json(text) == p
    assert json.loads(text)["level_weights"] == [0.1, 0.2, 1 / 3]
    with pytest.raises(ParamsError) as err:
        GenerationParams.from_json("{bad")
    assert err.value.field == "params" and str(err.value).startswith("params: not valid JSON (Expecting property")
    with pytest.raises(ParamsError) as err:
        GenerationParams.from_json(None)
    assert err.value.field == "params"


HUGE = "1" + "0" * 400  # a whole number JSON allows and no float holds: math.isfinite raised OverflowError


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("guidance", HUGE, "guidance: must be between 0 and 50 (got a whole number of about 401 digits)"),
        ("guidance", "-" + HUGE, "guidance: must be between 0 and 50 (got a whole number of about 401 digits)"),
        ("steps", HUGE, "steps: must be between 1 and 500 (got a whole number of about 401 digits)"),
        (
            "level_weights",
            f"[{HUGE}, 0.5, 0.3]",
            "level_weights: value 1 must be a number between 0 and 10 (got a whole number of about 401 digits)",
        ),  # fmt: skip
        (
            "split",
            f"[{HUGE}, 38, 38]",
            "split: value 1 must be a whole number between 1 and 77 (got a whole number of about 401 digits)",
        ),  # fmt: skip
    ],
)
def test_a_whole_number_too_large_for_a_float_is_out_of_range_by_name(field, value, message):
    text = GenerationParams().to_json()[:-1] + f', "{field}": {value}}}'  # the later key wins
    with pytest.raises(ParamsError) as err:
        GenerationParams.from_json(text).validate()
    assert (err.value.field, str(err.value)) == (field, message)


@pytest.mark.parametrize(
    "weights, shown",
    [((11.0, 0.5, 0.3), "11"), ((-0.5, 0.5, 0.3), "-0.5"), ((10.0000001, 0.5, 0.3), "10.0000001")],
)
def test_an_element_out_of_range_is_shown_as_typed(weights, shown):
    """A sweep's 'Foreground weight = 11: … (got 11.0)' said one number two ways."""
    with pytest.raises(ParamsError) as err:
        GenerationParams(level_weights=weights).validate()
    assert str(err.value) == f"level_weights: value 1 must be a number between 0 and 10 (got {shown})"


def test_level_weight_and_gate_scale_read_by_name():
    p = GenerationParams(level_weights=(0.9, 0.5, 0.1), gate_scales=(0.0, 0.25, 0.75))
    assert [p.level_weight(lv) for lv in ("foreground", "background", "ambience")] == [0.9, 0.5, 0.1]
    assert [p.gate_scale(g) for g in ("down", "mid", "up")] == [0.0, 0.25, 0.75]
