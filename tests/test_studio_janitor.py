"""studio/janitor.py: a session that leaves has its jobs cancelled, then its uploads (and their
decoded clips) released unless another live session uses them.

The departure is made the way Streamlit makes it: by clearing the session's scoped resources
(`clear_session_resource_cache`, what AppSession does on a websocket disconnect), which calls the
janitor's `on_release`. Outside a server (AppTest) there is no reconnect window: the release follows
at once. The real server's timing (and its memory) is tested in tests/e2e/test_session_memory.py.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit as st
from PIL import Image
from streamlit.runtime.caching import clear_session_resource_cache

import core.clip_cache as cc
from studio import gallery_store, janitor, worker
from tests.studio_helpers import app, engine, ok, session, wav
from tests.waiting import wait_until

SID = "test session id"  # the one session id AppTest runs every app under


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "uploads"
    monkeypatch.setenv("CLAP2DIFF_UPLOADS", str(folder))
    monkeypatch.setattr(cc, "_cache", cc.new_clip_cache(64 * 2**20))
    clear_session_resource_cache(SID)  # no handle left over from another test's app
    janitor.release_uploads(SID)
    return folder


def upload(at, name: str, data: bytes) -> Path:
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value((name, data, "audio/wav")).run()
    ok(at)
    path = Path(session(at).clips["upload"])
    assert path.is_file()
    return path


def test_a_closed_sessions_render_is_cancelled_and_its_upload_released(uploads, monkeypatch):
    from studio import widgets

    at = app(ui_live_preview=False)
    before = cc.decoded_clips().nbytes  # the starting sample clip
    path = upload(at, "tone.wav", wav(seconds=2.0))
    assert janitor.claimed(SID) == {str(path.resolve())}
    assert cc.decoded_clips().nbytes - before == 2 * 16000 * 4  # decoded once, held in the shared cache

    monkeypatch.setattr(widgets, "follow", lambda *a, **k: st.stop())  # the run ends; the job runs on
    at.slider(key="w_steps").set_value(100).run()
    at.button(key="btn_render").click().run()
    ok(at)
    job = session(at).render.job
    assert job is not None and job.params.audio_path == str(path)
    wait_until(lambda: job.step >= 1 or job.done.is_set(), "the render's first step")
    assert job.running, "the render ended before the session left"

    clear_session_resource_cache(SID)  # the websocket closed
    assert job.wait(60)
    assert job.cancelled and not job.ok and job.status == "Cancelled" and job.step < 100
    assert not path.exists() and not path.parent.exists()  # the upload and its folder went
    assert cc.decoded_clips().nbytes == before and janitor.claimed(SID) == set()  # samples are not released


def test_a_queued_job_of_a_closed_session_never_runs(uploads):
    from studio import jobs

    at = app(ui_live_preview=False)
    gate = threading.Event()
    blocker = worker.submit(gate.wait, 60)  # another session's work holds the engine thread
    try:
        job = jobs.generation_job(engine(), session(at).params.replace(steps=4, width=64, height=64))
        session(at).render.start(job)
        assert job.waiting and job.running
        clear_session_resource_cache(SID)
    finally:
        gate.set()
    blocker.result(timeout=60)
    assert job.wait(60) and job.cancelled and job.step == 0 and job.result is None


@contextmanager
def long_render(at, monkeypatch) -> Iterator:
    """A 100-step render the page does not follow (its run ends, the job runs on), past its first
    step; cancelled when the block ends, whatever the test did."""
    from studio import widgets

    monkeypatch.setattr(widgets, "follow", lambda *a, **k: st.stop())
    at.slider(key="w_steps").set_value(100).run()
    at.button(key="btn_render").click().run()
    ok(at)
    render = session(at).render.job
    try:
        wait_until(lambda: render.step >= 1 or render.done.is_set(), "the render's first step")
        assert render.running, "the render ended before the test could use it"
        yield render
    finally:
        render.request_cancel()
        render.wait(60)


class ServerLoop:
    """The server's event loop as the janitor uses it: what it schedules runs when the test says."""

    def __init__(self):
        self.later: list[tuple[float, object, tuple]] = []

    def call_later(self, delay: float, fn, *args) -> None:
        self.later.append((delay, fn, args))

    def run(self, delay: float, first_only: bool = False) -> None:
        """Run what was scheduled after `delay` (only the earliest scheduled one if `first_only`)."""
        due = [c for c in self.later if c[0] == delay]
        for call in due[:1] if first_only else due:
            self.later.remove(call)
            call[1](*call[2])


