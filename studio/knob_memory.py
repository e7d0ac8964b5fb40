"""The knobs a gallery last showed, kept with it: a reload (or the bookmark, days later) opens with
the settings that were on screen, not the defaults.

A reload is a new Streamlit session, and widget values live in the old one. So every run writes
what the knobs show (the generation params, the sidebar's preview and fast-path settings, Compare's
choices, the edit knobs, the sweep's axes) into the gallery's folder when it changed
(studio/gallery_store.py, atomically), and a new session of that gallery puts them back on its
first run, before a reload's running job is taken over (a render's own settings then win,
studio/janitor.py). It is written at the start of a run, from the values the browser sent: a run
may end in `st.stop()` or `st.rerun()`, after which Streamlit refuses session state reads, and a
fragment's rerun (Generate's sliders) calls `remember` itself. A write puts only what this session
changed onto the file, so two tabs of one gallery keep each other's knobs.

Restoring is a recall without its messages: the values are checked as a PNG's are (`validate`,
the server's limits), the models stay those of the link, and the clip is the file the settings
named; an upload gone meanwhile is said by the Generate page, as for a recall. A value a widget
would refuse (a damaged or hand-edited file) is skipped, never an exception on the page.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.compare import COMPARE_MODES
from core.knobs import ParamsError
from core.params import GenerationParams
from studio import bindings, gallery_store

if TYPE_CHECKING:
    from studio.session import Session

VERSION = 1
_SKIP = object()  # a remembered value no widget would take


MAX_TEXT = 2000  # a sweep axis's values, as typed: longer is no list anyone typed


def _defaults() -> dict[str, Any]:
    """The widget keys kept besides the params, with their defaults: settings (the sidebar's,
    Compare's, the edit knobs, the sweep's axes), never a page's material (a photo, a mask,
    strokes) or its buttons."""
    from studio import editing, sweeping

    edit = {k: editing.STARTING[k] for k in (editing.MODE_KEY, *editing.EDIT_KEYS)}
    return {**bindings.UI_DEFAULTS, **edit, **sweeping.STARTING}


def remembered_keys() -> tuple[str, ...]:
    return tuple(_defaults())


def snapshot() -> dict[str, Any]:
    """What the knobs show now (the widgets' values, not last run's canonical params), JSON-ready."""
    kept = {key: bindings.value(key) for key in remembered_keys()}
    params = bindings.shown_params()
    return {
        "version": VERSION,
        "audio_source": bindings.value(bindings.AUDIO_SOURCE_KEY),  # "none" is no clip, and so is "upload" before one
        "params": params.to_dict(),
        "widgets": {k: list(v) if isinstance(v, tuple) else v for k, v in kept.items() if v is not None},
    }


def remember(current: Session) -> None:
    """Every run (and fragment run): write the snapshot when it changed since this session last
    wrote it (a slider release writes once; a rerun that changed nothing writes nothing). The first
    run's is what the page opened with (the defaults, or what `restore` brought back): nothing to
    write, so a visit that changes nothing leaves no file."""
    if current.gallery_code is None or bindings.value("w_seed") is None:
        return  # no gallery yet, or the widgets never got their values (the run stopped early)
    shown = snapshot()
    text = json.dumps(shown, default=str)  # field order (a stem map is ordered); never a TypeError
    if current.knobs_kept is None:
        current.knobs_kept = text
    elif text != current.knobs_kept:
        before = json.loads(current.knobs_kept)

        def onto(kept: dict[str, Any] | None) -> dict[str, Any]:  # read and written under the gallery's lock
            return changes_onto(kept, before, json.loads(text)) if kept else shown

        if gallery_store.update_knobs(current.gallery_code, onto):
            current.knobs_kept = text
            gallery_store.keep_clip(current.gallery_code, bindings.audio_choice().path)  # an upload outlives its tab


def changes_onto(kept: dict[str, Any], before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The file as another tab of the gallery may have left it, with only what this session changed
    since it last wrote (`before` → `now`) put on top: two tabs working different knobs both keep
    theirs; the same knob, the later change. A file of another version is replaced."""
    if kept.get("version") != now.get("version"):
        return now
    merged = {**kept, "version": now["version"]}
    if now.get("audio_source") != before.get("audio_source"):
        merged["audio_source"] = now.get("audio_source")
    for section in ("params", "widgets"):
        mine, was = now.get(section) or {}, before.get(section) or {}
        theirs = kept.get(section)
        merged[section] = dict(theirs) if isinstance(theirs, dict) else dict(mine)
        for key in mine.keys() | was.keys():
            if mine.get(key, _SKIP) != was.get(key, _SKIP):
                if key in mine:
                    merged[section][key] = mine[key]
                else:
                    merged[section].pop(key, None)
    return merged


def restore(current: Session) -> bool:
    """A new session's first run: the gallery's remembered knobs back into the widgets (before they
    are drawn). False when nothing usable was kept."""
    from studio.janitor import claim
    from studio.limits import limits

    data = gallery_store.load_knobs(current.gallery_code) if current.gallery_code else None
    if data is None or data.get("version") != VERSION:
        return False
    try:
        params = GenerationParams.from_dict(data.get("params")).validate()
    except (ParamsError, TypeError, ValueError):
        return False
    params, _ = limits().clamp(params.replace(models=current.params.models))  # the link picks the models
    if params.audio_path and (kept := gallery_store.kept_clip(current.gallery_code, params.audio_path)):
        params = params.replace(audio_path=str(kept))  # the gallery's copy: the upload may go any moment
    bindings.push(params)
    if params.audio_path:
        claim(params.audio_path)  # an upload: kept while this session may use it
    elif isinstance(source := data.get("audio_source"), str) and source in bindings.AUDIO_SOURCES:
        bindings.set_value(bindings.AUDIO_SOURCE_KEY, source)  # no clip: which source had none (not the sample)
    widgets = data.get("widgets")
    for key in remembered_keys():
        accepted = _accepted(key, widgets.get(key, _SKIP) if isinstance(widgets, dict) else _SKIP)
        if accepted is not _SKIP:
            bindings.set_value(key, accepted)
    return True


def _accepted(key: str, value: Any) -> Any:
    """`value` as the widget of `key` takes it, or _SKIP: the default's type, a number input's
    range, a choice among the widget's options, a slider's span."""
    from studio import sweeping
    from studio.editing import EDIT_KEYS, MODE_KEY, edit_knobs

    default = _defaults().get(key)
    if value is _SKIP or default is None:
        return _SKIP
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _SKIP
    if key == "cmp_modes":
        ok = isinstance(value, list) and all(isinstance(m, str) and m in COMPARE_MODES for m in value)
        return [m for m in COMPARE_MODES if m in value] if ok else _SKIP
    options = {
        "cmp_quality": bindings.QUALITIES,
        "sweep_quality": bindings.QUALITIES,
        MODE_KEY: edit_knobs()["edit_mode"].values,
        "sweep_score": sweeping.scores_offered(),
        **{sweeping.field_key(axis): (sweeping.NONE, *sweeping.SWEEPABLE) for axis in sweeping.AXES},
    }
    if key in options:
        return value if isinstance(value, str) and value in options[key] else _SKIP
    if isinstance(default, str):
        return value if isinstance(value, str) and len(value) <= MAX_TEXT else _SKIP
    span = bindings.UI_RANGES.get(key) or (edit_knobs()[EDIT_KEYS[key]].slider if key in EDIT_KEYS else None)
    if span is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return _SKIP
    if not span[0] <= value <= span[1]:
        return _SKIP
    return type(default)(value)


__all__ = ["remember", "remembered_keys", "restore", "snapshot"]
