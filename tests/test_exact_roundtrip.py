""" "Reproduces exactly": awkward floats survive the PNG metadata and `generate --from` bit for bit,
and `--size WxH` is width x height.

Floats are compared by their bits (float.hex), so a metadata writer that rounds (to 6 or even 15
significant digits) fails here, and so does one that drops the sign of -0.0.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from PIL import Image

from core.export import png_bytes, read_params
from core.params import GenerationParams

BELOW = math.nextafter  # BELOW(x, 0): the largest float below x


def float_bits(params: GenerationParams) -> dict[str, object]:
    """Every field, with each float (also inside tuples) as its exact hex form."""

    def bits(value):
        if isinstance(value, float):
            return value.hex()
        if isinstance(value, tuple):
            return tuple(bits(v) for v in value)
        return value

    return {f.name: bits(getattr(params, f.name)) for f in dataclasses.fields(params)}


AWKWARD = GenerationParams(
    prompt="a city",
    guidance=0.1 + 0.2,  # 0.30000000000000004: 17 significant digits
    window_start=BELOW(3600.0, 0),  # just inside the top of its range
    temperature=1 / 3,
    audio_strength=1e-7,
    gate_scales=(-0.0, 5e-324, BELOW(10.0, 0)),  # negative zero, the smallest subnormal, the top
    norm_target=BELOW(1000.0, 0),
    level_weights=(1 / 3, 2 / 3, 0.1 + 0.2),
    switch_points=(1 / 3, BELOW(1.0, 0)),
    switch_style="smooth",
    crossfade=BELOW(0.5, 0),
    crossovers=(math.nextafter(20.0, 30.0), BELOW(20000.0, 0)),  # just inside both ends
    models="tiny",
).validate()


def test_awkward_floats_round_trip_the_png_bit_for_bit():
    image = Image.new("RGB", (16, 8), (10, 20, 30))
    back = read_params(png_bytes(image, AWKWARD))
    assert float_bits(back) == float_bits(AWKWARD)
    assert back == AWKWARD


@pytest.mark.parametrize("size, expected", [("64x128", (64, 128)), ("128x64", (128, 64)), ("72", (72, 72))])
def test_size_flag_is_width_then_height(size, expected):
    import argparse

    from core.cli.generate import params_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    params = params_from_args(parser.parse_args(["generate", "--size", size, "--models", "tiny"]))
    assert (params.width, params.height) == expected


def test_from_keeps_every_knob_and_a_flag_set_to_zero_or_empty_still_overrides_it(tmp_path):
    """`--from` alone gives back every stored field; `--seed 0`, `--strength 0`, `--prompt ""`
    are values the user chose, not "left out" (a truthiness check would keep the PNG's)."""
    import argparse

    from core.cli.generate import params_from_args, register

    png = tmp_path / "a.png"
    stored = AWKWARD.replace(seed=5, negative_prompt="blur", audio_strength=0.7, window_start=2.5)
    png.write_bytes(png_bytes(Image.new("RGB", (16, 8)), stored))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    again = params_from_args(parser.parse_args(["generate", "--from", str(png)]))
    assert float_bits(again) == float_bits(stored)
    flags = [
        "--seed",
        "0",
        "--strength",
        "0",
        "--guidance",
        "0",
        "--window-start",
        "0",
        "--prompt",
        "",
        "--negative",
        "",
    ]
    zeroed = params_from_args(parser.parse_args(["generate", "--from", str(png), *flags]))
    assert (zeroed.seed, zeroed.audio_strength, zeroed.guidance, zeroed.window_start) == (0, 0.0, 0.0, 0.0)
    assert (zeroed.prompt, zeroed.negative_prompt) == ("", "")
    chosen = ("seed", "audio_strength", "guidance", "window_start", "prompt", "negative_prompt")
    assert zeroed.replace(**{k: getattr(stored, k) for k in chosen}) == stored  # every other knob as stored


def test_without_seed_or_from_the_seed_is_drawn_over_its_whole_range(monkeypatch):
    """A run without --seed draws a new seed (printed, stored in the PNG), not a fixed one."""
    import argparse

    import core.cli.generate as generate
    from core.params import MAX_SEED

    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers())
    drawn: list[tuple[int, int]] = []
    monkeypatch.setattr(generate.random, "randint", lambda lo, hi: drawn.append((lo, hi)) or hi)
    assert generate.params_from_args(parser.parse_args(["generate", "--models", "tiny"])).seed == MAX_SEED
    assert drawn == [(0, MAX_SEED)]
    assert generate.params_from_args(parser.parse_args(["generate", "--seed", "7"])).seed == 7
