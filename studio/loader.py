"""The shared engine: loaded once per model spec for the whole server (`st.cache_resource`).

All browser sessions share one Engine per spec; its lock serialises generations. A spec that fails
to load is remembered as a failure too (with the reason), so a missing download is reported at once
on every rerun instead of being retried; "Retry" clears it. Failures are kept apart from the
engines: specs typed and failing (CLAP2DIFF_ANY_MODELS=1) never push a working engine out of the
cache, which would load a second copy beside the one queued jobs still hold. The sidebar
(studio/widgets/sidebar.py) chooses the spec.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from studio import collector
from studio.markdown import escape_md_prose
from studio.session import session

if TYPE_CHECKING:
    from core.engine import Engine


@dataclass
class EngineSlot:
    """The outcome of loading one spec: an engine, or the reason there is none."""

    spec: str
    engine: Engine | None = None
    error: str | None = None  # ready for Markdown: the spec and the exception's text escaped (studio/markdown.py)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.engine is not None


@st.cache_resource(show_spinner=False, max_entries=3, on_release=collector.release)  # its cycles collectable
def _load(spec: str) -> EngineSlot:
    """A loaded engine (a failure raises: Streamlit caches no exception, `_failures` keeps it)."""
    from core import Engine
    from studio import worker

    started = time.perf_counter()
    engine = worker.call(Engine, spec)  # built on the engine thread, where it will run
    return EngineSlot(spec, engine=engine, seconds=time.perf_counter() - started)


FAILURES_KEPT = 16  # the latest failed specs and why: a rerun says so at once, without loading again
_failures: OrderedDict[str, EngineSlot] = OrderedDict()
_failures_lock = threading.Lock()


def _load_or_failure(spec: str) -> EngineSlot:
    from core import ModelUnavailable

    with _failures_lock:
        if spec in _failures:
            return _failures[spec]
    try:
        return _load(spec)
    except ModelUnavailable as exc:  # it quotes the spec as typed (a `?models=` link's): shown as written
        failed = EngineSlot(spec, error=escape_md_prose(exc))
    except Exception as exc:  # noqa: BLE001 - any failure to load is reported, never a crash at start
        failed = EngineSlot(
            spec, error=escape_md_prose(f"The models '{spec}' could not be loaded ({type(exc).__name__}: {exc}).")
        )
    with _failures_lock:
        _failures[spec] = failed
        while len(_failures) > FAILURES_KEPT:
            _failures.popitem(last=False)
    return failed


NO_MODELS = (
    "No models are loaded: choose working ones under **Models** in the sidebar (the tiny offline demo always loads)."
)
NO_FOLDER = "Type a local folder (diffusers layout) or a Hub id under **Models** in the sidebar."


def load_engine(spec: str) -> EngineSlot:
    """The shared slot for `spec` (loads on first use). Tests call this to reach the app's engine.
    An empty spec (the custom box left blank) loads nothing: it is not silently the tiny demo."""
    from studio.limits import model_allowed, not_offered

    if not spec.strip():
        return EngineSlot("", error=NO_FOLDER)
    if not model_allowed(spec):  # the operator's list (CLAP2DIFF_MODELS): nothing else is loaded
        return EngineSlot(spec.strip(), error=not_offered(spec.strip()))
    return _load_or_failure(spec.strip())


def forget(spec: str) -> None:
    """Drop a remembered failure (or a cached engine) so the next run tries again."""
    with _failures_lock:
        _failures.pop(spec.strip(), None)
    _load.clear(spec.strip())


def current() -> Engine | None:
    """This session's engine, or None (pages degrade: the gallery still works)."""
    spec = session().engine_spec
    return load_engine(spec).engine if spec else None


__all__ = ["NO_FOLDER", "NO_MODELS", "EngineSlot", "current", "forget", "load_engine"]
