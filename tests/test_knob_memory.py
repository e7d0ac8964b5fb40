"""studio/knob_memory.py: a reload (a new session of the same `?gallery=`) opens with the knobs the
page last showed: the generation knobs with their clip, the sidebar's and Compare's settings, the
edit knobs. Another gallery starts from the defaults; a damaged or hand-edited file never breaks
the page; an old gallery's file goes with it."""

from __future__ import annotations

import json
import os
import time

import pytest
from streamlit.runtime.caching import clear_session_resource_cache

from studio import gallery_store, janitor, sweeping
from studio.gallery_prune import prune_galleries
from tests.studio_helpers import APP, TIMEOUT, AppTest, ok, session, wav

SID = "test session id"  # the one session id AppTest runs every app under


@pytest.fixture(autouse=True)
def own_uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_UPLOADS", str(tmp_path / "uploads"))
    clear_session_resource_cache(SID)
    janitor.release_uploads(SID)
    yield tmp_path / "uploads"
    for sid in (SID, "reloaded"):
        janitor.release_uploads(sid)


def _open(code: str | None = None, page: str | None = None) -> AppTest:
    """A new browser session (a reload: none of the last one's widget values), of gallery `code`,
    opened on `page` (the Generate page unless said)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["ui_live_preview"] = False
    if code is not None:
        at.query_params[gallery_store.GALLERY_QUERY] = code
    if page is not None:
        at.switch_page(page)
    at.run()
    ok(at)
    return at


def _knobs_file(at: AppTest):
    return gallery_store.galleries_dir() / session(at).gallery_code / gallery_store.KNOBS_FILE


def test_a_reload_shows_the_knobs_as_they_were_and_another_gallery_the_defaults(own_uploads, monkeypatch):
    at = _open()
    code = session(at).gallery_code
    at.run()
    assert not _knobs_file(at).exists()  # a visit that changes nothing leaves no file

    at.text_area(key="w_prompt").set_value("a harbour at night").run()
    at.slider(key="w_steps").set_value(7).run()
    at.slider(key="w_weight_fg").set_value(1.7).run()
    at.slider(key="w_switch").set_value((0.2, 0.6)).run()
    at.radio(key="w_audio_source").set_value("upload").run()
    monkeypatch.setattr(gallery_store, "keep_clip", lambda *a: None)  # no copy kept (a full disk): the upload
    at.file_uploader(key="w_upload").set_value(("harbour.wav", wav(seconds=1.5), "audio/wav")).run()  # is claimed
    at.number_input(key="ui_preview_steps").set_value(4).run()
    at.toggle(key="ui_new_seed").set_value(True).run()
    at.switch_page("../pages/compare.py").run()
    at.toggle(key="cmp_without").set_value(False).run()
    at.multiselect(key="cmp_modes").set_value(["mix"]).run()
    at.switch_page("../pages/sweep.py").run()
    at.text_input(key="sweep_x_values").set_value("0.5, 1.5").run()
    at.selectbox(key="sweep_y_field").set_value(sweeping.NONE).run()
    at.switch_page("../pages/edit.py").run()
    at.slider(key="edit_denoise").set_value(0.35).run()
    ok(at)
    clip = session(at).clips["upload"]
    before = session(at).params
    assert before.steps == 7 and before.audio_path == clip

    monkeypatch.setattr(janitor, "_session_id", lambda: "reloaded")  # the reload is a session of its own
    again = _open(code, page="../pages/gallery.py")  # a page that does not read the clip
    assert str(os.path.realpath(clip)) in janitor.claimed("reloaded")  # still kept while this page may use it
    again.switch_page("../pages/generate.py").run()
    ok(again)
    state = again.session_state
    assert session(again).params == before  # every knob, the clip with its hash and window
    assert (state["w_prompt"], state["w_steps"], state["w_weight_fg"], state["w_switch"]) == (
        "a harbour at night",
        7,
        1.7,
        (0.2, 0.6),
    )
    assert state["w_audio_source"] == "upload" and session(again).clips["upload"] == clip
    assert (state["ui_preview_steps"], state["ui_new_seed"], state["ui_live_preview"]) == (4, True, False)
    assert (state["cmp_without"], state["cmp_modes"], state["edit_denoise"]) == (False, ["mix"], 0.35)
    assert (state["sweep_x_values"], state["sweep_y_field"]) == ("0.5, 1.5", sweeping.NONE)
    assert again.slider(key="w_steps").value == 7 and again.text_area(key="w_prompt").value == "a harbour at night"

    stranger = _open()  # another gallery: the defaults
    assert stranger.slider(key="w_steps").value != 7 and stranger.session_state["ui_preview_steps"] != 4
    assert session(stranger).params.prompt != "a harbour at night"


def test_two_tabs_of_one_gallery_each_keep_the_knobs_they_changed(own_uploads):
    """Each tab writes only what it changed onto the file: a reload gets both tabs' work, and a
    knob both changed is the later change."""
    first = _open()
    code = session(first).gallery_code
    second = _open(code)  # opened before the first changes anything: it shows the defaults
    first.slider(key="w_steps").set_value(7).run()
    first.number_input(key="ui_preview_steps").set_value(4).run()
    second.text_area(key="w_prompt").set_value("a harbour at night").run()
    second.number_input(key="ui_preview_steps").set_value(5).run()  # the same knob, later
    reloaded = _open(code)
    state = reloaded.session_state
    assert (state["w_steps"], state["w_prompt"], state["ui_preview_steps"]) == (7, "a harbour at night", 5)
    assert session(reloaded).params.steps == 7 and session(reloaded).params.prompt == "a harbour at night"

    kept = json.loads(_knobs_file(reloaded).read_text())
    kept["version"] = 0  # a file of another version is replaced whole, never merged
    _knobs_file(reloaded).write_text(json.dumps(kept))
    first.slider(key="w_steps").set_value(9).run()
    assert json.loads(_knobs_file(first).read_text())["params"]["prompt"] != "a harbour at night"


def test_a_bookmark_opened_after_the_upload_went_still_has_its_clip(own_uploads, monkeypatch):
    """Uploads go once no tab uses them; the clip the knobs name is kept with the gallery."""
    at = _open()
    at.radio(key="w_audio_source").set_value("upload").run()
    sound = wav(seconds=1.0)
    at.file_uploader(key="w_upload").set_value(("quay.wav", sound, "audio/wav")).run()
    at.run()
    ok(at)
    upload = session(at).clips["upload"]
    janitor.release_uploads(SID)  # the tab closed: the upload goes (a restore uses the gallery's copy anyway)
    assert not os.path.exists(upload)
    monkeypatch.setattr(janitor, "_session_id", lambda: "reloaded")
    later = _open(session(at).gallery_code)
    kept = session(later).clips["upload"]
    assert kept == str(gallery_store.kept_clip(session(at).gallery_code, upload)) and kept != upload
    assert open(kept, "rb").read() == sound and session(later).params.audio_path == kept
    assert not [e.value for e in later.error], [e.value for e in later.error]


def test_no_audio_comes_back_as_no_audio_not_as_the_starting_sample(own_uploads):
    """With every other knob at its default, a session without a clip looks like a fresh one, which
    starts on a sample: the remembered source says which it was."""
    at = _open()
    at.radio(key="w_audio_source").set_value("none").run()
    ok(at)
    again = _open(session(at).gallery_code)
    assert again.radio(key="w_audio_source").value == "none" and session(again).params.audio_path is None


def test_a_damaged_or_absurd_file_never_breaks_the_page(own_uploads):
    at = _open()
    at.slider(key="w_steps").set_value(9).run()
    path = _knobs_file(at)
    kept = json.loads(path.read_text())
    fresh = _open().session_state  # the defaults, from a gallery of its own

    kept["params"].update(width=2048, height=1024, steps=40)  # beyond this server's limits
    kept["params"]["models"] = "sd15"  # the link picks the models, not the file
    kept["audio_source"], kept["params"]["audio_path"] = ["none"], None  # not a source: skipped, no TypeError
    kept["widgets"].update(
        ui_preview_side=99_999,
        cmp_modes=["mix", "bogus"],
        edit_denoise="lots",
        cmp_without=1,
        sweep_x_field="bogus",
        sweep_y_values="1," * 5000,
    )
    path.write_text(json.dumps(kept))
    clamped = _open(session(at).gallery_code)
    p = session(clamped).params
    assert (p.width, p.height, p.steps) == (1024, 512, 40)  # lowered as a recall is, aspect kept
    assert p.models == session(at).params.models != "sd15"
    state = clamped.session_state
    assert state["ui_preview_side"] == fresh["ui_preview_side"]  # refused values: the defaults
    assert state["cmp_modes"] == fresh["cmp_modes"] and "edit_denoise" not in state  # the Edit page's default
    assert state["cmp_without"] is fresh["cmp_without"]
    assert "sweep_x_field" not in state and "sweep_y_values" not in state  # the Sweep page's defaults

    for damage in ("{not json", json.dumps({**kept, "params": {"steps": -3}}), json.dumps({**kept, "version": 99})):
        path.write_text(damage)
        broken = _open(session(at).gallery_code)
        assert session(broken).params.steps == fresh["w_steps"] and not broken.error  # a fresh start, no error


def test_an_old_gallerys_knobs_go_with_it_and_fresh_knobs_keep_it(own_uploads):
    root = gallery_store.galleries_dir()
    now = time.time()
    old, touched = "c" * 22, "d" * 22
    clips = "0" * 16
    for code, knobs_age in ((old, 9), (touched, 1)):
        (root / code / gallery_store.CLIPS / clips).mkdir(parents=True)
        for name in ("a.wav", "b.wav"):
            (root / code / gallery_store.CLIPS / clips / name).write_bytes(b"RIFF")
        image = root / code / "0000000000001-00000001.png"
        image.write_bytes(b"x")
        knobs = root / code / gallery_store.KNOBS_FILE
        knobs.write_text(json.dumps({"params": {"audio_path": f"/srv/uploads/{clips}/a.wav"}}))  # names a.wav only
        for p, days in ((image, 9), (knobs, knobs_age)):
            os.utime(p, (now - days * 86400,) * 2)
    removed = prune_galleries(now=now)
    assert not (root / old).exists() and root / old / gallery_store.KNOBS_FILE in removed
    assert root / old / gallery_store.CLIPS / clips / "a.wav" in removed  # its clips with it
    assert (root / touched / gallery_store.CLIPS / clips / "a.wav").exists()  # named by its knobs: kept
    assert root / touched / gallery_store.CLIPS / clips / "b.wav" in removed  # named by nothing any more
    assert (root / touched / gallery_store.KNOBS_FILE).exists()  # its knobs were changed yesterday
    assert (root / touched / "0000000000001-00000001.png").exists()


def test_two_tabs_writing_the_knobs_at_once_both_keep_their_change():
    """Tab A reads the file, and while it is still merging, tab B writes: without the gallery's
    lock, A's write (from its stale read) dropped B's change."""
    import threading

    code = gallery_store.new_code()
    assert gallery_store.update_knobs(code, lambda kept: {"version": 1, "params": {"seed": 0, "steps": 10}})
    reading, go = threading.Event(), threading.Event()

    def tab_a(kept):
        reading.set()
        go.wait(0.5)  # still merging while B tries to write (B waits for the lock)
        return {**kept, "params": {**kept["params"], "seed": 5}}

    a = threading.Thread(target=gallery_store.update_knobs, args=(code, tab_a))
    a.start()
    assert reading.wait(30)
    b = threading.Thread(
        target=gallery_store.update_knobs, args=(code, lambda kept: {**kept, "params": {**kept["params"], "steps": 40}})
    )
    b.start()
    b.join(30)
    go.set()
    a.join(30)
    assert gallery_store.load_knobs(code, touch=False) == {"version": 1, "params": {"seed": 5, "steps": 40}}


def test_changes_onto_puts_only_this_tabs_changes_on_the_file():
    """Pure merge: what this tab changed (set or dropped) since it last wrote goes on the other tab's
    file; what it did not touch stays as the other tab left it; a file of another version is replaced."""
    from studio.knob_memory import VERSION, changes_onto

    kept = {
        "version": VERSION,
        "audio_source": "upload",
        "params": {"seed": 5, "steps": 9},
        "widgets": {"a": 1, "b": 2},
    }
    before = {"version": VERSION, "audio_source": "upload", "params": {"seed": 1, "steps": 9}, "widgets": {"a": 1}}
    now = {"version": VERSION, "audio_source": "upload", "params": {"seed": 1, "steps": 20}, "widgets": {}}
    merged = changes_onto(kept, before, now)
    assert merged["params"] == {"seed": 5, "steps": 20} and merged["widgets"] == {"b": 2}
    assert changes_onto({**kept, "version": VERSION + 1}, before, now) == now
