"""Per-session state: the current GenerationParams, the widget keys bound to it, and the history.

One table (`BINDINGS`) maps every parameter widget key to a GenerationParams field. Both directions
go through it: `push()` writes params into the widget keys (first visit, recall) and
`current_params()` reads the widgets back into a GenerationParams. Widgets never get a `value=`:
their defaults are whatever `push(GenerationParams())` wrote, so the defaults live only in
core/params.py.

Every bound widget is drawn with `persist_state="session"` (Streamlit 1.67), so its value survives
page switches and conditional hiding; `ensure_widgets()` fills a key only when the session has
never had it (the first visit). Fields without a widget (the audio hash of a recalled PNG, the
models) live in `st.session_state["params"]`, which `current_params()` keeps up to date.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from core.params import BLOCK_GROUPS, LEVELS, STEMS, TOKENS, GenerationParams, ParamsError

MODELS_ENV = "CLAP2DIFF_MODELS"
# Every bound widget keeps its value when hidden or when another page shows (Streamlit 1.67's
# persist_state); `ensure_widgets` only fills the first visit from GenerationParams.
PERSIST = "session"
HISTORY_LIMIT = 60  # renders kept per session (PNG bytes in memory); the oldest go first


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
    label: str
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


_LEVEL_SHORT = {"foreground": "fg", "background": "bg", "ambience": "amb"}

BINDINGS: tuple[Binding, ...] = (
    Binding("w_prompt", "prompt", "Prompt", to_widget=_str, from_widget=_str),
    Binding("w_negative", "negative_prompt", "Negative prompt", to_widget=_str, from_widget=_str),
    Binding("w_seed", "seed", "Seed", to_widget=_int, from_widget=_int),
    Binding("w_steps", "steps", "Steps", to_widget=_int, from_widget=_int),
    Binding("w_guidance", "guidance", "Guidance (CFG)"),
    Binding("w_width", "width", "Width (px)", to_widget=_int, from_widget=_int),
    Binding("w_height", "height", "Height (px)", to_widget=_int, from_widget=_int),
    Binding("w_scheduler", "scheduler", "Sampler", to_widget=_str, from_widget=_str),
    Binding("w_window_start", "window_start", "Window start (s)"),
    Binding("w_mode", "mode", "Conditioning mode", to_widget=_str, from_widget=_str),
    Binding("w_checkpoint", "checkpoint", "Checkpoint folder", to_widget=_str, from_widget=_opt_str),
    Binding("w_top_k", "top_k", "Sound events heard", to_widget=_int, from_widget=_int),
    Binding("w_temperature", "temperature", "Label temperature"),
    Binding("w_audio_strength", "audio_strength", "Audio strength (×)"),
    *(
        Binding(f"w_gate_{g}", "gate_scales", f"Gate scale, {g} blocks (×)", index=i)
        for i, g in enumerate(BLOCK_GROUPS)
    ),
    Binding("w_norm_target", "norm_target", "Norm target"),
    Binding("w_norm_measure", "norm_measure", "Norm measure", to_widget=_str, from_widget=_str),
    Binding(
        "w_split", "split", "Token split (fg | bg | amb)", to_widget=_split_to_widget, from_widget=_split_from_widget
    ),
    *(
        Binding(f"w_weight_{_LEVEL_SHORT[lv]}", "level_weights", f"{lv.capitalize()} weight (×)", index=i)
        for i, lv in enumerate(LEVELS)
    ),
    Binding("w_switch", "switch_points", "Switch points (fraction of steps)", to_widget=_pair, from_widget=_pair),
    Binding("w_switch_style", "switch_style", "Switch style", to_widget=_str, from_widget=_str),
    Binding("w_crossfade", "crossfade", "Cross-fade width (fraction of steps)"),
    Binding("w_sources", "sources", "Level sources", to_widget=_str, from_widget=_str),
    Binding("w_crossover_low", "crossovers", "Low | mid crossover (Hz)", index=0),
    Binding("w_crossover_high", "crossovers", "Mid | high crossover (Hz)", index=1),
    *(
        Binding(f"w_stem_{s}", "stem_map", f"{s.capitalize()} stem → level", index=s, to_widget=_str, from_widget=_str)
        for s in STEMS
    ),
)
BY_KEY: dict[str, Binding] = {b.key: b for b in BINDINGS}

FIELD_LABELS: dict[str, str] = {}
for _b in BINDINGS:
    FIELD_LABELS.setdefault(_b.field, _b.label.split(",")[0] if _b.index is not None else _b.label)
FIELD_LABELS.update(
    {
        "level_weights": "Level weights",
        "gate_scales": "Gate scales",
        "crossovers": "Crossovers",
        "stem_map": "Stem → level map",
        "audio_path": "Audio",
        "audio_sha256": "Audio",
        "models": "Models",
        "params": "Parameters",
    }
)

# -- audio picker keys (audio_path is chosen, not typed into one widget) --------------------------
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

# -- UI-only settings (not generation parameters, so not in GenerationParams) --------------------
UI_DEFAULTS: dict[str, Any] = {
    "ui_live_preview": True,
    "ui_preview_steps": 10,
    "ui_preview_side": 256,  # longest side of the preview image, px (128 on CPU: see init())
    "ui_new_seed": False,
}


# ================================================================================================
# Session set-up
# ================================================================================================
def _ss() -> MutableMapping[str, Any]:
    return st.session_state


def env_models() -> str:
    return (os.environ.get(MODELS_ENV) or "sd15").strip() or "sd15"


def init(device_hint: str | None = None) -> None:
    """Create the session's keys once; then make sure every widget key has a value."""
    ss = _ss()
    if "params" not in ss:
        ss["params"] = GenerationParams(models=env_models())
        ss["history"] = []
        ss["ids"] = itertools.count(1)
        if device_hint == "cpu":
            ss.setdefault("ui_preview_side", 128)  # CPU: a smaller live preview keeps it live
        for key, value in UI_DEFAULTS.items():
            ss.setdefault(key, value)
    ensure_widgets()


