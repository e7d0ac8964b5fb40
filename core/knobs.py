"""What a knob is: one declaration per `GenerationParams` field, read by every front end.

Each field carries a `Knob` in its metadata (`dataclasses.field(metadata={"knob": Knob(...)})`, in
the spirit of a ComfyUI node's input schema): its label, help text, validation range, the studio
slider's range and step, its CLI flag. `GenerationParams.validate()`, the CLI's flags and `--help`,
and the studio's sliders are generated from it, so a range or a help text is written once.

Two ranges, on purpose: `range` is what `validate()` accepts (a recalled PNG or a CLI flag may go
far); `slider` is the span a slider offers (where the useful values are). `slider` lies inside
`range` (tested for every knob).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import UserError

KNOB = "knob"  # the field-metadata key that holds a field's Knob
MULTIPLIER_MARK = " (×)"  # ends the label of a knob that multiplies (a weight, a gate scale, the audio strength)


class ParamsError(UserError, ValueError):
    """A parameter is out of range or malformed. `field` names it, so a UI can point at it; of a
    tuple (a stage's steps, a level's weight) `element` says which value, from 1; `problem` is the
    message without either, for a form that shows that one value under its own label."""

    def __init__(self, field_name: str, message: str, element: int | None = None):
        super().__init__(f"{field_name}: " + (f"value {element} " if element is not None else "") + message)
        self.field = field_name
        self.element = element
        self.problem = message


class Choice(NamedTuple):
    """One allowed value of a text knob, with the name people see and what it does."""

    value: str
    label: str
    about: str = ""


@dataclass(frozen=True)
class Knob:
    """How one GenerationParams field is checked, shown and typed."""

    label: str  # short, with its unit: "Guidance (CFG)", "Norm target"
    help: str = ""  # one or two sentences in the user's words: slider tooltip and CLI --help
    range: tuple[float, float] | None = None  # inclusive validation range, of the value or of each element
    slider: tuple[float, float] | None = None  # the studio slider's span; None: no slider (or a dynamic one)
    step: float | tuple[float, ...] | None = None  # widget step; a tuple gives one per element
    fmt: str | None = None  # printf format of the widget's value
    unit: str = ""
    flag: str | None = None  # the CLI flag
    metavar: str | None = None
    choices: tuple[Choice, ...] = ()  # text knobs with a fixed set of values
    max_len: int | None = None  # text knobs: the longest accepted value
    empty_ok: bool = True  # text knobs: may the text be empty (or only spaces)?
    optional: bool = False  # None is a valid value (no audio, no checkpoint)
    parts: tuple[str, ...] = ()  # names of a tuple field's elements (foreground/background/ambience, ...)
    part_help: tuple[str, ...] = ()  # one help text per element, where the elements differ

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def choice_label(self, value: str) -> str:
        return next((c.label for c in self.choices if c.value == value), value)

    def choice_about(self, value: str) -> str:
        return next((c.about for c in self.choices if c.value == value), "")

    def help_for(self, part: int | str | None = None) -> str:
        """The help of one element (by index or part name), or of the whole knob (part None).

        `part_help` gives each element its own text; otherwise "{part}" in `help` is the element's
        name, or all of them ("down / mid / up") for the whole knob."""
        index = self.parts.index(part) if isinstance(part, str) and part in self.parts else part
        if isinstance(index, int) and index < len(self.part_help):
            return self.part_help[index]
        name = self.parts[index] if isinstance(index, int) and index < len(self.parts) else " / ".join(self.parts)
        return self.help.replace("{part}", name)

    def step_for(self, part: int | None = None) -> float | None:
        if isinstance(self.step, tuple):
            return self.step[part or 0]
        return self.step


def knob(default: Any, **spec: Any) -> Any:
    """A dataclass field with `default` and its Knob (see `Knob` for the keywords)."""
    return dataclasses.field(default=default, metadata={KNOB: Knob(**spec)})


def knob_of(field: dataclasses.Field) -> Knob:
    try:
        return field.metadata[KNOB]
    except KeyError:
        raise TypeError(f"field {field.name} declares no Knob") from None


# -- checks, generated from a field's Knob and its default's type ----------------------------------
def check_field(field: dataclasses.Field, value: Any) -> None:
    """Raise ParamsError when `value` does not fit the field's type, range, choices or length."""
    name, spec, default = field.name, knob_of(field), field.default
    if value is None and spec.optional:
        return
    if spec.choices:
        if value not in spec.values:
            raise ParamsError(name, f"must be one of {', '.join(spec.values)} (got {value!r})")
    elif isinstance(default, str) or (default is None and spec.optional):
        check_text(name, value, spec.max_len or 0, spec.empty_ok)
    elif isinstance(default, bool):
        raise TypeError(f"{name}: boolean knobs are not supported")
    elif isinstance(default, int):
        check_int(name, value, *_bounds(spec))
    elif isinstance(default, float):
        check_float(name, value, *_bounds(spec))
    elif isinstance(default, tuple) and spec.range is not None:
        values = check_tuple(name, value, len(default))
        kind = check_int if isinstance(default[0], int) else check_float
        for i, v in enumerate(values):
            kind(name, v, *_bounds(spec), element=i + 1)
    # other tuples (e.g. the stem map) are checked by the field's own rule in params.py


