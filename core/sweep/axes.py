"""Sweep axes: `FIELD=V1,V2,...` parsed against GenerationParams, checked before anything runs.

FIELD is a GenerationParams field (`norm_target`, `seed`, `sources`, `audio_path`, ...), one element
of a tuple field (`level_weights.0`: the foreground weight), or a whole tuple field whose values are
separated by `;` (`switch_points=0.3,0.6;0.4,0.7`). Values take the field's own type; `none` is
None for fields that allow it. A bad axis is one SweepError naming it.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..params import RECORDED_HASHES, GenerationParams, ParamsError, clip_name, knobs, stem_map_pairs
from ..train.layout import checkpoint_name

MAX_VALUES = 16  # per axis
MAX_TILES = 256  # per sweep: beyond this a sweep is a batch job for the CLI, not a grid to read


def _flag(axis: str) -> str:
    return f"--{axis}"


def _as_typed(axis: str, field: str, value: str | None) -> str:
    return f"--{axis} {field}" + (f"={value}" if value is not None else "")


class SweepError(UserError, ValueError):
    """An axis or a sweep that cannot run. Its parts (axis, field, value, reason) are kept so that
    each surface names them in its own words: `str()` is the command line's (`--x seed: ...`),
    `worded()` takes the studio's (`X (Seed): ...`)."""

    def __init__(
        self, reason: str, axis: str | None = None, field: str | None = None, value: str | None = None,
        clash: str | None = None,
    ) -> None:  # fmt: skip
        self.reason, self.axis, self.field, self.value, self.clash = reason, axis, field, value, clash
        super().__init__(self.worded())

    def worded(
        self, subject: Callable[[str, str, str | None], str] = _as_typed, axis_name: Callable[[str], str] = _flag
    ) -> str:
        """The message with the axis, setting and value named by `subject(axis, field, value)` and
        a clashing axis by `axis_name(axis)`."""
        reason = self.reason if self.clash is None else f"{self.reason} {axis_name(self.clash)}"
        if self.axis is None or self.field is None:
            return reason
        return f"{subject(self.axis, self.field, self.value)}: {reason}"


@dataclass(frozen=True)
class Axis:
    """One axis: the field (with an element index for tuple fields) and its values, in order."""

    name: str  # "x" | "y" | "z"
    field: str  # as written: "level_weights.0"
    values: tuple[Any, ...]
    raw: tuple[str, ...]  # the values as typed, for labels
    title: str = ""  # what a person calls the field ('Foreground weight'): the studio's words; the CLI keeps the field

    @property
    def named(self) -> str:
        """The axis as captions, grid titles and heatmaps call it."""
        return self.title or self.field

    @property
    def base_field(self) -> str:
        return self.field.split(".", 1)[0]

    @property
    def index(self) -> int | None:
        return int(self.field.split(".", 1)[1]) if "." in self.field else None

    def shown(self, i: int) -> str:
        """Value `i` as typed, but a clip by its file name and a checkpoint by its run: what
        captions, titles and the CSV show (files others see name no folder of this machine)."""
        raw = self.raw[i]
        if raw.lower() == "none":
            return raw
        if self.base_field == "audio_path":
            return clip_name(raw)
        return checkpoint_name(raw) if self.base_field == "checkpoint" else raw

    def label(self, i: int) -> str:
        """'norm_target=40', 'audio_path=rain.wav' (or 'Norm target: 40' with a title): a tile's caption."""
        return f"{self.title}: {self.shown(i)}" if self.title else f"{self.field}={self.shown(i)}"

    def beyond_slider(self) -> tuple[str, ...]:
        """The values (as shown) outside the studio slider's span of the field (`Knob.slider`), which
        validation still accepts: a sweep uses them as typed, and Generate's slider widens to one."""
        span = knobs()[self.base_field].slider
        if span is None:
            return ()
        lo, hi = span

        def outside(value: Any) -> bool:
            items = value if isinstance(value, tuple) else (value,)
            return any(isinstance(v, (int, float)) and not lo <= v <= hi for v in items)

        return tuple(self.shown(i) for i, value in enumerate(self.values) if outside(value))

    def apply(self, params: GenerationParams, i: int) -> GenerationParams:
        value = self.values[i]
        if self.index is not None:
            items = list(getattr(params, self.base_field))
            items[self.index] = value
            value = tuple(items)
        changes: dict[str, Any] = {self.base_field: value}
        if self.base_field in RECORDED_HASHES:
            changes[RECORDED_HASHES[self.base_field]] = None  # each clip or checkpoint gets its own hash
        return params.replace(**changes)


_FIELDS = {f.name: f for f in dataclasses.fields(GenerationParams)}
_NOT_SWEPT = ("models", *RECORDED_HASHES.values())  # set by the run, not a knob to explore
_PATH_FIELDS = tuple(RECORDED_HASHES)  # a clip or a checkpoint: `none` is no file


def swept_fields() -> tuple[str, ...]:
    """The fields an axis may name, in GenerationParams' order (what the run sets is left out)."""
    return tuple(n for n in knobs() if n not in _NOT_SWEPT)


def element_fields() -> dict[str, int]:
    """The list settings whose elements an axis may name one at a time (`level_weights.0`), with their lengths."""
    base = GenerationParams()
    return {
        n: len(v)
        for n in swept_fields()
        if isinstance(v := getattr(base, n), tuple) and all(isinstance(e, (int, float)) for e in v)
    }


