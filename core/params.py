"""Every knob of a generation, in one frozen dataclass.

`GenerationParams` is the single source of truth: the CLI flags, the studio's sliders, the PNG
metadata and the tests all go through it. Defaults live here once, each with the seed it comes from
(seeds/000 is the CLAP2Diffusion method deck, seeds/001 its README).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UserError

LEVELS: tuple[str, ...] = ("foreground", "background", "ambience")
SCHEDULERS: tuple[str, ...] = ("dpmpp", "ddim", "euler")
MODES: tuple[str, ...] = ("zero-shot", "trained")
NORM_MEASURES: tuple[str, ...] = ("token", "tensor")
SWITCH_STYLES: tuple[str, ...] = ("hard", "smooth")
SOURCE_MODES: tuple[str, ...] = ("mix", "bands", "stems")
STEMS: tuple[str, ...] = ("drums", "bass", "other", "vocals")
BLOCK_GROUPS: tuple[str, ...] = ("down", "mid", "up")

TOKENS = 77  # SD 1.x text context length; the audio token sequence has the same length.
MAX_STEPS = 500
MAX_SIDE = 2048
MAX_SEED = 2**32 - 1

# Demucs stem -> hierarchy level (issue 4): the voice is what a listener attends to, drums and the
# rest of the mix are the scene around it, the bass is the room's low rumble.
DEFAULT_STEM_MAP: tuple[tuple[str, str], ...] = (
    ("drums", "background"),
    ("bass", "ambience"),
    ("other", "background"),
    ("vocals", "foreground"),
)


class ParamsError(UserError, ValueError):
    """A parameter is out of range or malformed. `field` names it, so a UI can point at it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class GenerationParams:
    """What to generate and how. Frozen, hashable, and round-trips exactly through JSON."""

    # -- text ---------------------------------------------------------------------------------
    prompt: str = ""
    negative_prompt: str = ""
    # -- sampling -----------------------------------------------------------------------------
    seed: int = 0
    steps: int = 25
    guidance: float = 7.5
    width: int = 512  # seed 001: 512x512 with SD 1.5
    height: int = 512
    scheduler: str = "dpmpp"  # DPM-Solver++ (2M): good images in 20-25 steps
    # -- audio --------------------------------------------------------------------------------
    audio_path: str | None = None  # None: text only, the plain SD pipeline
    audio_sha256: str | None = None  # set by the engine from the decoded file; checked on reproduce
    window_start: float = 0.0  # seconds; CLAP hears a 10 s window from here (seeds 000, 004)
    # -- conditioning -------------------------------------------------------------------------
    mode: str = "zero-shot"  # "zero-shot" works with public weights; "trained" needs `checkpoint`
    checkpoint: str | None = None
    top_k: int = 5  # zero-shot: how many sound events CLAP "hears"
    temperature: float = 0.5  # softmax temperature over CLAP logits; seed 001 anneals 2.0 -> 0.5
    audio_strength: float = 1.0  # global multiplier on every audio branch; 0 = plain SD
    gate_scales: tuple[float, float, float] = (0.0, 1.0, 1.0)  # down/mid/up; SonicDiffusion: mid+up
    # -- hierarchy ----------------------------------------------------------------------------
    norm_target: float = 60.0  # seed 000 "sweet spot"; 0 = no scaling
    norm_measure: str = "token"  # "token": mean per-token L2; "tensor": whole-tensor (seed slides)
    split: tuple[int, int, int] = (35, 21, 21)  # seed 000: fg/bg/amb token counts of the 77
    level_weights: tuple[float, float, float] = (0.7, 0.5, 0.3)  # seed 000: fg/bg/amb
    switch_points: tuple[float, float] = (0.4, 0.7)  # seed 000: t>30 amb, t>15 bg, else fg (of 50)
    switch_style: str = "hard"  # "hard" as the seed; "smooth" cross-fades around each switch point
    crossfade: float = 0.1  # smooth style: width of each cross-fade, as a fraction of the steps
    # -- sources (separation issue) -----------------------------------------------------------
    sources: str = "mix"  # "mix": one clip, positional split (seed); "bands"; "stems" (Demucs)
    crossovers: tuple[float, float] = (250.0, 4000.0)  # Hz: low|mid and mid|high band edges
    stem_map: tuple[tuple[str, str], ...] = DEFAULT_STEM_MAP
    # -- models -------------------------------------------------------------------------------
    models: str = "sd15"  # "sd15" | "tiny" | a hub id | a local folder

    # ------------------------------------------------------------------------------------------
    def validate(self) -> GenerationParams:
        """Raise ParamsError naming the first field that makes no sense; return self otherwise."""
        _check_str(self, "prompt", max_len=2000)
        _check_str(self, "negative_prompt", max_len=2000)
        _check_int(self, "seed", 0, MAX_SEED)
        _check_int(self, "steps", 1, MAX_STEPS)
        _check_float(self, "guidance", 0.0, 50.0)
        for name in ("width", "height"):
            _check_int(self, name, 64, MAX_SIDE)
            if getattr(self, name) % 8:
                raise ParamsError(name, f"must be a multiple of 8 (got {getattr(self, name)})")
        _check_choice(self, "scheduler", SCHEDULERS)
        if self.audio_path is not None:
            _check_str(self, "audio_path", max_len=4096, allow_empty=False)
        if self.audio_sha256 is not None:
            _check_str(self, "audio_sha256", max_len=64)
            if len(self.audio_sha256) != 64 or any(c not in "0123456789abcdef" for c in self.audio_sha256):
                raise ParamsError("audio_sha256", "must be a SHA-256 hex digest (64 characters 0-9a-f)")
        _check_float(self, "window_start", 0.0, 3600.0)
        _check_choice(self, "mode", MODES)
        if self.checkpoint is not None:
            _check_str(self, "checkpoint", max_len=4096)
        if self.mode == "trained" and not self.checkpoint:
            raise ParamsError("checkpoint", "trained mode needs a projector checkpoint path")
        _check_int(self, "top_k", 1, 20)
        _check_float(self, "temperature", 0.01, 10.0)
        _check_float(self, "audio_strength", 0.0, 10.0)
        _check_floats(self, "gate_scales", 3, 0.0, 10.0)
        _check_float(self, "norm_target", 0.0, 1000.0)
        _check_choice(self, "norm_measure", NORM_MEASURES)
        _check_ints(self, "split", 3, 1, TOKENS)
        if sum(self.split) != TOKENS:
            raise ParamsError("split", f"token counts must add up to {TOKENS} (got {sum(self.split)})")
        _check_floats(self, "level_weights", 3, 0.0, 10.0)
        _check_floats(self, "switch_points", 2, 0.0, 1.0)
        if self.switch_points[0] > self.switch_points[1]:
            raise ParamsError(
                "switch_points",
                f"must be in order: ambience->background ({self.switch_points[0]}) "
                f"before background->foreground ({self.switch_points[1]})",
            )
        _check_choice(self, "switch_style", SWITCH_STYLES)
        _check_float(self, "crossfade", 0.0, 0.5)
        _check_choice(self, "sources", SOURCE_MODES)
        _check_floats(self, "crossovers", 2, 20.0, 20000.0)
        if not self.crossovers[0] < self.crossovers[1]:
            raise ParamsError("crossovers", "the low crossover must be below the high one")
        _check_stem_map(self.stem_map)
        _check_str(self, "models", max_len=4096, allow_empty=False)
        return self

    # -- convenience --------------------------------------------------------------------------
    def replace(self, **changes: Any) -> GenerationParams:
        return dataclasses.replace(self, **changes)

    def level_weight(self, level: str) -> float:
        return self.level_weights[LEVELS.index(level)]

    def gate_scale(self, group: str) -> float:
        return self.gate_scales[BLOCK_GROUPS.index(group)]

    @property
    def stem_levels(self) -> dict[str, str]:
        return dict(self.stem_map)

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "stem_map":
                value = {stem: level for stem, level in value}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationParams:
        """Build from a dict (e.g. PNG metadata). Unknown keys are an error, missing ones default."""
        if not isinstance(data, Mapping):
            raise ParamsError("params", f"expected a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ParamsError(unknown[0], "unknown parameter")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            default = known[name].default
            if name == "stem_map":
                if not isinstance(value, Mapping):
                    raise ParamsError(name, "expected an object {stem: level}")
                value = tuple((str(k), str(v)) for k, v in value.items())
            elif isinstance(default, tuple):
                if not isinstance(value, (list, tuple)):
                    raise ParamsError(name, f"expected a list of {len(default)} values")
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> GenerationParams:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ParamsError("params", f"not valid JSON ({exc})") from None
        return cls.from_dict(data)


# -- validation helpers (module-private) ----------------------------------------------------------
def _check_str(p: GenerationParams, name: str, max_len: int, allow_empty: bool = True) -> None:
    value = getattr(p, name)
    if not isinstance(value, str):
        raise ParamsError(name, f"expected text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ParamsError(name, "must not be empty")
    if len(value) > max_len:
        raise ParamsError(name, f"is too long ({len(value)} > {max_len} characters)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParamsError(name, "contains bytes that are not valid text (UTF-8)") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(p: GenerationParams, name: str, lo: int, hi: int) -> None:
    value = getattr(p, name)
    if not _is_int(value):
        raise ParamsError(name, f"expected a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ParamsError(name, f"must be between {lo} and {hi} (got {value})")


def _check_float(p: GenerationParams, name: str, lo: float, hi: float) -> None:
    value = getattr(p, name)
    if not _is_number(value) or not math.isfinite(value):
        raise ParamsError(name, f"expected a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise ParamsError(name, f"must be between {lo:g} and {hi:g} (got {value:g})")


def _check_tuple(p: GenerationParams, name: str, n: int) -> tuple:
    value = getattr(p, name)
    if not isinstance(value, tuple) or len(value) != n:
        raise ParamsError(name, f"expected {n} values, got {value!r}")
    return value


def _check_floats(p: GenerationParams, name: str, n: int, lo: float, hi: float) -> None:
    for i, v in enumerate(_check_tuple(p, name, n)):
        if not _is_number(v) or not math.isfinite(v) or not lo <= v <= hi:
            raise ParamsError(name, f"value {i + 1} must be a number between {lo:g} and {hi:g} (got {v!r})")


def _check_ints(p: GenerationParams, name: str, n: int, lo: int, hi: int) -> None:
    for i, v in enumerate(_check_tuple(p, name, n)):
        if not _is_int(v) or not lo <= v <= hi:
            raise ParamsError(name, f"value {i + 1} must be a whole number between {lo} and {hi} (got {v!r})")


def _check_choice(p: GenerationParams, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(p, name)
    if value not in choices:
        raise ParamsError(name, f"must be one of {', '.join(choices)} (got {value!r})")


def _check_stem_map(stem_map: Any) -> None:
    if not isinstance(stem_map, tuple) or not all(isinstance(x, tuple) and len(x) == 2 for x in stem_map):
        raise ParamsError("stem_map", "expected pairs (stem, level)")
    stems = [s for s, _ in stem_map]
    if sorted(stems) != sorted(STEMS):
        raise ParamsError("stem_map", f"must map each of {', '.join(STEMS)} exactly once (got {', '.join(stems)})")
    for stem, level in stem_map:
        if level not in LEVELS:
            raise ParamsError("stem_map", f"{stem} -> {level!r}: level must be one of {', '.join(LEVELS)}")


__all__ = [
    "BLOCK_GROUPS",
    "DEFAULT_STEM_MAP",
    "GenerationParams",
    "LEVELS",
    "MODES",
    "NORM_MEASURES",
    "ParamsError",
    "SCHEDULERS",
    "SOURCE_MODES",
    "STEMS",
    "SWITCH_STYLES",
    "TOKENS",
]
