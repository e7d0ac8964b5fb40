"""The binding table: widget key <-> GenerationParams field, declared once, and the pure read-back.

`BINDINGS` maps every parameter widget key to a GenerationParams field (an element of a tuple
field, or a stem of the stem map), with the conversions both ways; `params_from_values` reads a
mapping of widget values back into params. Nothing here touches Streamlit: studio/bindings.py
writes and reads the session's widget state through this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.knobs import MULTIPLIER_MARK
from core.params import BLOCK_GROUPS, LEVELS, STEMS, TOKENS, GenerationParams, knobs


# ================================================================================================
# Widget <-> GenerationParams bindings
# ================================================================================================
def _float(v: Any) -> float:
    return float(v)


def _int(v: Any) -> int:
    return int(round(float(v)))


def _str(v: Any) -> str:
    return "" if v is None else str(v)


def _opt_str(v: Any) -> str | None:
    text = _str(v).strip()
    return text or None


def _split_to_widget(split: tuple[int, int, int]) -> tuple[int, int]:
    """(fg, bg, amb) token counts -> the two boundaries of one range slider over the 77 tokens."""
    return (int(split[0]), int(split[0]) + int(split[1]))


def _split_from_widget(bounds: Any) -> tuple[int, int, int]:
    lo, hi = (int(x) for x in bounds)
    return (lo, hi - lo, TOKENS - hi)


def _pair(v: Any) -> tuple[float, float]:
    a, b = v
    return (float(a), float(b))


@dataclass(frozen=True)
class Binding:
    """Widget `key` <-> GenerationParams `field` (element `index` of a tuple field, or a stem name)."""

    key: str
    field: str
    label: str  # the widget's label: the knob's, or an element's own
    index: int | str | None = None
    to_widget: Callable[[Any], Any] = _float
    from_widget: Callable[[Any], Any] = _float

    def value_of(self, params: GenerationParams) -> Any:
        value = getattr(params, self.field)
        if isinstance(self.index, str):  # stem_map
            value = dict(value).get(self.index)
        elif self.index is not None:
            value = value[self.index]
        return self.to_widget(value)


def _bind(key: str, name: str, **kwargs: Any) -> Binding:
    """A binding whose label is the field's Knob label."""
    return Binding(key, name, knobs()[name].label, **kwargs)


_TEXT = dict(to_widget=_str, from_widget=_str)
_INT = dict(to_widget=_int, from_widget=_int)
LEVEL_SHORT = {"foreground": "fg", "background": "bg", "ambience": "amb"}

BINDINGS: tuple[Binding, ...] = (
    _bind("w_prompt", "prompt", **_TEXT),
    _bind("w_negative", "negative_prompt", **_TEXT),
    _bind("w_seed", "seed", **_INT),
    _bind("w_steps", "steps", **_INT),
    _bind("w_guidance", "guidance"),
    _bind("w_width", "width", **_INT),
    _bind("w_height", "height", **_INT),
    _bind("w_scheduler", "scheduler", **_TEXT),
    _bind("w_window_start", "window_start"),
    _bind("w_mode", "mode", **_TEXT),
    _bind("w_checkpoint", "checkpoint", to_widget=_str, from_widget=_opt_str),
    _bind("w_top_k", "top_k", **_INT),
    _bind("w_temperature", "temperature"),
    _bind("w_audio_strength", "audio_strength"),
    *(
        Binding(f"w_gate_{g}", "gate_scales", f"{g.capitalize()} gate{MULTIPLIER_MARK}", index=i)
        for i, g in enumerate(BLOCK_GROUPS)
    ),
    _bind("w_norm_target", "norm_target"),
    _bind("w_norm_measure", "norm_measure", **_TEXT),
    _bind("w_split", "split", to_widget=_split_to_widget, from_widget=_split_from_widget),
    *(
        Binding(f"w_weight_{LEVEL_SHORT[lv]}", "level_weights", f"{lv.capitalize()} weight{MULTIPLIER_MARK}", index=i)
        for i, lv in enumerate(LEVELS)
    ),
    _bind("w_switch", "switch_points", to_widget=_pair, from_widget=_pair),
    _bind("w_switch_style", "switch_style", **_TEXT),
    _bind("w_crossfade", "crossfade"),
    _bind("w_sources", "sources", **_TEXT),
    Binding("w_crossover_low", "crossovers", "Low | mid crossover (Hz)", index=0),
    Binding("w_crossover_high", "crossovers", "Mid | high crossover (Hz)", index=1),
    *(Binding(f"w_stem_{s}", "stem_map", f"{s.capitalize()} stem →", index=s, **_TEXT) for s in STEMS),
)
BY_KEY: dict[str, Binding] = {b.key: b for b in BINDINGS}
FIELD_LABELS: dict[str, str] = {name: k.label for name, k in knobs().items()} | {"params": "Parameters"}


def field_label(path: str) -> str:
    """A field as its Generate widget is labelled: 'Foreground weight (×)' for `level_weights.0` (an
    element of a tuple field, as a sweep axis names it), 'Norm target' for `norm_target`; the Knob's
    label for a field without a widget of its own. Raises KeyError for a name that is no field."""
    name, _, element = path.partition(".")
    index: int | str | None = int(element) if element.isdigit() else element or None
    bound = next((b for b in BINDINGS if b.field == name and b.index == index), None)
    return bound.label if bound is not None else knobs()[name].label


def params_from_values(values: Mapping[str, Any], base: GenerationParams, audio_path: str | None) -> GenerationParams:
    """Widget values read back into a GenerationParams (pure: no Streamlit; not validated).

    Fields without a widget (audio hash, models) come from `base`; the audio hash is kept only
    while the clip is still the same file."""
    changes: dict[str, Any] = {}
    tuples: dict[str, list[Any]] = {}
    stems: dict[str, str] = dict(base.stem_map)
    for b in BINDINGS:
        if b.key not in values:
            continue
        try:
            v = b.from_widget(values[b.key])
        except (TypeError, ValueError):
            continue  # a half-typed number: keep the last good value
        if isinstance(b.index, str):
            stems[b.index] = v
        elif b.index is not None:
            tuples.setdefault(b.field, list(getattr(base, b.field)))[b.index] = v
        else:
            changes[b.field] = v
    for name, vals in tuples.items():
        changes[name] = tuple(vals)
    order = [s for s, _ in base.stem_map] if sorted(s for s, _ in base.stem_map) == sorted(STEMS) else list(STEMS)
    changes["stem_map"] = tuple((s, stems.get(s, "background")) for s in order)
    changes["audio_path"] = audio_path
    if base.audio_sha256 and (audio_path is None or not base.audio_path or not same_file(audio_path, base.audio_path)):
        changes["audio_sha256"] = None
    if base.checkpoint_sha256 and changes.get("checkpoint", base.checkpoint) != base.checkpoint:
        changes["checkpoint_sha256"] = None  # another checkpoint chosen: its own weights, its own hash
    return base.replace(**changes)


def same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).resolve()
    except OSError:
        return False


__all__ = [
    "BINDINGS",
    "BY_KEY",
    "FIELD_LABELS",
    "LEVEL_SHORT",
    "Binding",
    "field_label",
    "params_from_values",
    "same_file",
]