def _bounds(spec: Knob) -> tuple[float, float]:
    if spec.range is None:
        raise TypeError(f"knob {spec.label!r} needs a range")
    return spec.range


def check_text(name: str, value: Any, max_len: int, empty_ok: bool = True) -> None:
    if not isinstance(value, str):
        raise ParamsError(name, f"expected text, got {type(value).__name__}")
    if not empty_ok and not value.strip():
        raise ParamsError(name, "must not be empty")
    if max_len and len(value) > max_len:
        raise ParamsError(name, f"is too long ({len(value)} > {max_len} characters)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParamsError(name, "contains bytes that are not valid text (UTF-8)") from None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """A bad value as a message shows it: a damaged file's whole number may have hundreds of digits."""
    if is_int(value) and value.bit_length() > 64:
        return f"a whole number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return repr(value)


def _shown_number(value: Any) -> str:
    """A bad value of a number knob as it was typed: 11, not 11.0 (a sweep's 'Foreground weight = 11:
    … (got 11.0)' said one number two ways); 10.0000001 in full, where :g would say 10."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return _shown(value)


def _finite(value: Any) -> bool:
    """A number, and not inf or nan. JSON's whole numbers have no bound: math.isfinite(10**400)
    raises OverflowError, though the number is finite (and out of every knob's range)."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return True


def check_int(name: str, value: Any, lo: float, hi: float, element: int | None = None) -> None:
    lo, hi = int(lo), int(hi)
    if element is not None:
        if not is_int(value) or not lo <= value <= hi:
            raise ParamsError(name, f"must be a whole number between {lo} and {hi} (got {_shown(value)})", element)
        return
    if not is_int(value):
        raise ParamsError(name, f"expected a whole number, got {_shown(value)}")
    if not lo <= value <= hi:
        raise ParamsError(name, f"must be between {lo} and {hi} (got {_shown(value)})")


def check_float(name: str, value: Any, lo: float, hi: float, element: int | None = None) -> None:
    # int vs float comparisons are exact in Python: 10**400 <= 30.0 is False, not an OverflowError
    if element is not None:
        if not _finite(value) or not lo <= value <= hi:
            raise ParamsError(name, f"must be a number between {lo:g} and {hi:g} (got {_shown_number(value)})", element)
        return
    if not _finite(value):
        raise ParamsError(name, f"expected a finite number, got {value!r}")
    if not lo <= value <= hi:
        shown = _shown(value) if is_int(value) else f"{value:g}"
        raise ParamsError(name, f"must be between {lo:g} and {hi:g} (got {shown})")


def check_tuple(name: str, value: Any, n: int) -> tuple:
    if not isinstance(value, tuple) or len(value) != n:
        raise ParamsError(name, f"expected {n} values, got {value!r}")
    return value


# -- the JSON form of a dataclass of knobs (GenerationParams, TrainConfig) ----------------------------
def _is_pairs(field: dataclasses.Field) -> bool:
    """A tuple of (key, value) pairs (the stem map, the projector sizes): a JSON object."""
    return str(field.type).replace(" ", "").startswith("tuple[tuple[")


def to_plain(obj: Any) -> dict[str, Any]:
    """Every field as a JSON value: tuples as lists, tuples of pairs as objects."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = dict(value) if _is_pairs(f) else list(value) if isinstance(value, tuple) else value
    return out


def from_plain(cls: type, data: Any, what: str) -> Any:
    """`cls` from `to_plain`'s form. Unknown keys are an error, missing ones default; `what` names
    one field in messages ("parameter", "training setting")."""
    if not isinstance(data, Mapping):
        raise ParamsError(what, f"expected a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ParamsError(unknown[0], f"unknown {what}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        field = known[name]
        if _is_pairs(field):
            if not isinstance(value, Mapping):
                raise ParamsError(name, "expected an object {name: value, ...}")
            value = tuple((str(k), v) for k, v in value.items())
        elif isinstance(field.default, tuple):
            if not isinstance(value, (list, tuple)):
                raise ParamsError(name, f"expected a list of {len(field.default)} values")
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


__all__ = [
    "Choice",
    "KNOB",
    "MULTIPLIER_MARK",
    "Knob",
    "ParamsError",
    "check_field",
    "from_plain",
    "knob",
    "knob_of",
    "to_plain",
]
