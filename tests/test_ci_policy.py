"""Under CI (CI=true) a missing prerequisite fails; on a developer's machine it skips.

Runs pytest on a throwaway folder with this suite's conftest: a module that skips itself at import
(as the browser tests do without chromium or playwright) and a test that needs a missing tool (as
the m4a test does without ffmpeg).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("policy")
    (folder / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (folder / "test_browserlike.py").write_text(
        "import pytest\npytest.skip('chromium is not installed', allow_module_level=True)\ndef test_page():\n    pass\n"
    )
    (folder / "test_toollike.py").write_text(
        "from conftest import require\n"
        "def test_decode():\n    require(False, 'ffmpeg is not installed')\n"
        "def test_other():\n    pass\n"
    )
    return folder


def run_pytest(folder: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "-p", "no:timeout", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_under_ci_missing_prerequisites_fail(suite):
    done = run_pytest(suite, "true")
    assert done.returncode == 1, done.stdout
    assert "FAILED test_browserlike.py::prerequisites" in done.stdout
    assert "chromium is not installed" in done.stdout
    assert "FAILED test_toollike.py::test_decode" in done.stdout
    assert "2 failed, 1 passed" in done.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_elsewhere_they_skip(suite, ci):
    done = run_pytest(suite, ci)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 2 skipped" in done.stdout
