"""Shared fixtures of the browser tests: Debian's chromium driven by the Python `playwright` package.

One studio server for the whole e2e run (tiny offline models; see studio_server.py); every test opens
its own browser context, i.e. its own Streamlit session. Screenshots go to test-artifacts/e2e/.
Nothing sleeps: every wait is for a condition (playwright's wait_for / expect), with a timeout.
Helpers that drive the pages live in helpers.py.

Needs `chromium` on PATH (Debian: `apt-get install chromium`); skipped with that hint otherwise
(and failed under CI, see tests/conftest.py).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.studio_server import studio_server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
T = 90_000  # ms: generous for 2 busy CPU cores; every wait returns as soon as its condition holds

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package)")
if CHROMIUM is None:
    pytest.skip(
        "chromium is not installed: install it with `apt-get install chromium` (Debian/Ubuntu) to run the "
        "browser tests",
        allow_module_level=True,
    )
playwright_sync.expect.set_options(timeout=T)  # a page switch can take seconds on 2 busy cores


@pytest.fixture(scope="session")
def server_dirs(tmp_path_factory) -> dict[str, Path]:
    """The shared server's folders: uploads, and the Train page's datasets and runs roots."""
    base = tmp_path_factory.mktemp("studio")
    return {name: base / name for name in ("uploads", "datasets", "runs")}


@pytest.fixture(scope="session")
def server(server_dirs):
    env = {"CLAP2DIFF_DATASETS": str(server_dirs["datasets"]), "CLAP2DIFF_RUNS": str(server_dirs["runs"])}
    with studio_server(server_dirs["uploads"], env) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def new_page(browser, width: int = 1440, height: int = 1400):
    """A fresh browser context (a new Streamlit session) and its page; close with page.context.close()."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(T)
    return pg


@pytest.fixture
def page(browser, server):
    pg = new_page(browser)
    yield pg
    pg.context.close()