def test_a_network_blip_cancels_previews_only_and_a_tab_that_stays_away_loses_its_render(uploads, monkeypatch):
    import weakref

    from studio import jobs

    at = app(ui_live_preview=False)
    with long_render(at, monkeypatch) as render:
        preview = jobs.generation_job(engine(), session(at).params.replace(steps=4, width=64, height=64), "preview")
        session(at).preview.start(preview)  # queued behind the render
        active = {"now": False}
        monkeypatch.setattr(janitor, "_active", lambda sid: active["now"])
        handle, loop = janitor.Handle(SID, weakref.ref(session(at))), ServerLoop()

        janitor._left(handle, loop)  # the websocket dropped
        assert preview.cancel.is_set() and not render.cancel.is_set()
        active["now"] = True  # Streamlit's page reconnected within the grace
        loop.run(janitor.JOBS_GRACE_S)
        assert render.running and not render.cancel.is_set()

        active["now"] = False
        janitor._left(handle, loop)  # a second blip: the browser comes back before the grace ends...
        janitor._left(handle, loop)  # ...and leaves again, for good
        loop.run(janitor.JOBS_GRACE_S, first_only=True)  # the second blip's grace: the later departure decides
        assert render.running and not render.cancel.is_set()
        loop.run(janitor.JOBS_GRACE_S)
        assert render.wait(60) and render.cancelled and render.status == "Cancelled" and render.step < 100
        assert preview.wait(60) and preview.cancelled and preview.step == 0


def test_a_reconnect_window_shorter_than_the_grace_still_cancels_a_departed_render(uploads, monkeypatch):
    import weakref

    at = app(ui_live_preview=False)
    with long_render(at, monkeypatch) as render:
        monkeypatch.setattr(janitor, "_active", lambda sid: False)
        monkeypatch.setattr(janitor, "grace_s", lambda: 1.0)  # server.disconnectedSessionTTL = 2
        loop = ServerLoop()
        janitor._left(janitor.Handle(SID, weakref.ref(session(at))), loop)
        assert {delay for delay, _, _ in loop.later} == {1.0}  # nothing waits past the window
        loop.run(1.0)
        assert render.wait(60) and render.cancelled and render.step < 100


def test_a_session_back_without_a_rerun_is_still_heard_leaving_again(uploads, monkeypatch):
    """Streamlit's page reruns on a reconnect only if a run was going on: an idle page that came
    back has no handle until the user touches it, so the janitor watches it; a run ends the watch."""
    at = app(ui_live_preview=False)
    path = upload(at, "idle.wav", wav())
    released: list[janitor.Handle] = []
    server_left = janitor._left

    def left(handle, loop) -> None:  # a release outside a server has no loop: run it on ours instead
        released.append(handle) if loop is None else server_left(handle, loop)

    monkeypatch.setattr(janitor, "_left", left)
    active = {"now": False}
    monkeypatch.setattr(janitor, "_active", lambda sid: active["now"])
    with long_render(at, monkeypatch) as render:
        loop = ServerLoop()
        # 1. A blip, then a run (the user touched the page): the new handle ends the departure.
        clear_session_resource_cache(SID)
        server_left(released.pop(), loop)
        active["now"] = True
        at.run()  # makes a new handle
        loop.run(janitor.JOBS_GRACE_S)
        loop.run(janitor.grace_s())
        assert loop.later == [] and render.running and path.is_file()  # nothing more to watch

        # 2. A blip with no run after it: watched, and its next departure handled like any other.
        active["now"] = False
        clear_session_resource_cache(SID)
        server_left(released.pop(), loop)
        active["now"] = True  # back, idle: no run, no new handle
        loop.run(janitor.JOBS_GRACE_S)
        loop.run(janitor.grace_s())
        assert [c[0] for c in loop.later] == [janitor.WATCH_S] and render.running
        loop.run(janitor.WATCH_S)
        assert [c[0] for c in loop.later] == [janitor.WATCH_S]  # still there: looked at again
        active["now"] = False  # the tab closes: no release comes, the watch sees it
        loop.run(janitor.WATCH_S)
        loop.run(janitor.JOBS_GRACE_S)
        assert render.wait(60) and render.cancelled
        loop.run(janitor.grace_s())
        assert not path.exists() and janitor.claimed(SID) == set()