def ensure_widgets() -> None:
    """Give every widget key a value on the session's first run (and after a key is deleted), from
    the canonical params; callbacks call it too, since they run before app.py."""
    ss = _ss()
    if "params" not in ss:
        return
    params: GenerationParams = ss["params"]
    for b in BINDINGS:
        if b.key not in ss:
            ss[b.key] = b.value_of(params)
    if AUDIO_SOURCE_KEY not in ss or SAMPLE_KEY not in ss or AUDIO_PATH_KEY not in ss:
        for key, value in _audio_widgets(params).items():
            ss.setdefault(key, value)
    for key, value in UI_DEFAULTS.items():
        ss.setdefault(key, value)


def widget_values(params: GenerationParams) -> dict[str, Any]:
    """Every bound widget key -> the value that shows `params` (pure: no Streamlit)."""
    values = {b.key: b.value_of(params) for b in BINDINGS}
    values.update(_audio_widgets(params))
    return values


def push(params: GenerationParams) -> None:
    """Write params into every widget key (and make them canonical). Call from callbacks or before
    the widgets are drawn in this run: Streamlit forbids changing a drawn widget's value."""
    ss = _ss()
    ss["params"] = params
    for key, value in widget_values(params).items():
        ss[key] = value


def _audio_widgets(params: GenerationParams) -> dict[str, Any]:
    from core.samples import sample_paths

    samples = sample_paths()
    default_sample = PREFERRED_SAMPLE if PREFERRED_SAMPLE in samples else next(iter(samples), "")
    path = params.audio_path
    if path is None:
        # A fresh session starts on a sample clip so the first render has audio.
        fresh = params == GenerationParams(models=params.models) and samples
        return {AUDIO_SOURCE_KEY: "sample" if fresh else "none", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: ""}
    for name, p in samples.items():
        if _same_file(path, p):
            return {AUDIO_SOURCE_KEY: "sample", SAMPLE_KEY: name, AUDIO_PATH_KEY: ""}
    return {AUDIO_SOURCE_KEY: "path", SAMPLE_KEY: default_sample, AUDIO_PATH_KEY: path}


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).resolve()
    except OSError:
        return False


# ================================================================================================
# Reading the widgets back
# ================================================================================================
class AudioChoice:
    """The audio the widgets point at: a path, or None with `problem` saying why there is none."""

    def __init__(self, path: str | None, problem: str | None = None, label: str = ""):
        self.path = path
        self.problem = problem
        self.label = label

    @property
    def ok(self) -> bool:
        return self.problem is None


