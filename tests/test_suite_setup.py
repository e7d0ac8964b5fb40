"""The suite's own set-up (tests/conftest.py): every browser test is marked `e2e` by where it lives,
so `-m "not e2e"` leaves out the browser and each browser test gets the 300 s timeout, not 120 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import E2E_DIR, E2E_TIMEOUT_S


def test_every_browser_test_is_marked_e2e_and_has_the_long_timeout(request):
    """With the browser tests in the run it checks them all; under `-m "not e2e"` any browser test
    left in the run is one without the marker, and fails here."""
    in_run = [item for item in request.session.items if E2E_DIR in item.path.parents]
    for item in in_run:
        assert item.get_closest_marker("e2e"), f"{item.nodeid} is not marked e2e"
        assert item.get_closest_marker("timeout").args[0] == E2E_TIMEOUT_S, item.nodeid


def test_the_repository_tracks_no_symbolic_link():
    """A worktree's `.venv` or `.numba_cache` is often a link to another checkout's; committed, it
    made every fresh clone's set-up fail ("Too many levels of symbolic links"). Twice."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-s"], cwd=root, capture_output=True, text=True, check=True).stdout
    links = [line.split("\t", 1)[1] for line in listed.splitlines() if line.startswith("120000 ")]
    assert not links, f"symbolic links are tracked (git rm --cached them, and ignore them): {links}"
