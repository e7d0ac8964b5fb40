"""Shared test set-up: offline, deterministic, tiny models; CI fails where a laptop skips.

Every test runs with the hub switched off, whatever the shell says (a shell with HF_HUB_OFFLINE=0
would otherwise let a test download, and a miss costs ~23 s of retries), and with a numba cache,
so librosa's JIT compiles once per machine rather than once per process.

A missing tool (chromium, playwright, ffmpeg) skips its tests on a developer's machine but fails
them under CI (CI=true): there it means a broken set-up, and a green run would test less than it
says. See docs/TESTING.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Set, not setdefault: these must hold before anything imports huggingface_hub or transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
os.environ.setdefault("CLAP2DIFF_MODELS", "tiny")
# One torch thread: the e2e server and CLI subprocesses run beside the test process on 2 cores,
# and oversubscribed torch threads made the tiny models ~40x slower there (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


def on_ci() -> bool:
    """True under CI (CI=true, as CI sets it): missing prerequisites fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(present: bool, what: str) -> None:
    """Skip the calling test when `what` is missing, or fail it under CI."""
    if present:
        return
    if on_ci():
        pytest.fail(f"{what} (CI=true: a missing prerequisite fails, it does not skip)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg executable (scripts/setup.sh --dev installs Debian's as root)."""
    import shutil

    path = shutil.which("ffmpeg")
    require(path is not None, "ffmpeg is not installed: apt-get install ffmpeg (scripts/setup.sh --dev does it)")
    return path


# -- under CI, a test module that skips as a whole (e.g. the browser tests without chromium) fails ---
_SKIPPED_MODULES: list[tuple[str, str]] = []


class MissingPrerequisite(pytest.Item):
    """Stands in for a test module that skipped itself at import: fails with the module's reason."""

    def __init__(self, *, reason: str, **kwargs):
        super().__init__(**kwargs)
        self.reason = reason

    def runtest(self) -> None:
        pytest.fail(f"CI=true, so this fails instead of skipping: {self.reason}", pytrace=False)

    def reportinfo(self):
        return self.path, None, self.name


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped and report.nodeid.endswith(".py") and on_ci():
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED_MODULES.append((report.nodeid, reason.removeprefix("Skipped: ")))


E2E_DIR = ROOT / "tests" / "e2e"
E2E_TIMEOUT_S = 300  # a browser test waits up to 90 s per step; every other test has pyproject's 120 s


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they apply to these items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:  # every browser test, by where it lives: none can forget the marker
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))
    for nodeid, reason in _SKIPPED_MODULES:
        item = MissingPrerequisite.from_parent(
            session, name="prerequisites", nodeid=f"{nodeid}::prerequisites", path=ROOT / nodeid, reason=reason
        )
        if "/e2e/" in f"/{nodeid}":
            item.add_marker("e2e")
        items.append(item)
    _SKIPPED_MODULES.clear()


@pytest.fixture(scope="session", autouse=True)
def _apptest_setup_done_once():
    """What every AppTest redid, done once per test session (only where AppTest was imported, i.e. the
    modules collected for this run use it: a run of other files never imports Streamlit for this):
    - the scan of every installed distribution's metadata for Streamlit component manifests, on an
      AppTest's first run (0.23-0.30 s each, ~12 % of an AppTest file's time); the installed
      packages do not change during a test run;
    - the scripts' bytecode: every run made a new ScriptCache, so app.py and the page parsed, had
      Streamlit's magic added to their syntax tree and compiled again (~10 % of the AppTest files'
      CPU time). One cache for all, as a server keeps one for its sessions; a script whose file
      changed is compiled again."""
    if "streamlit.testing.v1" not in sys.modules:
        yield
        return
    import functools

    from streamlit.components.v2 import manifest_scanner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test

    class KeptScriptCache(ScriptCache):
        def __init__(self) -> None:
            super().__init__()
            self._stamps: dict[str, tuple[int, int]] = {}

        def get_bytecode(self, script_path: str):
            path = os.path.abspath(script_path)
            stat = os.stat(path)
            with self._lock:
                if self._stamps.get(path) != (stat.st_mtime_ns, stat.st_size):
                    self._cache.pop(path, None)
                    self._stamps[path] = (stat.st_mtime_ns, stat.st_size)
            return super().get_bytecode(path)

    scan, made = manifest_scanner.scan_component_manifests, app_test.ScriptCache
    manifest_scanner.scan_component_manifests = functools.cache(scan)
    shared = KeptScriptCache()
    app_test.ScriptCache = lambda: shared
    try:
        yield
    finally:
        manifest_scanner.scan_component_manifests, app_test.ScriptCache = scan, made


@pytest.fixture(scope="session")
def tiny_engine():
    """One tiny engine for the whole session: models load once, as in the studio."""
    from core.engine import Engine

    return Engine("tiny")


@pytest.fixture(scope="session")
def samples() -> dict[str, Path]:
    from core.samples import sample_paths

    return sample_paths()


@pytest.fixture
def tiny_params(samples):
    """Small, fast generation parameters on a sample clip."""
    from core.params import GenerationParams

    return GenerationParams(
        prompt="a city", audio_path=str(samples["thunder"]), steps=10, width=64, height=64, models="tiny", seed=7
    )


@pytest.fixture(scope="session")
def train_bundle():
    """Tiny models for the training tests (their own: training installs adapters on the UNet)."""
    from core.models import load_models

    return load_models("tiny", "cpu")


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> Path:
    """A six-row synthetic dataset (real WAV, PNG and JPEG files); its feature cache fills on first use."""
    from tests.train_helpers import make_dataset

    return make_dataset(tmp_path_factory.mktemp("train-data"))


@pytest.fixture
def edit_files(tmp_path):
    """A 80x64 photo `p.png` and its mask `m.png` (white = may change) in a fresh folder: the edit CLI tests'."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:64, 0:80]
    Image.fromarray(np.stack([x * 3, y * 4, (x + y) % 256], -1).astype(np.uint8), "RGB").save(tmp_path / "p.png")
    region = np.zeros((64, 80), np.uint8)
    region[8:40, 8:48] = 255
    Image.fromarray(region, "L").save(tmp_path / "m.png")
    return tmp_path