def audio_choice() -> AudioChoice:
    from core.samples import sample_paths

    ss = _ss()
    ensure_widgets()  # callbacks run before app.py: keys dropped on a page switch must come back first
    source = ss.get(AUDIO_SOURCE_KEY, "none")
    if source == "sample":
        samples = sample_paths()
        name = ss.get(SAMPLE_KEY)
        if name in samples:
            return AudioChoice(str(samples[name]), label=f"sample “{name}”")
        return AudioChoice(None, "No sample clips were found in assets/samples: run `python assets/make_samples.py`.")
    if source == "upload":
        path = ss.get("upload_path")
        return AudioChoice(
            path,
            None if path else "Upload a clip (wav, flac, ogg or mp3) first, or pick a sample.",
            label=Path(path).name if path else "",
        )
    if source == "record":
        path = ss.get("record_path")
        return AudioChoice(
            path, None if path else "Record a clip with the microphone first, or pick a sample.", label="your recording"
        )
    if source == "path":
        path = _str(ss.get(AUDIO_PATH_KEY)).strip()
        return AudioChoice(
            path or None,
            None if path else "Type the path of an audio file on this machine.",
            label=Path(path).name if path else "",
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
            value = b.from_widget(values[b.key])
        except (TypeError, ValueError):
            continue  # a half-typed number: keep the last good value
        if isinstance(b.index, str):
            stems[b.index] = value
        elif b.index is not None:
            tuples.setdefault(b.field, list(getattr(base, b.field)))[b.index] = value
        else:
            changes[b.field] = value
    for name, vals in tuples.items():
        changes[name] = tuple(vals)
    order = [s for s, _ in base.stem_map] if sorted(s for s, _ in base.stem_map) == sorted(STEMS) else list(STEMS)
    changes["stem_map"] = tuple((s, stems.get(s, "background")) for s in order)
    changes["audio_path"] = audio_path
    if base.audio_sha256 and (audio_path is None or not base.audio_path or not _same_file(audio_path, base.audio_path)):
        changes["audio_sha256"] = None
    return base.replace(**changes)


def current_params(models: str | None = None) -> GenerationParams:
    """The widgets read back into a GenerationParams (not validated), stored as the canonical copy."""
    ss = _ss()
    ensure_widgets()
    params = params_from_values(ss, ss["params"], audio_choice().path)
    if models:
        params = params.replace(models=models)
    ss["params"] = params
    return params


# ================================================================================================
# History
# ================================================================================================
@dataclass
class HistoryItem:
    """One finished generation kept in this session, with everything the gallery and export need."""

    id: int
    kind: str  # "render" | "preview" | "compare"
    params: GenerationParams  # complete (audio hash filled in): reproduces the image
    png: bytes  # the PNG file with embedded params, exactly what "Download" gives
    image: Any  # PIL image
    trace: Any  # core.trace.Trace
    timings: dict[str, float]
    device: str = "cpu"
    dtype: str = "float32"
    caption: str = ""
    created: float = field(default_factory=time.time)

    @property
    def title(self) -> str:
        p = self.params
        head = self.caption or (p.prompt.strip() or "(no prompt)")
        return f"#{self.id} · {head}"

    @property
    def summary(self) -> str:
        p = self.params
        audio = Path(p.audio_path).name if p.audio_path else "no audio"
        w = "/".join(f"{x:g}" for x in p.level_weights)
        return (
            f"seed {p.seed} · {p.width}×{p.height} · {p.steps} steps · {audio} · weights {w} · "
            f"norm {p.norm_target:g} · switch {p.switch_points[0]:g}/{p.switch_points[1]:g}"
        )


def new_id() -> int:
    return next(_ss()["ids"])


def history() -> list[HistoryItem]:
    return _ss()["history"]


def add_history(item: HistoryItem) -> None:
    items = history()
    if any(h.id == item.id for h in items):
        return
    items.append(item)
    del items[: max(0, len(items) - HISTORY_LIMIT)]


def find(item_id: int) -> HistoryItem | None:
    return next((h for h in history() if h.id == item_id), None)


# ================================================================================================
# Recall
# ================================================================================================
def recall(params: GenerationParams, goto: str | None = "generate") -> None:
    """Put a past generation's params back into the sliders (use as a button callback)."""
    ss = _ss()
    push(params)
    ss["recalled"] = params
    if goto:
        ss["goto"] = goto


def check_params(params: GenerationParams) -> ParamsError | None:
    try:
        params.validate()
    except ParamsError as exc:
        return exc
    return None


def preview_params(params: GenerationParams) -> GenerationParams:
    """Preview quality: fewer steps and a smaller image (UI settings), same everything else."""
    ss = _ss()
    steps = max(1, min(params.steps, int(ss.get("ui_preview_steps", UI_DEFAULTS["ui_preview_steps"]))))
    side = max(64, int(ss.get("ui_preview_side", UI_DEFAULTS["ui_preview_side"])))
    scale = min(1.0, side / max(params.width, params.height))

    def fit(x: int) -> int:
        return max(64, int(round(x * scale / 8.0)) * 8)

    return params.replace(steps=steps, width=fit(params.width), height=fit(params.height))
