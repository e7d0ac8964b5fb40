"""The binding table: widget key <-> GenerationParams field, and every other widget key's default.

One table (`BINDINGS`) maps every parameter widget key to a GenerationParams field (an element of
a tuple field, or a stem of the stem map). Both directions go through it: `push()` writes params
into the widget keys (first visit, recall) and `current_params()` reads them back. Widgets never get
a `value=`: their defaults are what `push(GenerationParams())` wrote, so the defaults live only in
core/params.py; labels, help texts, ranges and steps come from each field's Knob (widgets/knobs.py).

Every bound widget is drawn with `persist_state="session"` (Streamlit 1.67): its value survives page
switches and hiding; `ensure_widgets()` fills a key only when the session never had it. Only this
module (widget keys) and studio/session.py (the one Session) touch `st.session_state`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from core.compare import COMPARE_MODES
from core.images import working_size
from core.models import starting_params
from core.params import BLOCK_GROUPS, LEVELS, MAX_SEED, STEMS, TOKENS, GenerationParams, knobs
from studio.fast import FAST_DEFAULTS
from studio.limits import linked_models
from studio.session import env_models, session
from studio.uploads import uploads_dir

PERSIST = "session"  # every bound widget keeps its value when hidden or when another page shows


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
    *(Binding(f"w_gate_{g}", "gate_scales", f"{g.capitalize()} (×)", index=i) for i, g in enumerate(BLOCK_GROUPS)),
    _bind("w_norm_target", "norm_target"),
    _bind("w_norm_measure", "norm_measure", **_TEXT),
    _bind("w_split", "split", to_widget=_split_to_widget, from_widget=_split_from_widget),
    *(
        Binding(f"w_weight_{LEVEL_SHORT[lv]}", "level_weights", f"{lv.capitalize()} weight (×)", index=i)
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

# -- the audio picker (audio_path is chosen, not typed into one widget) ---------------------------
AUDIO_SOURCE_KEY = "w_audio_source"
SAMPLE_KEY = "w_sample"
AUDIO_PATH_KEY = "w_audio_path"
AUDIO_SOURCES: dict[str, str] = {
    "sample": "Sample clip",
    "upload": "Upload",
    "record": "Record",
    "path": "File path",
    "none": "No audio",
}
PREFERRED_SAMPLE = "thunder"

# -- widgets that are not generation parameters (UI settings, page controls) ----------------------
UI_DEFAULTS: dict[str, Any] = {
    "ui_live_preview": True,
    "ui_preview_steps": 10,
    "ui_preview_side": 256,  # longest side of the preview image, px (128 on CPU: see ensure_widgets)
    "ui_new_seed": False,
    "cmp_modes": list(COMPARE_MODES),
    "cmp_without": True,
    "cmp_alone": True,
    "cmp_quality": "preview",
    "cmp_wavs": False,
    **FAST_DEFAULTS,  # the sidebar's fast-path toggles (studio/fast.py)
}
MODELS_CHOICE_KEY = "w_models_choice"
MODELS_CUSTOM_KEY = "w_models_custom"
MODELS_QUERY = "models"  # the URL's ?models=...: the sidebar writes it, a reload reads it back


def _ss() -> MutableMapping[str, Any]:
    return st.session_state


def value(key: str, default: Any = None) -> Any:
    """A widget's current value (what Streamlit holds under its key)."""
    return _ss().get(key, default)


def set_value(key: str, new: Any) -> None:
    """Set a widget's value: from a callback, or before the widget is drawn in this run."""
    _ss()[key] = new


def ensure_widgets(device_hint: str | None = None) -> None:
    """Give every widget key a value on the session's first run (and after a key is deleted), from
    the canonical params; callbacks call it too, since they run before app.py."""
    ss, params = _ss(), session().params
    for b in BINDINGS:
        if b.key not in ss:
            ss[b.key] = b.value_of(params)
    if AUDIO_SOURCE_KEY not in ss or SAMPLE_KEY not in ss or AUDIO_PATH_KEY not in ss:
        for key, v in _audio_widgets(params).items():
            ss.setdefault(key, v)
    if device_hint == "cpu":
        ss.setdefault("ui_preview_side", 128)  # CPU: a smaller live preview keeps it live
    for key, v in UI_DEFAULTS.items():
        ss.setdefault(key, v)
    if MODELS_CHOICE_KEY not in ss:  # a `?models=` link counts only for models this studio offers
        spec, session().models_note = linked_models(st.query_params.get(MODELS_QUERY), env_models())
        ss[MODELS_CHOICE_KEY], ss[MODELS_CUSTOM_KEY] = _models_choice(spec)


def _models_choice(spec: str) -> tuple[str, str]:
    if spec == "tiny":
        return "tiny", ""
    if spec in ("sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5"):
        return "sd15", ""
    return "custom", spec


def set_models(spec: str) -> None:
    """Point the sidebar's model choice at `spec` (from a callback, before the sidebar is drawn)."""
    _ss()[MODELS_CHOICE_KEY], _ss()[MODELS_CUSTOM_KEY] = _models_choice(spec)


def widget_values(params: GenerationParams) -> dict[str, Any]:
    """Every bound widget key -> the value that shows `params` (pure: no Streamlit)."""
    values = {b.key: b.value_of(params) for b in BINDINGS}
    values.update(_audio_widgets(params))
    return values


def push(params: GenerationParams) -> None:
    """Write params into every widget key (and make them canonical). Call from callbacks or before
    the widgets are drawn in this run: Streamlit forbids changing a drawn widget's value."""
    session().params = params
    for key, v in widget_values(params).items():
        _ss()[key] = v


