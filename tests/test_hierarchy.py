"""Norm scaling, positional split and level weights: exact values, both norm measures."""

from __future__ import annotations

import pytest
import torch

from core.hierarchy import build_levels, build_levels_per_source, scale_to_norm, split_positional, token_norm
from core.params import GenerationParams


@pytest.fixture
def tokens():
    torch.manual_seed(0)
    return torch.randn(1, 77, 768) * 3.7


@pytest.mark.parametrize("measure", ["token", "tensor"])
@pytest.mark.parametrize("target", [60.0, 1.5, 300.0])
def test_scaled_norm_equals_target(tokens, measure, target):
    scaled = scale_to_norm(tokens, target, measure)
    assert token_norm(scaled, measure) == pytest.approx(target, rel=1e-5)


def test_measures_differ_as_defined(tokens):
    per_token = torch.linalg.vector_norm(tokens[0], dim=-1)
    assert token_norm(tokens, "token") == pytest.approx(float(per_token.mean()), rel=1e-6)
    assert token_norm(tokens, "tensor") == pytest.approx(float(tokens.norm()), rel=1e-6)


def test_target_zero_and_silence_leave_tokens_unchanged(tokens):
    assert torch.equal(scale_to_norm(tokens, 0.0, "token"), tokens)
    zeros = torch.zeros(1, 77, 768)
    out = scale_to_norm(zeros, 60.0, "token")
    assert torch.equal(out, zeros) and not torch.isnan(out).any()
    faint = torch.full((1, 77, 768), 1e-7)  # a norm of 2.8e-6 per token: quiet, not silent
    assert token_norm(scale_to_norm(faint, 60.0, "token"), "token") == pytest.approx(60.0, rel=1e-5)


def test_positional_split_and_weights_give_exact_tokens(tokens):
    params = GenerationParams(norm_target=0.0, split=(35, 21, 21), level_weights=(0.7, 0.5, 0.3))
    levels = build_levels(tokens, params)
    assert levels.counts == {"foreground": 35, "background": 21, "ambience": 21}
    assert torch.equal(levels.tokens["foreground"], tokens[:, :35] * 0.7)
    assert torch.equal(levels.tokens["background"], tokens[:, 35:56] * 0.5)
    assert torch.equal(levels.tokens["ambience"], tokens[:, 56:] * 0.3)
    other = split_positional(tokens, (10, 30, 37))
    assert [t.shape[1] for t in other.values()] == [10, 30, 37]


def test_norms_are_reported_before_and_after(tokens):
    params = GenerationParams(norm_target=60.0, norm_measure="tensor")
    levels = build_levels(tokens, params)
    whole = torch.cat(
        [levels.tokens[k] / w for k, w in zip(("foreground", "background", "ambience"), params.level_weights)], 1
    )
    assert token_norm(whole, "tensor") == pytest.approx(60.0, rel=1e-5)
    fg = levels.norms["foreground"]
    assert fg["before"] == pytest.approx(token_norm(tokens[:, :35], "tensor"), rel=1e-5)
    assert fg["after"] == pytest.approx(fg["scaled"] * 0.7, rel=1e-5)


def test_per_source_levels_are_scaled_each_on_their_own():
    torch.manual_seed(1)
    raw = {"foreground": torch.randn(1, 77, 64) * 9, "ambience": torch.randn(1, 77, 64) * 0.1}
    params = GenerationParams(norm_target=60.0, level_weights=(0.7, 0.5, 0.3))
    levels = build_levels_per_source(raw, params)
    assert set(levels.tokens) == {"foreground", "ambience"}  # a missing level stays missing
    assert token_norm(levels.tokens["foreground"]) == pytest.approx(60 * 0.7, rel=1e-5)
    assert token_norm(levels.tokens["ambience"]) == pytest.approx(60 * 0.3, rel=1e-5)


def test_norm_of_no_tokens_is_zero_and_of_one_value_its_magnitude():
    for measure in ("token", "tensor"):
        assert token_norm(torch.zeros(0, 768), measure) == 0.0
        assert token_norm(torch.zeros(1, 0, 768), measure) == 0.0
        assert token_norm(torch.tensor([[-2.5]]), measure) == 2.5


def test_bad_measure_and_bad_split_say_what_is_wrong(tokens):
    with pytest.raises(ValueError, match="^unknown norm measure 'l3'$"):
        token_norm(tokens, "l3")
    with pytest.raises(ValueError, match=r"split \(10, 10, 10\) does not cover 77 tokens"):
        split_positional(tokens, (10, 10, 10))


def test_default_measure_is_per_token(tokens):
    scaled = scale_to_norm(tokens, 60.0)
    assert torch.equal(scaled, scale_to_norm(tokens, 60.0, "token"))
    assert token_norm(scaled, "token") == pytest.approx(60.0, rel=1e-5)
    assert token_norm(scaled, "tensor") != pytest.approx(60.0, rel=1e-2)


@pytest.mark.parametrize("target", [0.5, 1e-3])
def test_targets_below_one_still_scale(tokens, target):
    assert token_norm(scale_to_norm(tokens, target), "token") == pytest.approx(target, rel=1e-5)


def test_per_source_norms_are_reported_in_the_chosen_measure():
    torch.manual_seed(2)
    raw = {"background": torch.randn(1, 77, 64) * 4}
    params = GenerationParams(norm_target=30.0, norm_measure="tensor", level_weights=(0.7, 0.5, 0.3))
    levels = build_levels_per_source(raw, params)
    assert levels.norms["background"] == pytest.approx(
        {"before": float(raw["background"].norm()), "scaled": 30.0, "after": 15.0}, rel=1e-5
    )
    assert token_norm(levels.tokens["background"], "tensor") == pytest.approx(15.0, rel=1e-5)
