"""Memory on a shared studio (issue 14): three large uploads from browser sessions that then close
leave the server's resident memory (RSS, psutil) within BOUND_MB of where it started, the upload
files are deleted, and the sidebar shows the server's memory. Its own server, with Streamlit's
reconnect window cut to 2 s (server.disconnectedSessionTTL) so the test need not wait 2 minutes.

The figures go to test-artifacts/e2e/session_memory.json (docs/OPERATIONS.md, "Memory").
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile as sf
from playwright.sync_api import expect

from tests.e2e.conftest import new_page
from tests.e2e.helpers import open_studio, shot
from tests.e2e.studio_server import ARTIFACTS, studio_server
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

UPLOAD_MB = 60  # each upload: 16-bit stereo at 48 kHz, ~5.5 minutes (decoded float32: 2x this)
BOUND_MB = 200  # what three released uploads may leave behind, all told (a session holding one: ~300 MB)
MB = 2**20


def server_process(url: str) -> psutil.Process:
    port = url.rsplit(":", 1)[1]
    for proc in psutil.Process().children(recursive=True):
        try:
            if "streamlit" in " ".join(proc.cmdline()) and port in proc.cmdline():
                return proc
        except psutil.Error:
            continue
    raise AssertionError(f"no streamlit process serves {url}")


def big_wav(path: Path, megabytes: int, seed: int) -> Path:
    frames = megabytes * MB // 4  # 2 channels x 2 bytes
    noise = np.random.default_rng(seed).uniform(-0.3, 0.3, size=(frames, 2)).astype(np.float32)
    sf.write(path, noise, 48000, subtype="PCM_16")
    return path


def upload_and_leave(browser, url: str, clip: Path, proc: psutil.Process, name: str) -> float:
    """One session: open the studio, upload `clip`, see it accepted, close the tab. Returns the
    server's RSS (MB) while the session held the upload."""
    page = new_page(browser)
    open_studio(page, url)
    expect(page.get_by_text(re.compile(r"Server memory \d+\.\d\d GB · decoded clips \d+ of \d+ MB"))).to_be_visible()
    page.locator(".st-key-w_audio_source").get_by_text("Upload", exact=True).click()
    page.locator(".st-key-w_upload input[type=file]").set_input_files(str(clip))
    page.get_by_text(re.compile(rf"Using the upload .*{re.escape(clip.name)}")).wait_for()
    page.get_by_text(re.compile(rf"{re.escape(clip.name)} · \d+\.\d s")).wait_for()  # decoded: the player's caption
    held = proc.memory_info().rss / MB
    shot(page, name)
    page.context.close()  # the websocket closes: the session leaves
    return held


def upload_files(uploads: Path) -> list[Path]:
    """The uploads left (not the galleries kept beside them: each session's knobs are kept there)."""
    if not uploads.exists():
        return []
    return [p for p in uploads.rglob("*") if p.is_file() and "galleries" not in p.relative_to(uploads).parts]


def settled_rss(proc: psutil.Process, window_s: float = 3.0) -> float:
    """The RSS (MB) once it has stopped falling for `window_s` (freed memory goes back as it goes)."""
    seen: list[tuple[float, int]] = []

    def steady() -> bool:
        now = time.monotonic()
        seen.append((now, proc.memory_info().rss))
        older = [rss for t, rss in seen if t <= now - window_s]
        return bool(older) and seen[-1][1] >= older[-1] - MB

    wait_until(steady, "the server's memory to settle", 60)
    return seen[-1][1] / MB


def test_three_large_uploads_from_closed_sessions_are_released(browser, tmp_path):
    uploads = tmp_path / "uploads"
    clips = [big_wav(tmp_path / f"large_{i}.wav", UPLOAD_MB, seed=i) for i in range(3)]
    warmup = big_wav(tmp_path / "warmup.wav", 2, seed=9)
    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": "2"}
    with studio_server(uploads, env, log_name="session_memory.log") as url:
        proc = server_process(url)
        # A first session loads the models and every code path an upload takes; its release is
        # the baseline (what the studio holds with no session).
        upload_and_leave(browser, url, warmup, proc, "session_memory_warmup")
        wait_until(lambda: not upload_files(uploads), lambda: f"the warm-up upload to go: {upload_files(uploads)}", 60)
        start = settled_rss(proc)

        held = []
        for i, clip in enumerate(clips):
            held.append(upload_and_leave(browser, url, clip, proc, f"session_memory_{i}"))
        wait_until(lambda: not upload_files(uploads), lambda: f"the uploads to go: {upload_files(uploads)}", 60)
        wait_until(
            lambda: proc.memory_info().rss / MB - start < BOUND_MB,
            lambda: f"RSS within {BOUND_MB} MB of {start:.0f} MB (now {proc.memory_info().rss / MB:.0f} MB)",
            60,
        )
        end = settled_rss(proc)

    figures = {
        "upload_mb": UPLOAD_MB,
        "start_rss_mb": round(start),
        "held_rss_mb": [round(h) for h in held],
        "end_rss_mb": round(end),
        "bound_mb": BOUND_MB,
    }
    (ARTIFACTS / "session_memory.json").write_text(json.dumps(figures, indent=1))
    print(figures)
    assert max(held) - start > 2 * UPLOAD_MB, figures  # a session holding an upload does hold memory
    assert end - start < BOUND_MB, figures
