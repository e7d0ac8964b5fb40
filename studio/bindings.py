"""The session's widgets: parameter widget keys read and written through the binding table
(studio/binding_table.py), and every other widget key's default.

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
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from core.compare import COMPARE_MODES
from core.images import working_size
from core.models import SD15_HUB_ID
from core.params import MAX_SEED, GenerationParams
from studio.binding_table import BINDINGS, BY_KEY, FIELD_LABELS, LEVEL_SHORT, Binding, params_from_values, same_file
from studio.fast import FAST_DEFAULTS
from studio.limits import limits, linked_models
from studio.markdown import escape_md, escape_md_prose
from studio.session import env_models, session
from studio.uploads import uploads_dir

PERSIST = "session"  # every bound widget keeps its value when hidden or when another page shows


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
UI_RANGES: dict[str, tuple[int, int]] = {"ui_preview_steps": (1, 50), "ui_preview_side": (64, 1024)}  # number inputs
QUALITIES = ("preview", "full")  # Compare's and Sweep's quality: the sidebar's preview settings, or Generate's
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


def hold_span(key: str, span: tuple[Any, Any]) -> None:
    """Before a slider is drawn with `span`: Streamlit makes a slider whose span changed a new widget
    (min and max are part of its identity), which starts from the value of the run before, not the one
    just chosen. A recalled 120 steps (the span widened to 120) moved to 80 came back as 120 on the
    span ending at 100: StreamlitValueAboveMaxError. The chosen value is handed to the new widget."""
    drawn = session().slider_spans
    if drawn.get(key, span) != span:
        set_value(key, value(key))
    drawn[key] = span


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
    if spec in ("sd15", SD15_HUB_ID):
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
    session().window_for = params.audio_sha256  # a recalled window start belongs to the recalled clip
    for key, v in widget_values(params).items():
        _ss()[key] = v


def randomise_seed() -> None:
    set_value("w_seed", random.randint(0, MAX_SEED))


KEPT_ON_RESET = frozenset({"prompt", "negative_prompt", "seed", "window_start", "mode", "checkpoint"})


def reset_knobs() -> None:
    """Button callback: every knob back to where a new session starts; the prompt, the seed and
    the clip with its window stay (the user's material, not settings), and so do the sidebar's
    conditioning mode and checkpoint (which model runs, not how it is steered)."""
    fresh = limits().starting_params(session().params.models)
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
        fresh = params == limits().starting_params(params.models) and samples
        return {AUDIO_SOURCE_KEY: "sample" if fresh else "none", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: ""}
    for name, p in samples.items():
        if same_file(path, p):
            return {AUDIO_SOURCE_KEY: "sample", SAMPLE_KEY: name, AUDIO_PATH_KEY: ""}
    uploaded = Path(path).expanduser().resolve().is_relative_to(uploads_dir().resolve())
    if uploaded or not audio_dirs():  # one of this server's uploads; or (no file read by path) one to upload again
        session().clips["upload"] = path if uploaded else None
        session().clip_errors.pop("upload", None)
        return {AUDIO_SOURCE_KEY: "upload", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: ""}
    return {AUDIO_SOURCE_KEY: "path", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: path}


# ================================================================================================
# Reading the widgets back
# ================================================================================================
@dataclass
class AudioChoice:
    """The audio the widgets point at: a path, or None with `problem` saying why there is none (a
    message ready for Markdown: the file names it quotes are escaped)."""

    path: str | None
    problem: str | None = None
    label: str = ""
    given: bool = False  # a clip was given, usable or not (a refused upload has no path): vs none yet

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
            return AudioChoice(str(samples[name]), label=f"sample “{name}”", given=True)
        return AudioChoice(None, "No sample clips were found in assets/samples: run `python assets/make_samples.py`.")
    if source in ("upload", "record"):
        path = session().clips.get(source)
        refused = session().clip_errors.get(source)  # an upload that did not decode: say why, not "upload first"
        if source == "upload":
            return AudioChoice(
                path,
                None if path else refused or "Upload a clip first, or pick a sample.",
                label=Path(path).name if path else "",
                given=bool(path or refused),
            )
        return AudioChoice(
            path,
            None if path else refused or "Record a clip with the microphone first, or pick a sample.",
            label="your recording",
            given=bool(path or refused),
        )
    if source == "path":  # the server's files: only in the operator's folders (studio/file_access.py)
        typed = str(ss.get(AUDIO_PATH_KEY) or "").strip()
        unlocated = session().unlocated_clip
        if unlocated is not None and typed == unlocated[0]:  # not "the file of that name in the first folder"
            return AudioChoice(None, f"**{escape_md(typed)}**, the recalled image's clip, is not on this server: "
                               "type where it is (its whole path), or upload it.", given=True)  # fmt: skip
        path, refused = allowed_audio_path(typed)
        return AudioChoice(
            path,
            escape_md_prose(refused)
            if refused
            else (None if path else "Type the path of an audio file on this machine."),
            label=Path(typed).name if path else "",
            given=bool(typed),
        )
    return AudioChoice(None, label="no audio")


def _read_back() -> GenerationParams:
    """The widgets as params. A path typed for a recalled clip that was not found here, under its
    name, keeps the image's SHA-256: the engine refuses another recording of that name."""
    path, unlocated = audio_choice().path, session().unlocated_clip
    params = params_from_values(_ss(), session().params, path)
    if unlocated and path and _ss().get(AUDIO_SOURCE_KEY) == "path" and Path(path).name == unlocated[0]:
        params = params.replace(audio_sha256=unlocated[1])
    return params


def shown_params() -> GenerationParams:
    """What the widgets show, read back without making it canonical (studio/knob_memory.py)."""
    return _read_back()


def current_params(models: str | None = None) -> GenerationParams:
    """The widgets read back into a GenerationParams (not validated), stored as the canonical copy."""
    from studio.file_access import checkpoint_choice

    ensure_widgets()
    params = _read_back()
    if params.checkpoint:  # a folder outside the runs root (and the operator's) is never opened; a run, its final/
        params = params.replace(checkpoint=checkpoint_choice(params.checkpoint).folder)
    if models:
        params = params.replace(models=models)
    session().params = params
    return params


def ui_number(key: str) -> int:
    """A UI number box's value within its range (UI_RANGES): a number typed outside it is said under
    the box (widgets.knobs.number_box) and the nearest allowed one is used meanwhile."""
    lo, hi = UI_RANGES[key]
    try:
        return max(lo, min(hi, int(value(key, UI_DEFAULTS[key]))))
    except (TypeError, ValueError, OverflowError):
        return UI_DEFAULTS[key]


def preview_params(params: GenerationParams) -> GenerationParams:
    """Preview quality: fewer steps and a smaller image (UI settings), same everything else."""
    steps = min(params.steps, ui_number("ui_preview_steps"))
    side = ui_number("ui_preview_side")
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
    "LEVEL_SHORT",
    "PERSIST",
    "QUALITIES",
    "SAMPLE_KEY",
    "UI_DEFAULTS",
    "UI_RANGES",
    "audio_choice",
    "current_params",
    "ensure_widgets",
    "params_from_values",
    "preview_params",
    "push",
    "randomise_seed",
    "reset_knobs",
    "set_value",
    "shown_params",
    "ui_number",
    "value",
    "widget_values",
    "hold_span",
]
