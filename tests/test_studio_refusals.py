"""What the studio refuses, or cannot do, said on the page instead of a traceback: a double click
that starts one edit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.uploads import UPLOADS_ENV
from tests.studio_helpers import app, ok, session


def _photo(side: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side + 32, 3), 120, np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _edit_page(**state):
    at = app(**state)
    at.switch_page("../pages/edit.py").run()
    ok(at)
    return at


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """A fresh uploads folder (nothing saved before: every save writes)."""
    folder = tmp_path / "uploads"
    monkeypatch.setenv(UPLOADS_ENV, str(folder))
    return folder


def test_a_second_click_while_the_edit_runs_starts_no_second_edit(uploads):
    """A double click's second click reaches `_start` on the next run, the first edit still running
    (the button it was sent from was drawn enabled): it must not start a second edit, which would
    cancel the first."""
    from studio.jobs import Job

    at = _edit_page(w_steps=6)
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)
    first = Job("edit", lambda job: None)  # the edit of the first click: not collected yet, so running
    first.done.set()
    first.cancelled = True
    session(at).edit.job = first
    assert session(at).edit.running
    at.button(key="edit_run").click().run()
    ok(at)
    assert session(at).edit.job is first and not first.cancel.is_set()
