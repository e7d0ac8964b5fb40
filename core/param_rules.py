"""Each generation field's own rule beyond its Knob's type, range and length checks (multiples of 8,
orderings, sums, hashes), run by `GenerationParams.validate` right after that field's check, so the
first field that makes no sense is the one named."""

from __future__ import annotations

from collections.abc import Callable

from .knobs import ParamsError
from .params import LEVELS, STEMS, TOKENS, GenerationParams


def _multiple_of_8(name: str) -> Callable[[GenerationParams], None]:
    return lambda p: _require_multiple_of_8(p, name)


def _require_multiple_of_8(p: GenerationParams, name: str) -> None:
    if getattr(p, name) % 8:
        raise ParamsError(name, f"must be a multiple of 8 (got {getattr(p, name)})")


def _sha256_hex(name: str) -> Callable[[GenerationParams], None]:
    return lambda p: _require_sha256_hex(p, name)


def _require_sha256_hex(p: GenerationParams, name: str) -> None:
    sha = getattr(p, name)
    if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ParamsError(name, "must be a SHA-256 hex digest (64 characters 0-9a-f)")


def _no_nul(name: str) -> Callable[[GenerationParams], None]:
    return lambda p: _require_no_nul(p, name)


def _require_no_nul(p: GenerationParams, name: str) -> None:
    """No file name can hold a NUL: refused here, not as a traceback from the first open()."""
    if "\x00" in (getattr(p, name) or ""):
        raise ParamsError(name, "contains a NUL character, which no file name can hold")


def _trained_needs_checkpoint(p: GenerationParams) -> None:
    _require_no_nul(p, "checkpoint")
    if p.mode == "trained" and not p.checkpoint:
        raise ParamsError("checkpoint", "trained mode needs a projector checkpoint path")


def _split_covers_tokens(p: GenerationParams) -> None:
    if sum(p.split) != TOKENS:
        raise ParamsError("split", f"token counts must add up to {TOKENS} (got {sum(p.split)})")


def _switch_in_order(p: GenerationParams) -> None:
    a, b = p.switch_points
    if a > b:
        raise ParamsError(
            "switch_points", f"must be in order: ambience->background ({a}) before background->foreground ({b})"
        )


def _crossovers_in_order(p: GenerationParams) -> None:
    if not p.crossovers[0] < p.crossovers[1]:
        raise ParamsError("crossovers", "the low crossover must be below the high one")


def _stem_map(p: GenerationParams) -> None:
    stem_map = p.stem_map
    if not isinstance(stem_map, tuple) or not all(isinstance(x, tuple) and len(x) == 2 for x in stem_map):
        raise ParamsError("stem_map", "expected pairs (stem, level)")
    stems = [s for s, _ in stem_map]
    if sorted(stems) != sorted(STEMS):
        raise ParamsError("stem_map", f"must map each of {', '.join(STEMS)} exactly once (got {', '.join(stems)})")
    for stem, level in stem_map:
        if level not in LEVELS:
            raise ParamsError("stem_map", f"{stem} -> {level!r}: level must be one of {', '.join(LEVELS)}")


RULES: dict[str, Callable[[GenerationParams], None]] = {
    "width": _multiple_of_8("width"),
    "height": _multiple_of_8("height"),
    "audio_path": _no_nul("audio_path"),
    "models": _no_nul("models"),
    "audio_sha256": _sha256_hex("audio_sha256"),
    "checkpoint": _trained_needs_checkpoint,
    "checkpoint_sha256": _sha256_hex("checkpoint_sha256"),
    "split": _split_covers_tokens,
    "switch_points": _switch_in_order,
    "crossovers": _crossovers_in_order,
    "stem_map": _stem_map,
}


__all__ = ["RULES"]
