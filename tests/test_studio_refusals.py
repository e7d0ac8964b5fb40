"""What the studio refuses, or cannot do, said on the page instead of a traceback: the operator's
upload limit and server limits on the Edit page as on Generate, a full disk when an upload, a
Gallery photo or a region made on the page is saved, and a double click that starts one edit."""

from __future__ import annotations

import errno
import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from core.edit.inputs import EditError
from core.engine import EngineError
from core.export import ExportError
from core.models import ModelUnavailable
from core.params import ParamsError
from core.projector import ProjectorError
from core.separation import SeparationError
from studio import editing
from studio.limits import ENV, LimitError
from studio.uploads import UPLOADS_ENV, UploadError, save_upload
from tests.studio_helpers import app, edit_page, errors, ok, session, wav

FULL = "could not be saved: the server's disk is full. Free some space there (or ask the studio's operator to)"


def _photo(side: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side + 32, 3), 120, np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """A fresh uploads folder (nothing saved before: every save writes)."""
    folder = tmp_path / "uploads"
    monkeypatch.setenv(UPLOADS_ENV, str(folder))
    return folder


@pytest.fixture
def disk_full(monkeypatch):
    """`full[0] = True` makes every upload's write fail as a full disk does (ENOSPC)."""
    import core.export

    full = [False]
    real = core.export.atomic_write

    def write(path, data, *args, **kwargs):
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, *args, **kwargs)

    monkeypatch.setattr(core.export, "atomic_write", write)
    return full


def _saved(folder) -> list[str]:
    """The uploads saved (`<uploads>/<16 hex>/<name>`; the galleries live there too)."""
    return sorted(p.name for p in folder.glob("*/*") if p.is_file() and re.fullmatch("[0-9a-f]{16}", p.parent.name))


def test_a_photo_or_mask_over_the_upload_limit_is_refused_before_a_byte_is_stored(uploads, monkeypatch):
    monkeypatch.setenv(ENV["max_upload_mb"], "1")
    at = edit_page()
    big = b"\x89PNG" + bytes(3 * 2**20)
    at.file_uploader(key="edit_photo").set_value(("big.png", big, "image/png")).run()
    ok(at)
    (said,) = errors(at)
    assert said.startswith("**Cannot use this image**: big.png is 3 MB, more than this studio accepts (1 MB, ")
    assert said.endswith("`CLAP2DIFF_MAX_UPLOAD_MB`): save it with fewer pixels (or as a JPEG) and upload that.")
    assert _saved(uploads) == [] and "photo" not in session(at).edit_uploads
    at.button(key="edit_run").click().run()  # the Edit button points at it, starts nothing
    ok(at)
    assert session(at).edit.job is None and "see the message under **1 · Photo**" in at.toast[0].value

    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)  # a photo within the limit: kept, the message gone
    assert not errors(at) and session(at).edit_uploads["photo"].endswith("street.png")
    at.file_uploader(key="edit_photo").set_value(("big.png", big, "image/png")).run()
    ok(at)  # refused: the photo before it is not edited instead, unseen
    assert "photo" not in session(at).edit_uploads and session(at).edit.job is None
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)
    assert not errors(at) and session(at).edit_uploads["photo"].endswith("street.png")
    at.radio(key="edit_mask_source").set_value("upload").run()
    at.file_uploader(key="edit_mask").set_value(("mask.png", big, "image/png")).run()
    ok(at)
    assert [e for e in errors(at) if "mask.png is 3 MB, more than this studio accepts" in e], errors(at)
    assert _saved(uploads) == ["street.png"] and "mask" not in session(at).edit_uploads