def test_an_upload_another_live_session_uses_is_kept(uploads, monkeypatch):
    """Two sessions chose the same clip (one content-addressed file): the one that leaves keeps it."""
    at = app(ui_live_preview=False)
    path = upload(at, "shared.wav", wav())
    janitor._claims.setdefault("another session", set()).add(str(path.resolve()))
    try:
        clear_session_resource_cache(SID)
        held = cc.decoded_clips().nbytes
        assert path.is_file() and cc.decoded_clips().nbytes == held
        assert janitor.release_uploads("another session", time.time()) == [str(path.resolve())]
        assert not path.exists() and cc.decoded_clips().nbytes == held - 16000 * 4
    finally:
        janitor._claims.pop("another session", None)


def test_an_upload_saved_again_after_the_session_left_is_kept(uploads):
    from studio.uploads import save_upload

    at = app(ui_live_preview=False)
    path = upload(at, "again.wav", wav())
    left_at = time.time() - 5  # the session left before this save: someone just chose the clip
    os.utime(path, (left_at - 60, left_at - 60))  # saved first long before (the same bytes: kept, not written)
    assert save_upload("again.wav", wav()) == path
    assert janitor.release_uploads(SID, left_at) == [] and path.is_file()


def test_a_cache_clear_of_a_live_session_is_not_a_departure(uploads, monkeypatch):
    """Streamlit also releases session resources on "Clear cache": a session it still lists as
    active keeps its jobs and uploads."""
    from streamlit import runtime

    at = app(ui_live_preview=False)
    path = upload(at, "live.wav", wav())

    class Live:
        def is_active_session(self, session_id: str) -> bool:
            return session_id == SID

    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: Live())
    clear_session_resource_cache(SID)
    assert path.is_file() and janitor.claimed(SID) == {str(path.resolve())}


def test_only_files_in_the_uploads_layout_are_ever_deleted(uploads, tmp_path):
    from studio.uploads import delete_upload

    elsewhere = tmp_path / "0123456789abcdef" / "mine.wav"  # the right shape, outside the uploads area
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"x")
    loose = uploads / "loose.wav"
    loose.parent.mkdir(parents=True, exist_ok=True)
    loose.write_bytes(b"x")
    assert not delete_upload(elsewhere) and not delete_upload(loose)
    assert elsewhere.exists() and loose.exists()


