"""What the studio refuses, or cannot do, said on the page instead of a traceback: the operator's
server limits on the Edit page as on Generate, and a double click that starts one edit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio import editing
from studio.limits import ENV, LimitError
from studio.uploads import UPLOADS_ENV, save_upload
from tests.studio_helpers import app, errors, ok, session


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


def test_an_edit_takes_the_operators_limits_as_a_render_does(uploads, monkeypatch):
    """The working size is capped by CLAP2DIFF_MAX_SIDE (not EditKnobs' 512 whatever it says), and
    steps beyond CLAP2DIFF_MAX_STEPS are refused in the worker before any step, in its words."""
    monkeypatch.setenv(ENV["max_side"], "128")
    monkeypatch.setenv(ENV["max_steps"], "4")
    at = _edit_page(w_steps=4, edit_denoise=1.0)
    at.file_uploader(key="edit_photo").set_value(("wide.png", _photo(200), "image/png")).run()
    ok(at)
    assert any("Working size 128×112" in c.value for c in at.caption), [c.value for c in at.caption]
    at.button(key="edit_run").click().run()
    ok(at)
    output = session(at).edit.result
    assert output is not None and output.result.image.size == (128, 112)
    assert output.result.params.edit.max_side == 128

    at.session_state["w_steps"] = 5
    at.button(key="edit_run").click().run()
    ok(at)
    job = session(at).edit.job
    assert isinstance(job.error, LimitError) and job.step == 0
    said = [e for e in errors(at) if "5 steps is more than this studio allows (4, `CLAP2DIFF_MAX_STEPS`)" in e]
    assert said and said[0].startswith("**Cannot do this**: "), errors(at)


def test_the_limit_check_sees_the_working_size_the_edit_is_drawn_at(uploads, monkeypatch):
    from core.edit import EditParams
    from core.params import GenerationParams

    path = str(save_upload("wide.png", _photo(200)))
    params = EditParams(GenerationParams(prompt="p", steps=4, width=64, height=64)).replace(image_path=path)
    editing.check_limits(params.replace(max_side=128))  # 128x112
    monkeypatch.setenv(ENV["max_side"], "120")
    with pytest.raises(LimitError, match=r"128x112 px is larger than this studio allows \(120 px a side"):
        editing.check_limits(params.replace(max_side=128))
    assert editing.working_side() == 120


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
