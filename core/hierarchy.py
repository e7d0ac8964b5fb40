"""Audio tokens -> foreground / background / ambience tokens (seed 000, "Hierarchical feature emphasis").

Two steps, in the seed's order: scale the tokens to a target norm (the seed's "sweet spot" 60, since
raw projector tokens had norm ~154 and swamped the text), then split them into levels and weight
each level. In the per-source modes (bands, stems) every level has its own tokens: each is scaled
on its own and weighted the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .params import LEVELS, GenerationParams

_EPS = 1e-8  # below this a sequence counts as silent: it is left as it is, never divided by


def token_norm(tokens: torch.Tensor, measure: str = "token") -> float:
    """Norm of a (N, D) or (1, N, D) token sequence.

    "token": mean over tokens of each token's L2 norm (comparable across sequence lengths);
    "tensor": L2 norm of the whole tensor (the seed's `audio_tokens.norm()`).
    """
    t = tokens.detach().float().reshape(-1, tokens.shape[-1])
    if t.numel() == 0:
        return 0.0
    if measure == "token":
        return float(torch.linalg.vector_norm(t, dim=-1).mean())
    if measure == "tensor":
        return float(torch.linalg.vector_norm(t))
    raise ValueError(f"unknown norm measure {measure!r}")


def scale_to_norm(tokens: torch.Tensor, target: float, measure: str = "token") -> torch.Tensor:
    """Rescale so that `token_norm(result, measure) == target`. Target 0 and silent tokens: unchanged."""
    if target <= 0:
        return tokens
    current = token_norm(tokens, measure)
    if current < _EPS:
        return tokens
    return tokens * (target / current)


def split_positional(tokens: torch.Tensor, split: tuple[int, int, int]) -> dict[str, torch.Tensor]:
    """The seed's positional split of one sequence: [:35] foreground, [35:56] background, [56:] ambience."""
    n = tokens.shape[-2]
    if sum(split) != n:
        raise ValueError(f"split {split} does not cover {n} tokens")
    bounds = [0, split[0], split[0] + split[1], n]
    return {level: tokens[..., bounds[i] : bounds[i + 1], :] for i, level in enumerate(LEVELS)}


@dataclass
class LevelTokens:
    """Weighted tokens per level, ready for the attention adapters, with the norms along the way."""

    tokens: dict[str, torch.Tensor]
    norms: dict[str, dict[str, float]] = field(default_factory=dict)  # level -> before/scaled/after

    @property
    def counts(self) -> dict[str, int]:
        return {level: int(t.shape[-2]) for level, t in self.tokens.items()}


def build_levels(tokens: torch.Tensor, params: GenerationParams) -> LevelTokens:
    """Mix mode (the seed): scale the whole sequence, split it by position, weight each level."""
    measure = params.norm_measure
    scaled = scale_to_norm(tokens, params.norm_target, measure)
    raw_parts = split_positional(tokens, params.split)
    scaled_parts = split_positional(scaled, params.split)
    out = LevelTokens(tokens={})
    for level in LEVELS:
        weighted = scaled_parts[level] * params.level_weight(level)
        out.tokens[level] = weighted
        out.norms[level] = {
            "before": token_norm(raw_parts[level], measure),
            "scaled": token_norm(scaled_parts[level], measure),
            "after": token_norm(weighted, measure),
        }
    return out


def build_levels_per_source(tokens_by_level: dict[str, torch.Tensor], params: GenerationParams) -> LevelTokens:
    """Bands / stems modes: each level's own sequence is scaled on its own, then weighted."""
    measure = params.norm_measure
    out = LevelTokens(tokens={})
    for level in LEVELS:
        if level not in tokens_by_level:
            continue
        raw = tokens_by_level[level]
        scaled = scale_to_norm(raw, params.norm_target, measure)
        weighted = scaled * params.level_weight(level)
        out.tokens[level] = weighted
        out.norms[level] = {
            "before": token_norm(raw, measure),
            "scaled": token_norm(scaled, measure),
            "after": token_norm(weighted, measure),
        }
    return out


def sequence_norms(tokens: torch.Tensor, measure: str = "token") -> torch.Tensor:
    """Per-sequence norms of (..., N, D) tokens as a differentiable float32 tensor of shape (...):
    `token_norm` for every sequence of a batch at once."""
    t = tokens.float()
    if measure == "token":
        return torch.linalg.vector_norm(t, dim=-1).mean(dim=-1)
    if measure == "tensor":
        return torch.linalg.vector_norm(t, dim=(-2, -1))
    raise ValueError(f"unknown norm measure {measure!r}")


def build_levels_batch(tokens: torch.Tensor, params: GenerationParams) -> dict[str, torch.Tensor]:
    """Training's `build_levels`: (B, 77, D) tokens -> level -> (B, N_level, D), differentiable.

    The same norm target, measure, positional split and level weights as inference, applied to
    each sample on its own (a batch mixes clips of different loudness); a silent sequence is left
    as it is, as `scale_to_norm` does."""
    if params.norm_target > 0:
        norms = sequence_norms(tokens, params.norm_measure)
        factor = torch.where(norms < _EPS, torch.ones_like(norms), params.norm_target / norms.clamp_min(_EPS))
        tokens = tokens * factor.to(tokens.dtype).reshape(*factor.shape, 1, 1)
    parts = split_positional(tokens, params.split)
    return {level: parts[level] * params.level_weight(level) for level in LEVELS}