def test_a_closed_sessions_photo_and_mask_are_released_too(uploads):
    """The Edit page's photo and the mask it made are uploads of this session like its clips: they
    go when it leaves (they used to stay until a server restart a day later)."""
    import io

    from PIL import Image

    at = app(ui_live_preview=False)
    at.switch_page("../pages/edit.py").run()
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (10, 200, 30)).save(buf, format="PNG")
    at.file_uploader(key="edit_photo").set_value(("street.png", buf.getvalue(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("box").run()
    ok(at)
    saved = {p for p in uploads.glob("*/*") if p.is_file()}
    assert {p.name.split("-")[0] for p in saved} == {"street.png", "box_mask"}
    assert {str(p.resolve()) for p in saved} <= janitor.claimed(SID)

    clear_session_resource_cache(SID)  # the websocket closed
    assert not any(p.exists() for p in saved) and janitor.claimed(SID) == set()


def _reopened(code: str, monkeypatch, session_id: str):
    """The studio opened again with `?gallery=code`, as another browser session (its own id)."""
    from streamlit.testing.v1 import AppTest

    from tests.studio_helpers import APP, FAST, TIMEOUT

    monkeypatch.setattr(janitor, "_session_id", lambda: session_id)
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)
    again.query_params["gallery"] = code
    for key, value in {**FAST, "ui_live_preview": False}.items():
        again.session_state[key] = value
    again.run()
    ok(again)
    return again


def test_a_reloaded_page_takes_over_its_render_and_another_gallery_does_not(uploads, monkeypatch):
    """A reload is a new session of the same gallery: the render it started goes on there (with its
    upload and its place in the queue), instead of being cancelled when the grace ends."""
    import weakref

    at = app(ui_live_preview=False)
    code, old_key = session(at).gallery_code, session(at).queue_key
    path = upload(at, "tone.wav", wav(seconds=2.0))
    with long_render(at, monkeypatch) as render:
        monkeypatch.setattr(janitor, "_active", lambda sid: False)
        loop = ServerLoop()
        janitor._left(janitor.Handle(SID, weakref.ref(session(at))), loop)  # the reload's disconnect

        stranger = _reopened("someone-else-entirely-0001", monkeypatch, "stranger")
        assert session(stranger).render.job is None and not stranger.toast  # another gallery: not theirs
        knobs = gallery_store.galleries_dir() / code / gallery_store.KNOBS_FILE  # studio/knob_memory.py
        kept = json.loads(knobs.read_text())
        knobs.write_text(json.dumps({**kept, "params": {**kept["params"], "steps": 50}}))
        reloaded = _reopened(code, monkeypatch, "reloaded")
        assert session(reloaded).render.job is render and not session(at).render.running
        assert [t.value for t in reloaded.toast] == [
            "The render started before the reload goes on here; the knobs show its settings."
        ]
        assert reloaded.slider(key="w_steps").value == 100 == session(reloaded).params.steps  # the render's, not 50
        assert worker.active(session(reloaded).queue_key) == 1 and worker.active(old_key) == 0

        loop.run(janitor.JOBS_GRACE_S)
        loop.run(janitor.grace_s())  # the departed session is closed and its uploads released...
        assert render.running and not render.cancel.is_set()  # ...but the render goes on
        assert path.is_file() and str(path.resolve()) in janitor.claimed("reloaded")
    janitor.release_uploads("reloaded")


def test_a_reloaded_sweep_shows_its_axes_and_the_full_settings_it_was_drawn_from(uploads, monkeypatch):
    """A preview-quality sweep's job holds settings drawn down to the preview's size: the reloaded
    page shows the Generate knobs they came from, and the sweep's own axes, not the remembered ones."""
    import weakref

    from studio import sweeping, widgets

    at = app(ui_live_preview=False, w_width=128, w_height=96, w_steps=7, ui_preview_steps=50, ui_preview_side=64)
    code = session(at).gallery_code
    at.switch_page("../pages/sweep.py").run()
    at.selectbox(key="sweep_x_field").set_value("seed").run()
    at.text_input(key="sweep_x_values").set_value(",".join(str(i) for i in range(16))).run()
    at.selectbox(key="sweep_y_field").set_value("guidance").run()  # 48 tiles of 50 steps: long enough
    at.toggle(key="sweep_scores").set_value(False).run()
    monkeypatch.setattr(widgets, "follow", lambda *a, **k: st.stop())  # the run ends; the sweep runs on
    at.button(key="sweep_run").click().run()
    ok(at)
    job = session(at).sweep.job
    try:
        wait_until(lambda: job.step >= 1 or job.done.is_set(), "the sweep's first step")
        assert job.running and (job.params.width, job.params.height) == (88, 64)  # drawn down to the preview
        at.text_input(key="sweep_x_values").set_value("1,2").run()  # changed after Run: remembered, not the sweep's
        monkeypatch.setattr(janitor, "_active", lambda sid: False)
        janitor._left(janitor.Handle(SID, weakref.ref(session(at))), ServerLoop())
        reloaded = _reopened(code, monkeypatch, "reloaded")
        assert session(reloaded).sweep.job is job
        state = reloaded.session_state
        assert (state["w_width"], state["w_height"], state["w_steps"]) == (128, 96, 7)  # the user's, not 88x64
        assert (state["sweep_x_field"], state["sweep_x_values"]) == ("seed", ",".join(str(i) for i in range(16)))
        assert (state["sweep_y_field"], state["sweep_y_values"]) == ("guidance", sweeping.SWEEPABLE["guidance"])
        assert [t.value for t in reloaded.toast] == [
            "The Sweep started before the reload goes on here; the knobs show its settings (the sweep's grid "
            "shows when it is done)."
        ]
    finally:
        job.request_cancel()
        job.wait(60)
        janitor.release_uploads("reloaded")


def test_a_gallerys_clips_stay_while_a_session_of_it_is_open_and_a_gone_one_is_said_without_folders(
    uploads, monkeypatch
):
    """The gallery outlives a reload; the uploads its renders were made from now do too: while a
    session of that gallery is open, and after, in the gallery's own folder (a Recall days later
    still has its clip). A clip gone anyway is named, never shown as a server path."""
    at = app(ui_live_preview=False)
    code = session(at).gallery_code
    sound = wav(seconds=1.0)
    path = upload(at, "uniq_c.wav", sound)
    at.button(key="btn_render").click().run()
    ok(at)
    assert session(at).history[-1].params.audio_path == str(path)

    reloaded = _reopened(code, monkeypatch, "reloaded")  # a reload: the gallery comes back
    assert str(path.resolve()) in janitor.claimed("reloaded")
    janitor.release_uploads(SID)  # the session that uploaded it has ended
    assert path.is_file()

    janitor.release_uploads("reloaded")  # and the reloaded one too: the upload goes...
    assert not path.exists()
    kept = gallery_store.clips_dir(code) / path.parent.name / path.name  # ...the gallery's own stays
    assert kept.read_bytes() == sound
    item = session(reloaded).history[-1]
    reloaded.switch_page("../pages/gallery.py").run()
    reloaded.button(key=f"recall_{item.id}").click().run()
    ok(reloaded)
    assert [m.value for m in reloaded.success] == ["Settings restored: the sliders hold this image's values."]
    assert not reloaded.warning and session(reloaded).clips["upload"] == str(kept.resolve())
    assert not [e.value for e in reloaded.error if "Audio" in e.value]  # the preview hears it

    kept.unlink()  # gone from the gallery too (removed by hand): said, by name
    reloaded.switch_page("../pages/gallery.py").run()
    bodies = [j.proto.body for j in reloaded.get("json")]
    assert any('"uniq_c.wav"' in b for b in bodies) and not any(str(uploads) in b for b in bodies), bodies
    reloaded.button(key=f"recall_{item.id}").click().run()
    ok(reloaded)
    shown = [m.value for m in [*reloaded.warning, *reloaded.error, *reloaded.success, *reloaded.caption]]
    assert not any(str(uploads) in m for m in shown), shown  # no server folder in anything the page says
    assert any("except the clip **uniq\\_c.wav**: it is not on this server" in m for m in shown), shown  # escaped
    assert any("The upload uniq\\_c.wav is not on this server any more" in m for m in shown), shown
    assert not reloaded.success  # not "the sliders hold this image's values": its clip is missing
    janitor.release_uploads("reloaded")


def test_only_a_fresh_page_takes_over_and_a_reloaded_edit_shows_its_photo_and_knobs(uploads, monkeypatch):
    """A tab of the same gallery already in use keeps its own page (it never takes work away from
    the tab being reloaded); the reloaded page gets the edit with its photo, mask and knobs."""

    from core.edit import EditParams
    from studio import editing

    at = app(ui_live_preview=False)
    code = session(at).gallery_code
    live = _reopened(code, monkeypatch, "live")  # another tab of this gallery, open before the reload
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 160)).save(buf, format="PNG")
    photo = editing.save_photo("street.png", buf.getvalue())
    params = EditParams(session(at).params.replace(steps=100, width=64, height=64)).replace(
        image_path=photo, denoise=0.9, feather=6
    )
    job = session(at).edit.start(editing.edit_job(engine(), params))
    try:
        _leave_mid_edit(at, job, monkeypatch)

        monkeypatch.setattr(janitor, "_session_id", lambda: "live")
        live.run()  # the tab in use reruns first: not a reload, it takes nothing
        assert session(live).edit.job is None and not live.toast
        reloaded = _reopened(code, monkeypatch, "reloaded")
        assert session(reloaded).edit.job is job
        assert [t.value for t in reloaded.toast] == [
            "The edit started before the reload goes on here; the knobs show its settings."
        ]
        state = reloaded.session_state
        assert session(reloaded).edit_uploads["photo"] == photo and state["edit_photo_source"] == "upload"
        assert (state["edit_denoise"], state["edit_feather"], state["edit_mask_source"]) == (0.9, 6, "none")
        assert state["w_steps"] == 100
    finally:
        job.request_cancel()
        job.wait(60)
        for sid in ("live", "reloaded"):
            janitor.release_uploads(sid)


