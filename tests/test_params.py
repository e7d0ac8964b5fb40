"""GenerationParams: seed defaults, validation that names the field, exact JSON round trip."""

from __future__ import annotations

import math

import pytest

from core.params import DEFAULT_STEM_MAP, GenerationParams, ParamsError


def test_defaults_are_the_seeds():
    p = GenerationParams()
    assert p.norm_target == 60.0
    assert p.split == (35, 21, 21)
    assert p.level_weights == (0.7, 0.5, 0.3)
    assert p.switch_points == (0.4, 0.7)
    assert p.gate_scales == (0.0, 1.0, 1.0)  # adapters in mid + up
    assert (p.width, p.height) == (512, 512)
    assert p.scheduler == "dpmpp"
    assert p.mode == "zero-shot"
    assert p.validate() is p


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"level_weights": (-0.1, 0.5, 0.3)}, "level_weights"),
        ({"level_weights": (0.7, math.nan, 0.3)}, "level_weights"),
        ({"switch_points": (0.8, 0.3)}, "switch_points"),
        ({"switch_points": (0.2, 1.5)}, "switch_points"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"width": 500}, "width"),
        ({"height": 8}, "height"),
        ({"seed": -1}, "seed"),
        ({"guidance": math.inf}, "guidance"),
        ({"scheduler": "plms"}, "scheduler"),
        ({"split": (35, 21, 20)}, "split"),
        ({"split": (0, 56, 21)}, "split"),
        ({"mode": "trained"}, "checkpoint"),
        ({"norm_measure": "max"}, "norm_measure"),
        ({"audio_strength": -1.0}, "audio_strength"),
        ({"gate_scales": (1.0, 1.0)}, "gate_scales"),
        ({"crossovers": (4000.0, 250.0)}, "crossovers"),
        ({"stem_map": (("vocals", "foreground"),)}, "stem_map"),
        ({"stem_map": tuple((s, "sky") for s, _ in DEFAULT_STEM_MAP)}, "stem_map"),
        ({"sources": "spleeter"}, "sources"),
        ({"temperature": 0.0}, "temperature"),
        ({"steps": True}, "steps"),
        ({"models": ""}, "models"),
        ({"prompt": "caf\udce9"}, "prompt"),
        ({"audio_path": "/tmp/\udcff.wav"}, "audio_path"),
        ({"audio_sha256": "abc"}, "audio_sha256"),
        ({"checkpoint": 5}, "checkpoint"),
    ],
)
def test_validate_names_the_field(changes, field):
    with pytest.raises(ParamsError) as err:
        GenerationParams(**changes).validate()
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_json_round_trip_is_exact():
    p = GenerationParams(
        prompt="a city — 도시",
        seed=2**32 - 1,
        guidance=1 / 3,
        level_weights=(0.1, 0.30000000000000004, 2.5),
        switch_points=(0.25, 0.25),
        audio_path="/tmp/x.wav",
        stem_map=(("vocals", "ambience"), ("drums", "foreground"), ("bass", "background"), ("other", "background")),
        sources="stems",
    )
    again = GenerationParams.from_json(p.to_json())
    assert again == p
    assert hash(again) == hash(p)
    assert GenerationParams.from_json(GenerationParams().to_json()) == GenerationParams()


def test_from_dict_rejects_unknown_and_malformed():
    with pytest.raises(ParamsError) as err:
        GenerationParams.from_dict({"brightness": 3})
    assert err.value.field == "brightness"
    with pytest.raises(ParamsError) as err:
        GenerationParams.from_dict({"split": 77})
    assert err.value.field == "split"
    with pytest.raises(ParamsError):
        GenerationParams.from_json("{not json")
    assert GenerationParams.from_dict({"steps": 12}).steps == 12  # missing keys default