def _convert(field: str, example: Any, text: str, axis: str) -> Any:
    text = text.strip()
    if field in _PATH_FIELDS:
        if not text:  # resolved, an empty path was the working folder: a trailing comma made it a clip
            raise SweepError("an empty value (two commas in a row, or one at the end)", axis, field)
        if text.lower() == "none":
            return None
    try:
        if isinstance(example, bool):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(example, int):
            return int(text)
        if isinstance(example, float):
            return float(text)
    except ValueError:
        if not text:
            raise SweepError("an empty value (two commas in a row, or one at the end)", axis, field) from None
        raise SweepError(_not_a_value(example, text), axis, field) from None
    if field == "audio_path":
        return str(Path(text).expanduser().resolve())
    return text


def split_values(text: str) -> list[str]:
    """'40,60,80' -> ['40', '60', '80']; a value in double quotes may hold commas, as in a CSV row
    (prompt="a city, at night","a forest"): prompts have commas, and a bare comma splits."""
    return next(csv.reader([text], skipinitialspace=True)) if '"' in text else text.split(",")


def _not_a_value(example: Any, text: str) -> str:
    """Why `text` is not a value of the field: `seed=10.0` is a number, but not a whole one."""
    if isinstance(example, int):
        try:
            float(text)
        except ValueError:
            pass
        else:
            return f"{text!r} is not a whole number: this setting takes whole numbers, without a decimal point (10, not 10.0)"
    return f"{text!r} is not a number"


def parse_axis(name: str, spec: str, base: GenerationParams) -> Axis:
    """`FIELD=V1,V2,...` → Axis, every value checked by GenerationParams' own validation."""
    field, sep, values_text = spec.partition("=")
    field = field.strip()
    if not sep or not values_text.strip():
        raise SweepError(f"--{name} {spec!r}: expected FIELD=V1,V2,... (e.g. --{name} norm_target=40,60,80)")
    base_field, _, index_text = field.partition(".")
    if base_field not in _FIELDS or base_field in _NOT_SWEPT:
        raise SweepError(f"not a setting that can be swept (one of: {', '.join(swept_fields())})", name, field)
    current = getattr(base, base_field)
    if index_text:
        if not isinstance(current, tuple):
            raise SweepError(
                f"{base_field} is one value: it has no element {index_text!r} (sweep it whole)", name, field
            )
        if not index_text.isdigit() or int(index_text) >= len(current):
            valid = f"0 to {len(current) - 1}" if len(current) > 2 else " or ".join(map(str, range(len(current))))
            raise SweepError(f"{base_field} has no element {index_text!r} (its elements are {valid})", name, field)
        example, raw = current[int(index_text)], split_values(values_text)
        values = tuple(_convert(field, example, v, name) for v in raw)
    elif base_field == "stem_map":  # drums=background,...;drums=ambience,...: validated below, as --stem-map
        raw = values_text.split(";")
        values = tuple(stem_map_pairs(v.strip()) for v in raw)
    elif isinstance(current, tuple):
        raw = values_text.split(";")
        if any(len(v.split(",")) != len(current) for v in raw):  # before zip, which would drop extra numbers
            raise SweepError(f"each value needs {len(current)} numbers (values separated by ';')", name, field)
        values = tuple(
            tuple(_convert(field, e, t, name) for e, t in zip(current, v.split(","), strict=True)) for v in raw
        )
    else:
        example = current if current is not None else ""
        raw = split_values(values_text)
        values = tuple(_convert(field, example, v, name) for v in raw)
    if not 1 <= len(values) <= MAX_VALUES:
        raise SweepError(f"{len(values)} values; give 1 to {MAX_VALUES}", name, field)
    axis = Axis(name, field, values, tuple(v.strip() for v in raw))
    _refuse_repeats(axis)
    for i in range(len(values)):
        try:
            axis.apply(base, i).validate()
        except ParamsError as exc:
            reason = str(exc).split(": ", 1)[-1]
            if axis.index is not None:  # "value 2 must be ...": the element is the axis itself
                reason = reason.removeprefix(f"value {axis.index + 1} ")
            raise SweepError(reason, name, field, axis.shown(i)) from None
    return axis


def _refuse_repeats(axis: Axis) -> None:
    """A value listed twice (as typed, or once parsed: 0.3 and 0.30, 1 and 01) would make two tiles
    alike that the heatmap merges and the tile picker cannot tell apart; so would two clips or
    checkpoints shown by one name (takes/1/rain.wav and takes/2/rain.wav: rain.wav twice)."""
    first: dict[Any, int] = {}
    named: dict[str, int] = {}
    for i, value in enumerate(axis.values):
        if value in first:
            a, b = axis.shown(first[value]), axis.shown(i)
            said = f"{a} is listed twice" if a == b else f"{a} and {b} are the same value"
            raise SweepError(f"{said}: list each value once", axis.name, axis.field)
        first[value] = i
        if (name := axis.shown(i)) in named:
            raise SweepError(
                f"{axis.raw[named[name]]} and {axis.raw[i]} are both shown as {name}: the grids, scores.csv "
                "and the heatmap could not tell them apart; give them different names",
                axis.name, axis.field,
            )  # fmt: skip
        named[name] = i


def check_axes(axes: list[Axis]) -> None:
    """Two axes on one setting, or too many tiles: said before anything runs."""
    seen: dict[str, str] = {}
    for a in axes:
        key = a.base_field if a.index is None else a.field
        clash = seen.get(key) or seen.get(a.base_field)
        if clash is None and a.index is None:  # a whole tuple after one of its elements
            clash = next((n for k, n in seen.items() if k.startswith(a.base_field + ".")), None)
        if clash:
            raise SweepError("already swept by", a.name, a.field, clash=clash)
        seen[key] = a.name
    tiles = 1
    for a in axes:
        tiles *= len(a.values)
    if tiles > MAX_TILES:
        raise SweepError(f"{tiles} tiles: a sweep makes at most {MAX_TILES}; use fewer values")


__all__ = ["MAX_TILES", "MAX_VALUES", "Axis", "SweepError", "check_axes", "parse_axis"]
