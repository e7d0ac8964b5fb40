"""The suite's own set-up (tests/conftest.py): every browser test is marked `e2e` by where it lives,
so `-m "not e2e"` leaves out the browser and each browser test gets the 300 s timeout, not 120 s."""

from __future__ import annotations

from tests.conftest import E2E_DIR, E2E_TIMEOUT_S


def test_every_browser_test_is_marked_e2e_and_has_the_long_timeout(request):
    """With the browser tests in the run it checks them all; under `-m "not e2e"` any browser test
    left in the run is one without the marker, and fails here."""
    in_run = [item for item in request.session.items if E2E_DIR in item.path.parents]
    for item in in_run:
        assert item.get_closest_marker("e2e"), f"{item.nodeid} is not marked e2e"
        assert item.get_closest_marker("timeout").args[0] == E2E_TIMEOUT_S, item.nodeid