def _leave_mid_edit(at, job, monkeypatch) -> None:
    """The edit at its first step, and its session gone (the tab reloaded): its job waits out the grace."""
    import weakref

    wait_until(lambda: job.step >= 1 or job.done.is_set(), "the edit's first step")
    assert job.running, "the edit ended before the test could use it"
    monkeypatch.setattr(janitor, "_active", lambda sid: False)
    janitor._left(janitor.Handle(SID, weakref.ref(session(at))), ServerLoop())


def test_a_reloaded_edit_of_a_painted_region_comes_back_as_the_painting_not_as_an_upload(uploads, monkeypatch):
    """Paint, Edit the photo, reload while it runs: Region is still Paint it, on a canvas that starts
    from the strokes (they can be changed), and the mask is the same; never "Using the upload
    painted_mask-….png", a file name the user never gave."""
    import hashlib

    import numpy as np

    from core.edit import EditParams
    from studio import editing, region
    from studio.widgets.canvas import display_size
    from tests.studio_helpers import strokes_state

    at = app(ui_live_preview=False)
    code = session(at).gallery_code
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 160)).save(buf, format="PNG")
    at.switch_page("../pages/edit.py").run()
    at.file_uploader(key="edit_photo").set_value(("street.png", buf.getvalue(), "image/png")).run()
    at.radio(key="edit_mask_source").set_value("paint").run()
    width, height = display_size((64, 64))
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[: height // 4, : width // 2] = (255, 64, 64, 140)
    (canvas,) = at.get("bidi_component")
    at.session_state[canvas.key] = strokes_state(rgba)
    at.run()
    ok(at)
    share = "Working size 64×64: 12.5% of the photo may change."
    assert share in [c.value for c in at.caption]
    png = region.painted_mask(rgba, (64, 64))
    mask = editing.save_photo(f"painted_mask-{hashlib.sha256(png).hexdigest()[:8]}.png", png)  # the page's file
    params = EditParams(session(at).params.replace(steps=100, width=64, height=64)).replace(
        image_path=session(at).edit_uploads["photo"], mask_path=mask, denoise=0.9
    )
    job = session(at).edit.start(editing.edit_job(engine(), params))
    try:
        _leave_mid_edit(at, job, monkeypatch)
        reloaded = _reopened(code, monkeypatch, "reloaded")
        assert session(reloaded).edit.job is job
        assert reloaded.session_state["edit_mask_source"] == "paint"
    finally:
        job.request_cancel()
        job.wait(60)
    try:
        reloaded.switch_page("../pages/edit.py").run()
        ok(reloaded)
        assert reloaded.radio(key="edit_mask_source").value == "paint"
        (canvas,) = reloaded.get("bidi_component")  # a canvas that starts from the strokes: they can be changed
        assert json.loads(canvas.proto.json)["initialDrawing"]["objects"] == [{"type": "Path"}]
        captions = [c.value for c in reloaded.caption]
        assert share in captions and not any("painted_mask" in c for c in captions), captions
        assert "mask" not in session(reloaded).edit_uploads
    finally:
        janitor.release_uploads("reloaded")


def test_a_reload_takes_over_only_what_each_departed_tab_gave_up(monkeypatch):
    """Two departed tabs of one gallery, each with a render: the reload can take one (its own slot
    is then busy); the other tab's claims and queue place stay its own."""
    import weakref
    from concurrent.futures import Future
    from types import SimpleNamespace

    from studio.jobs import Job
    from studio.session import JobSlot

    monkeypatch.setattr(janitor, "_orphans", {})
    monkeypatch.setattr(janitor, "_claims", {"sid1": {"/uploads/cd/first.wav"}, "sid2": {"/uploads/ab/second.wav"}})
    monkeypatch.setattr(worker, "_owned", {})

    class Tab(SimpleNamespace):  # a Session as adopt sees it (weakly referenced)
        pass

    def tab(key: str) -> Tab:
        s = Tab(gallery_code="g" * 22, queue_key=key)
        for name in janitor.ADOPTABLE:
            setattr(s, name, JobSlot())
        return s

    first, second, current = tab("first"), tab("second"), tab("current")
    renders = {}
    for sid, old in (("sid1", first), ("sid2", second)):
        renders[sid] = old.render.start(Job("render", lambda job: None))
        worker._owned[old.queue_key] = [(Future(), renders[sid].cancel, "render")]
        janitor._orphans[sid] = janitor._Orphan(weakref.ref(old), old.gallery_code, [renders[sid]])
    assert janitor.adopt(current, "sid-current") == ["render"]
    assert current.render.job is renders["sid1"] and second.render.job is renders["sid2"]
    assert worker.active("current") == 1 and worker.active("second") == 1
    assert janitor._claims["sid-current"] == {"/uploads/cd/first.wav"}  # the first tab's uploads came along
    assert list(janitor._orphans) == ["sid2"]  # still within its grace, with its render


def test_a_cache_clear_on_the_servers_loop_of_a_live_session_cancels_nothing(monkeypatch):
    """A "Clear cache" of a session Streamlit still lists as active is no departure, on the server's
    loop too: its preview runs on and nothing is scheduled for it."""
    import weakref

    from core.params import GenerationParams
    from studio.jobs import Job
    from studio.session import Session

    monkeypatch.setattr(janitor, "_active", lambda sid: True)
    live = Session(params=GenerationParams())
    preview = live.preview.start(Job("preview", lambda job: None))
    loop = ServerLoop()
    janitor._left(janitor.Handle("live-sid", weakref.ref(live)), loop)
    assert not preview.cancel.is_set() and loop.later == [] and "live-sid" not in janitor._departures


def test_a_session_that_did_not_come_back_is_closed_as_streamlit_closes_one(monkeypatch):
    """After the reconnect window the janitor shuts the session down on the server: its session,
    its uploaded files' bytes and its media files go (streamlit#12506)."""
    import weakref

    from streamlit import runtime

    from core.params import GenerationParams
    from studio.session import Session

    calls: list[tuple[str, ...]] = []

    class Files:
        def __getattr__(self, name: str):
            return lambda *args: calls.append((name, *args))

    server = Files()
    server.uploaded_file_mgr = server.media_file_mgr = Files()
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: server)
    monkeypatch.setattr(janitor, "_active", lambda sid: False)
    gone = Session(params=GenerationParams())
    loop = ServerLoop()
    janitor._left(janitor.Handle("gone-sid", weakref.ref(gone)), loop)
    assert calls == []  # not before the window ends: the browser may come back
    loop.run(janitor.grace_s())
    assert calls == [
        ("close_session", "gone-sid"),
        ("remove_session_files", "gone-sid"),
        ("clear_session_refs", "gone-sid"),
        ("remove_orphaned_files",),
    ]
