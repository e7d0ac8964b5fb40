"""The shared engine: loaded once per model spec for the whole server (`st.cache_resource`).

All browser sessions share one Engine per spec; its lock serialises generations. A spec that fails
to load is cached as a failure too (with the reason), so a missing download is reported at once on
every rerun instead of being retried; "Retry" clears it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from studio import state
from studio.state import PERSIST as PS

CHOICES: dict[str, str] = {
    "sd15": "Stable Diffusion 1.5 (Hub cache)",
    "custom": "Local folder or Hub id",
    "tiny": "Tiny offline demo",
}
CHOICE_KEY = "w_models_choice"
CUSTOM_KEY = "w_models_custom"


@dataclass
class EngineSlot:
    """The outcome of loading one spec: an engine, or the reason there is none."""

    spec: str
    engine: Any = None  # core.pipeline.Engine
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.engine is not None


@st.cache_resource(show_spinner=False, max_entries=3)
def _load(spec: str) -> EngineSlot:
    from core.engine import Engine
    from core.models import ModelUnavailable
    from studio import worker

    started = time.perf_counter()
    try:
        engine = worker.call(Engine, spec)  # built on the engine thread, where it will run
    except ModelUnavailable as exc:
        return EngineSlot(spec, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure to load is reported, never a crash at start
        return EngineSlot(spec, error=f"The models '{spec}' could not be loaded ({type(exc).__name__}: {exc}).")
    return EngineSlot(spec, engine=engine, seconds=time.perf_counter() - started)


def load_engine(spec: str) -> EngineSlot:
    """The shared slot for `spec` (loads on first use). Tests call this to reach the app's engine."""
    return _load(spec.strip())


def forget(spec: str) -> None:
    """Drop a cached failure (or engine) so the next run tries again."""
    _load.clear(spec.strip())


def _choice_for(spec: str) -> tuple[str, str]:
    if spec in ("tiny",):
        return "tiny", ""
    if spec in ("sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5"):
        return "sd15", ""
    return "custom", spec


def selected_spec() -> str:
    ss = st.session_state
    choice = ss.get(CHOICE_KEY, "tiny")
    if choice == "custom":
        return (ss.get(CUSTOM_KEY) or "").strip() or "tiny"
    return choice


def use_tiny() -> None:
    """Button callback: switch this session to the tiny offline demo."""
    st.session_state[CHOICE_KEY] = "tiny"


def retry() -> None:
    forget(selected_spec())


def sidebar() -> EngineSlot:
    """Model choice, device/dtype and the conditioning mode, in the sidebar; returns the loaded slot."""
    ss = st.session_state
    if CHOICE_KEY not in ss:
        ss[CHOICE_KEY], ss[CUSTOM_KEY] = _choice_for(state.env_models())
    sb = st.sidebar
    sb.markdown("### Models")
    sb.radio(
        "Models",
        list(CHOICES),
        format_func=CHOICES.get,
        key=CHOICE_KEY,
        label_visibility="collapsed",
        help="Stable Diffusion 1.5 and LAION-CLAP from the Hugging Face cache on this machine; or a "
        "local folder in diffusers layout; or the tiny demo (random weights: it runs anywhere, "
        "offline, but draws noise-like pictures).",
        persist_state=PS,
    )
    if ss[CHOICE_KEY] == "custom":
        sb.text_input(
            "Folder or Hub id",
            key=CUSTOM_KEY,
            placeholder="/models/my-sd15  or  owner/model",
            help="A folder in diffusers layout (model_index.json inside), or a Hub id already in the cache.",
            persist_state=PS,
        )
    spec = selected_spec()
    ss["engine_spec"] = spec
    with sb:
        with st.spinner(f"Loading models ({spec})…"):
            slot = load_engine(spec)
    if slot.ok:
        eng = slot.engine
        dtype = str(eng.dtype).removeprefix("torch.")
        loaded = f" · loaded in {slot.seconds:.1f} s" if slot.seconds else ""
        sb.caption(f"**{eng.spec.label}**  \n{eng.device} · {dtype}{loaded}")
    else:
        sb.caption(":red[Models not loaded]")

    sb.markdown("### Conditioning")
    sb.radio(
        state.BY_KEY["w_mode"].label,
        ["zero-shot", "trained"],
        key="w_mode",
        format_func={"zero-shot": "Zero-shot (public weights)", "trained": "Trained projector"}.get,
        help="Zero-shot: CLAP names the sounds it hears and Stable Diffusion draws those phrases; needs "
        "no training. Trained: the seed's audio projector and adapters, from a checkpoint folder.",
        persist_state=PS,
    )
    if ss.get("w_mode") == "trained":
        sb.text_input(
            state.BY_KEY["w_checkpoint"].label,
            key="w_checkpoint",
            placeholder="checkpoints/projector",
            help="Folder with the projector (safetensors + JSON config) and, optionally, adapters.safetensors.",
            persist_state=PS,
        )

    sb.markdown("### Live preview")
    sb.toggle(
        "Live preview",
        key="ui_live_preview",
        persist_state=PS,
        help="Re-render a quick preview whenever you release a slider.",
    )
    c1, c2 = sb.columns(2)
    c1.number_input(
        "Preview steps", 1, 50, step=1, key="ui_preview_steps", persist_state=PS, help="Denoising steps of the preview."
    )
    c2.number_input(
        "Preview size (px)",
        64,
        1024,
        step=64,
        key="ui_preview_side",
        help="Longest side of the preview image.",
        persist_state=PS,
    )
    return slot


def show_load_error(slot: EngineSlot) -> None:
    """The plain message for a spec that did not load, with the way out (tiny demo, retry)."""
    st.error(
        f"**The models could not be loaded.** {slot.error}\n\n"
        "You can also point the sidebar at a local folder in diffusers layout, or try the studio now with "
        "the tiny offline demo.",
        icon=":material/error:",
    )
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button("Use the tiny demo", on_click=use_tiny, type="primary", key="use_tiny_btn")
    c2.button("Retry loading", on_click=retry, key="retry_load_btn")


def current() -> Any:
    """This session's engine, or None (pages degrade: the gallery still works)."""
    spec = st.session_state.get("engine_spec")
    if not spec:
        return None
    slot = load_engine(spec)
    return slot.engine