def randomise_seed() -> None:
    set_value("w_seed", random.randint(0, MAX_SEED))


KEPT_ON_RESET = frozenset({"prompt", "negative_prompt", "seed", "window_start", "mode", "checkpoint"})


def reset_knobs() -> None:
    """Button callback: every knob back to where a new session starts; the prompt, the seed and
    the clip with its window stay (the user's material, not settings), and so do the sidebar's
    conditioning mode and checkpoint (which model runs, not how it is steered)."""
    fresh = starting_params(session().params.models)
    for b in BINDINGS:
        if b.field not in KEPT_ON_RESET:
            _ss()[b.key] = b.value_of(fresh)


def _audio_widgets(params: GenerationParams) -> dict[str, Any]:
    from core.samples import sample_paths
    from studio.file_access import audio_dirs

    samples = sample_paths()
    default_sample = PREFERRED_SAMPLE if PREFERRED_SAMPLE in samples else next(iter(samples), "")
    path = params.audio_path
    if path is None:
        # A fresh session starts on a sample clip so the first render has audio.
        fresh = params == starting_params(params.models) and samples
        return {AUDIO_SOURCE_KEY: "sample" if fresh else "none", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: ""}
    for name, p in samples.items():
        if _same_file(path, p):
            return {AUDIO_SOURCE_KEY: "sample", SAMPLE_KEY: name, AUDIO_PATH_KEY: ""}
    uploaded = Path(path).expanduser().resolve().is_relative_to(uploads_dir().resolve())
    if uploaded or not audio_dirs():  # one of this server's uploads; or (no file read by path) one to upload again
        session().clips["upload"] = path if uploaded else None
        session().clip_errors.pop("upload", None)
        return {AUDIO_SOURCE_KEY: "upload", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: ""}
    return {AUDIO_SOURCE_KEY: "path", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: path}


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).resolve()
    except OSError:
        return False


# ================================================================================================
# Reading the widgets back
# ================================================================================================
@dataclass
class AudioChoice:
    """The audio the widgets point at: a path, or None with `problem` saying why there is none."""

    path: str | None
    problem: str | None = None
    label: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def audio_choice() -> AudioChoice:
    from core.samples import sample_paths
    from studio.file_access import allowed_audio_path

    ss = _ss()
    ensure_widgets()  # callbacks run before app.py: keys dropped on a page switch must come back first
    source = ss.get(AUDIO_SOURCE_KEY, "none")
    if source == "sample":
        samples = sample_paths()
        name = ss.get(SAMPLE_KEY)
        if name in samples:
            return AudioChoice(str(samples[name]), label=f"sample “{name}”")
        return AudioChoice(None, "No sample clips were found in assets/samples: run `python assets/make_samples.py`.")
    if source in ("upload", "record"):
        path = session().clips.get(source)
        refused = session().clip_errors.get(source)  # an upload that did not decode: say why, not "upload first"
        if source == "upload":
            return AudioChoice(
                path,
                None if path else refused or "Upload a clip first, or pick a sample.",
                label=Path(path).name if path else "",
            )
        return AudioChoice(
            path,
            None if path else refused or "Record a clip with the microphone first, or pick a sample.",
            label="your recording",
        )
    if source == "path":  # the server's files: only in the operator's folders (studio/file_access.py)
        typed = _str(ss.get(AUDIO_PATH_KEY)).strip()
        path, refused = allowed_audio_path(typed)
        return AudioChoice(
            path,
            refused or (None if path else "Type the path of an audio file on this machine."),
            label=Path(typed).name if path else "",
        )
    return AudioChoice(None, label="no audio")


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
    if base.audio_sha256 and (audio_path is None or not base.audio_path or not _same_file(audio_path, base.audio_path)):
        changes["audio_sha256"] = None
    if base.checkpoint_sha256 and changes.get("checkpoint", base.checkpoint) != base.checkpoint:
        changes["checkpoint_sha256"] = None  # another checkpoint chosen: its own weights, its own hash
    return base.replace(**changes)


def current_params(models: str | None = None) -> GenerationParams:
    """The widgets read back into a GenerationParams (not validated), stored as the canonical copy."""
    ensure_widgets()
    params = params_from_values(_ss(), session().params, audio_choice().path)
    if models:
        params = params.replace(models=models)
    session().params = params
    return params


def preview_params(params: GenerationParams) -> GenerationParams:
    """Preview quality: fewer steps and a smaller image (UI settings), same everything else."""
    steps = max(1, min(params.steps, int(value("ui_preview_steps", UI_DEFAULTS["ui_preview_steps"]))))
    side = int(value("ui_preview_side", UI_DEFAULTS["ui_preview_side"]))
    width, height = working_size(params.width, params.height, side)  # as the Edit page sizes a photo
    return params.replace(steps=steps, width=width, height=height)


__all__ = [
    "AUDIO_PATH_KEY",
    "MODELS_QUERY",
    "AUDIO_SOURCES",
    "AUDIO_SOURCE_KEY",
    "AudioChoice",
    "BINDINGS",
    "BY_KEY",
    "Binding",
    "FIELD_LABELS",
    "PERSIST",
    "SAMPLE_KEY",
    "UI_DEFAULTS",
    "audio_choice",
    "current_params",
    "ensure_widgets",
    "params_from_values",
    "preview_params",
    "push",
    "randomise_seed",
    "reset_knobs",
    "set_value",
    "value",
    "widget_values",
]
