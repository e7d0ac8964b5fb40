"""AppTest helpers shared by the studio's test files: a fresh session per AppTest on the tiny models
(the engine is shared through st.cache_resource, as in the real server)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ["CLAP2DIFF_MODELS"] = "tiny"

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(ROOT / "studio" / "app.py")
TIMEOUT = 120  # seconds per script run (AppTest's default is 3 s)
FAST = {"w_width": 64, "w_height": 64, "w_steps": 6, "ui_preview_steps": 3, "ui_preview_side": 64}


def app(fast: bool = True, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in {**(FAST if fast else {}), **state}.items():
        at.session_state[key] = value
    at.run()
    ok(at)
    return at


def edit_page(**state) -> AppTest:
    """A fresh session (as `app`) on the Edit page."""
    at = app(**state)
    at.switch_page("../pages/edit.py").run()
    ok(at)
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def session(at: AppTest):
    """The app's one Session object (studio/session.py): every job slot, result and the history."""
    from studio.session import SESSION_KEY

    return at.session_state[SESSION_KEY]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def engine():
    from studio.loader import load_engine

    slot = load_engine("tiny")
    assert slot.ok, slot.error
    return slot.engine


def render(at: AppTest) -> AppTest:
    at.button(key="btn_render").click().run()
    ok(at)
    return at


def wav(seconds: float = 1.0, rate: int = 16000, silent: bool = False) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    wave = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 440 * t)
    buf = io.BytesIO()
    sf.write(buf, wave.astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def strokes_state(rgba: np.ndarray) -> dict:
    """What the Edit page's drawing canvas sends back after strokes: Fabric's JSON and the strokes as
    a PNG data URL (the photo, its background, is never part of it)."""
    import base64

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"drawing": {"raw": {"version": "7.4.0", "objects": [{"type": "Path"}]}, "data": url}, "backgroundFit": None}