def test_a_full_disk_is_said_where_the_file_was_given_and_the_page_goes_on(uploads, disk_full):
    at = app(w_audio_source="upload")
    disk_full[0] = True
    at.file_uploader(key="w_upload").set_value(("rain.wav", wav(), "audio/wav")).run()
    ok(at)
    said = [e for e in errors(at) if "Audio problem" in e]
    assert said and f"rain.wav {FULL}, then upload it again; your settings and results are kept." in said[0]
    assert str(uploads) not in said[0], "no server folder in the message"

    def edit_errors() -> list[str]:  # the clip's stays said under Edit the photo, as on Generate
        return [e for e in errors(at) if not e.startswith("**Audio problem**")]

    at.switch_page("../pages/edit.py").run()
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)
    assert [e for e in edit_errors() if e.startswith(f"**Cannot use this image**: street.png {FULL}")], edit_errors()
    assert "photo" not in session(at).edit_uploads

    disk_full[0] = False
    at.file_uploader(key="edit_photo").set_value(("street.png", _photo(), "image/png")).run()
    ok(at)
    assert not edit_errors(), edit_errors()
    disk_full[0] = True  # the rectangle's mask is saved on the page's run: said as the region's problem
    at.radio(key="edit_mask_source").set_value("box").run()
    ok(at)
    (region,) = edit_errors()
    assert region.startswith(f"**Cannot use this region**: The rectangle chosen {FULL}, then try again")
    assert at.markdown and session(at).edit.job is None  # the page is drawn, nothing started


def test_a_gallery_photo_the_disk_cannot_take_is_a_message(uploads, disk_full):
    disk_full[0] = True
    path, problem = editing.gallery_photo(SimpleNamespace(id=7, png=_photo()))
    assert path is None and problem.startswith(f"**Cannot use this image**: gallery\\_7.png {FULL}")
    disk_full[0] = False
    path, problem = editing.gallery_photo(SimpleNamespace(id=7, png=_photo()))
    assert problem is None and path.endswith("gallery_7.png")


def test_an_upload_error_names_the_file_not_the_folder_and_is_still_an_oserror(uploads, monkeypatch):
    import core.export

    def refuse(path, data, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(core.export, "atomic_write", refuse)
    with pytest.raises(UploadError) as err:
        save_upload("take 2.wav", b"data")
    assert isinstance(err.value, OSError) and err.value.errno == errno.EACCES
    assert str(err.value) == (
        "take 2.wav could not be saved on the server (Permission denied): upload it again, or ask the studio's "
        "operator."
    )


def test_an_edit_takes_the_operators_limits_as_a_render_does(uploads, monkeypatch):
    """The working size is capped by CLAP2DIFF_MAX_SIDE (not EditKnobs' 512 whatever it says), and
    steps beyond CLAP2DIFF_MAX_STEPS are refused in the worker before any step, in its words."""
    monkeypatch.setenv(ENV["max_side"], "128")
    monkeypatch.setenv(ENV["max_steps"], "4")
    at = edit_page(w_steps=4, edit_denoise=1.0)
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

    at = edit_page(w_steps=6)
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


@pytest.mark.parametrize(
    "exc, said",
    [
        (
            ParamsError("norm_target", "must be between 0 and 100 (got 200)"),
            "**Norm target**: must be between 0 and 100 (got 200). Change this setting and try again.",
        ),
        (ExportError("cannot read 'a_b.png': no PNG"), "**Cannot use this file**: cannot read 'a\\_b.png': no PNG."),
        (ModelUnavailable("tiny is not cached"), "**Models missing**: tiny is not cached"),
        (
            ProjectorError("no final/ in run"),
            "**Trained checkpoint problem**: no final/ in run. Check the checkpoint folder in the sidebar, "
            "or switch back to zero-shot.",
        ),
        (EngineError("the UNet returned NaN"), "**Generation failed**: the UNet returned NaN"),
        (
            SeparationError("htdemucs is not cached."),
            "**Source separation failed**: htdemucs is not cached. Choose 'mix' or 'bands' as the level sources "
            "meanwhile.",
        ),
        (EditError("the mask is empty"), "**Cannot do this**: the mask is empty"),
        (MemoryError(), "**Out of memory**: lower the image size or the number of steps, then try again."),
        (
            KeyError("k"),
            "**Unexpected error** (KeyError: 'k'). The studio is still running and your history is kept; try other "
            "settings, and please report this with the settings you used.",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "",
)
def test_each_kind_of_failure_is_said_under_its_own_title(exc, said):
    """studio/errors.describe: each core error under its own title with what to do; a ParamsError by
    its knob's label, its message without the field name; anything else as unexpected, with its type."""
    from studio.errors import describe

    assert describe(exc) == said
