"""Start a real studio server (tiny offline models, a free localhost port, file watcher off).

Used by the shared `server` fixture in conftest.py and by tests that need a server of their own
(other environment variables: allowed audio folders, limits, ...): `with studio_server(env) as url:`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def studio_server(uploads: Path, env: dict[str, str] | None = None, log_name: str = "server.log") -> Iterator[str]:
    """Run `streamlit run studio/app.py` until the block ends; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = dict(os.environ)
    full_env.update(
        CLAP2DIFF_MODELS="tiny",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NUMBA_CACHE_DIR=str(ROOT / ".numba_cache"),
        CLAP2DIFF_UPLOADS=str(uploads),
    )
    full_env.update(env or {})
    log = ARTIFACTS / log_name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "streamlit", "run", "studio/app.py",
        "--server.fileWatcherType", "none",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):  # up to ~60 s: poll the health endpoint, noticing a crash at once
            if healthy(url):
                break
            try:
                proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the studio server exited with {proc.returncode}; see {log}")
        else:
            pytest.fail(f"the studio server did not become healthy; see {log}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
