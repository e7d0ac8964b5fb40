"""The gallery survives a server restart (studio/gallery_store.py): renders are kept on disk under
the address's `?gallery=` code, a new session with the same code sees them (pixels, params,
trace), another code sees nothing, and old galleries are pruned like uploads."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.export import read_params
from studio import gallery_store
from studio.gallery_prune import prune_galleries
from tests.studio_helpers import APP, FAST, TIMEOUT, AppTest, ok, render, session


@pytest.fixture(autouse=True)
def own_uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_UPLOADS", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


def _open(code: str | None = None) -> AppTest:
    """A new browser session (as after a restart: the studio's memory holds nothing of the last)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in {**FAST, "ui_live_preview": False}.items():
        at.session_state[key] = value
    if code is not None:
        at.query_params[gallery_store.GALLERY_QUERY] = code
    at.run()
    ok(at)
    return at


def _code(at: AppTest) -> str:
    value = at.query_params[gallery_store.GALLERY_QUERY]
    return value[0] if isinstance(value, list) else value


def test_a_new_session_with_the_same_code_sees_the_renders(own_uploads):
    first = _open()
    code = _code(first)
    assert gallery_store.valid_code(code) and session(first).gallery_code == code
    render(first)
    render(first)
    made = session(first).history
    assert [h.id for h in made] == [1, 2]
    kept_files = sorted(f.name for f in (own_uploads / "galleries" / code).iterdir())
    assert kept_files.pop() == gallery_store.NUMBERS_FILE  # the last number given (after the digits)
    assert kept_files.pop(0) == gallery_store.LOCK_FILE  # what its tabs lock to give one (first: a dot)
    assert [f.rsplit(".", 1)[1] for f in kept_files] == ["json", "png"] * 2 and all(".tmp" not in f for f in kept_files)

    again = _open(code)  # a bookmark, another tab, or the same link after a restart
    kept = session(again).history
    assert [h.id for h in kept] == [1, 2]
    for old, new in zip(made, kept, strict=True):
        assert new.png == old.png and new.params == old.params and new.kind == "render"
        assert new.image.tobytes() == old.image.tobytes()
        assert new.trace.to_dict() == old.trace.to_dict() and new.timings == pytest.approx(old.timings)
    render(again)
    assert [h.id for h in session(again).history] == [1, 2, 3]  # numbering goes on after the kept ones

    again.switch_page("../pages/gallery.py").run()
    ok(again)
    assert len(again.image) == 3 and any("gallery code" in c.value for c in again.caption)
    again.switch_page("../pages/gates.py").run()  # a kept render's trace draws, too
    ok(again)

    stranger = _open()
    assert _code(stranger) != code and session(stranger).history == []


def test_a_code_that_is_not_one_we_make_is_replaced(own_uploads):
    at = _open("../../etc")
    assert _code(at) != "../../etc" and gallery_store.valid_code(_code(at))
    assert not (own_uploads / "etc").exists()


def test_damaged_files_are_skipped_and_the_newest_images_kept(tiny_engine, tiny_params, own_uploads):
    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    code = gallery_store.new_code()
    for i in range(1, 5):  # kept within a millisecond or two: named in the order kept all the same
        item = HistoryItem.of(result, png_bytes(result.image, result.params.replace(seed=i)), "render", i)
        assert gallery_store.keep(code, item, limit=3)
    folder = own_uploads / "galleries" / code
    stems = sorted(f.stem for f in folder.glob("*.png"))
    assert [read_params((folder / f"{s}.png").read_bytes()).seed for s in stems] == [2, 3, 4]  # the newest 3
    (folder / f"{stems[1]}.json").write_text("{not json")
    loaded = gallery_store.load(code)
    assert [h.id for h in loaded] == [2, 4]  # the numbers they were shown with
    assert [read_params(h.png).seed for h in loaded] == [2, 4]  # the damaged one is skipped


def test_two_tabs_of_one_gallery_keep_both_renders(tiny_engine, tiny_params, own_uploads):
    """Two sessions opened on the same address both number their next render 3: both are kept, the
    later one under the next free number; an image kept without a number (an older gallery) too."""
    import json
    import time

    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    code = gallery_store.new_code()
    for seed, item_id in ((4, 3), (5, 3), (6, 3), (7, 9)):
        png = png_bytes(result.image, result.params.replace(seed=seed))
        item = HistoryItem.of(result, png, "render", item_id)
        item.created = time.time() - seed  # made in another order than kept: the order kept counts
        assert gallery_store.keep(code, item, 60)
    unnumbered = sorted((own_uploads / "galleries" / code).glob("*.json"))[2]  # seed 6's
    meta = json.loads(unnumbered.read_text())
    del meta["id"]
    unnumbered.write_text(json.dumps(meta))
    loaded = gallery_store.load(code)
    assert [(read_params(h.png).seed, h.id) for h in loaded] == [(4, 3), (7, 9), (5, 10), (6, 11)]  # by number


def test_pruning_drops_old_galleries_then_the_oldest_images_over_the_size_budget(own_uploads, monkeypatch):
    root = own_uploads / "galleries"
    now = time.time()

    def image(code: str, item_id: int, age_days: float, size: int) -> None:
        (root / code).mkdir(parents=True, exist_ok=True)
        for ext, data in (("png", b"x" * size), ("json", b"{}")):
            path = root / code / f"{item_id:013d}-0000000{item_id}.{ext}"
            path.write_bytes(data)
            os.utime(path, (now - age_days * 86400,) * 2)

    old, fresh = "a" * 22, "b" * 22
    image(old, 1, 9, 10)
    (root / old / gallery_store.NUMBERS_FILE).write_text('{"last": 1}')  # goes with its gallery...
    (root / old / gallery_store.LOCK_FILE).write_bytes(b"")  # ...as does its lock
    image(fresh, 1, 3, 600_000)
    image(fresh, 2, 1, 600_000)
    (root / "not-ours").mkdir()
    (root / "not-ours" / "1.png").write_bytes(b"kept")
    image("not-ours", 3, 30, 10)  # laid out as a gallery, and old, but its folder's name is no gallery code
    (root / "not-ours" / gallery_store.NUMBERS_FILE).write_text('{"last": 3}')
    (root / ("c" * 22)).symlink_to(root / "not-ours")  # a gallery's name, but a link to another folder
    monkeypatch.setenv(gallery_store.MB_ENV, "1")  # 1 MiB: the two 600 kB images do not both fit
    removed = prune_galleries(now=now)
    assert not (root / old).exists()  # untouched for more than 7 days (the default)
    left = sorted(p.name for p in (root / fresh).iterdir())
    assert left == ["0000000000002-00000002.json", "0000000000002-00000002.png"]  # the older image went
    assert (root / "not-ours" / "1.png").read_bytes() == b"kept"  # never a file keep() did not make
    foreign = ["0000000000003-00000003.json", "0000000000003-00000003.png", "1.png", gallery_store.NUMBERS_FILE]
    assert sorted(p.name for p in (root / "not-ours").iterdir()) == sorted(foreign)  # nor a folder it did not make
    assert len(removed) == 6  # with the old gallery's numbers.json and .lock


def test_the_size_budget_counts_the_clips_a_gallery_keeps_once_each(own_uploads, monkeypatch):
    """A clip counts like an image, once however many galleries link it; it goes with the last
    image that names it, unless the gallery's knobs still name it."""
    import json

    root = own_uploads / "galleries"
    now = time.time()
    folder = "0" * 16

    def clip(code: str, name: str, size: int = 0, linked_from: Path | None = None) -> Path:
        path = root / code / gallery_store.CLIPS / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(linked_from, path) if linked_from else path.write_bytes(b"R" * size)
        return path

    def image(code: str, item_id: int, age_days: float, clip_name: str) -> Path:
        (root / code).mkdir(parents=True, exist_ok=True)
        sidecar = {"params": {"audio_path": f"/srv/uploads/{folder}/{clip_name}"}}
        for ext, data in (("png", b"x" * 10), ("json", json.dumps(sidecar).encode())):
            path = root / code / f"{item_id:013d}-0000000{item_id}.{ext}"
            path.write_bytes(data)
            os.utime(path, (now - age_days * 86400,) * 2)
        return path.with_suffix(".png")

    one, two = "e" * 22, "f" * 22
    shared = clip(one, "shared.wav", 300_000)
    clip(two, "shared.wav", linked_from=shared)  # the same upload in two galleries: one copy on disk
    old_image, old_clip = image(one, 1, 3, "old.wav"), clip(one, "old.wav", 400_000)
    pinned_image, pinned = image(one, 2, 2, "pinned.wav"), clip(one, "pinned.wav", 100_000)
    (root / one / gallery_store.KNOBS_FILE).write_text(
        json.dumps({"params": {"audio_path": f"/u/{folder}/pinned.wav"}})
    )
    new_images = [image(one, 3, 1, "shared.wav"), image(two, 4, 1, "shared.wav")]
    monkeypatch.setenv(gallery_store.MB_ENV, str(0.5))  # 512 KiB: 300 + 400 + 100 kB of clips do not fit

    removed = prune_galleries(now=now)
    assert sorted(removed) == sorted([old_image, old_image.with_suffix(".json"), old_clip]), removed
    assert pinned_image.exists() and pinned.exists() and shared.exists() and all(p.exists() for p in new_images)

    monkeypatch.setenv(gallery_store.MB_ENV, str(0.35))  # 367 kB: 300 + 100 kB of clips do not fit
    removed = prune_galleries(now=now)
    assert pinned_image in removed and pinned.exists()  # its image went; the knobs still name the clip
    linked = root / two / gallery_store.CLIPS / folder / "shared.wav"
    assert set(new_images) <= set(removed) and {shared, linked} <= set(removed)  # each with its last image
    assert not shared.exists() and not linked.exists()


def test_deleting_selected_images_asks_first_then_removes_them_from_the_session_and_the_disk(own_uploads):
    """Gallery page: select two of three renders, Delete, confirm. The third keeps its number; a
    reload, and a tab of the gallery opened before, do not break; the Edit page's gallery photo
    picker, pointed at a deleted image, falls back to one still there."""
    at = _open()
    code = _code(at)
    for _ in range(3):
        render(at)
    other_tab = _open(code)  # opened before the delete: still shows all three from memory
    folder = own_uploads / "galleries" / code
    stems = {h.id: h.stem for h in session(at).history}
    assert sorted(stems) == [1, 2, 3] and all((folder / f"{s}.png").is_file() for s in stems.values())
    at.session_state["edit_photo_source"] = "gallery"
    at.switch_page("../pages/edit.py").run()
    at.selectbox(key="edit_gallery_pick").select(1).run()  # the photo to edit: an image about to go
    ok(at)

    at.switch_page("../pages/gallery.py").run()
    ok(at)
    assert at.button(key="del_ask").disabled  # nothing selected: nothing to delete
    at.checkbox(key="sel_1").check().run()
    at.checkbox(key="sel_2").check().run()
    at.button(key="del_ask").click().run()
    ok(at)
    assert [h.id for h in session(at).history] == [1, 2, 3]  # one click alone deletes nothing
    assert len(list(folder.glob("*.png"))) == 3
    assert at.button(key="del_confirm").label == "Delete 2 images"
    at.checkbox(key="sel_2").uncheck().run()  # the selection changed: the question goes...
    assert "del_confirm" not in [b.key for b in at.button]
    at.checkbox(key="sel_2").check().run()  # ...and is not answered by choosing the same images again
    assert "del_confirm" not in [b.key for b in at.button]
    at.button(key="del_ask").click().run()
    assert at.button(key="del_confirm").label == "Delete 2 images"

    at.button(key="del_confirm").click().run()
    ok(at)
    assert [h.id for h in session(at).history] == [3]
    for item_id, stem in stems.items():
        assert (folder / f"{stem}.png").exists() == (folder / f"{stem}.json").exists() == (item_id == 3)
    assert [t.value for t in at.toast] == ["Deleted 2 images from this gallery."]
    assert not at.checkbox(key="sel_3").value and "del_confirm" not in [b.key for b in at.button]
    assert "**0** of 1 selected" in [m.value for m in at.markdown]

    reloaded = _open(code)
    assert [(h.id, h.stem) for h in session(reloaded).history] == [(3, stems[3])]
    render(reloaded)
    assert [h.id for h in session(reloaded).history] == [3, 4]

    for page in ("edit", "gates", "generate", "gallery"):  # nothing that reads the history by number breaks
        at.switch_page(f"../pages/{page}.py").run()
        ok(at)
        if page == "edit":
            picker = at.selectbox(key="edit_gallery_pick")  # what is left, and the reload's render #4
            assert picker.options == ["#4 · (no prompt)", "#3 · (no prompt)"] and picker.value == 4

    other_tab.switch_page("../pages/gallery.py").run()
    ok(other_tab)
    assert [h.id for h in session(other_tab).history] == [3, 4]  # the delete (and the reload's #4) reached it
    assert (folder / f"{stems[3]}.png").is_file()


def test_a_gallery_never_gives_one_number_twice_and_its_tabs_follow_each_other(own_uploads):
    """Two tabs of one gallery take their numbers from it, not each from its own count; each shows
    what the other kept or deleted at its next run, and Generate stops showing a render deleted
    (in either tab); the newest image deleted, its number is not given again (a reload included)."""
    at = _open()
    code = _code(at)
    render(at)
    render(at)
    other_tab = _open(code)
    render(other_tab)  # 3
    render(at)  # its own count says 3: the gallery gives 4, and it shows the other tab's 3
    assert [h.id for h in session(at).history] == [1, 2, 3, 4]
    assert [h.id for h in session(other_tab).history] == [1, 2, 3]  # no run of its own since
    assert [h.id for h in session(_open(code)).history] == [1, 2, 3, 4]  # nothing renumbered on reload

    at.switch_page("../pages/gallery.py").run()
    at.checkbox(key="sel_3").check().run()
    at.checkbox(key="sel_4").check().run()
    at.button(key="del_ask").click().run()
    at.button(key="del_confirm").click().run()
    ok(at)
    at.switch_page("../pages/generate.py").run()
    ok(at)
    assert session(at).render.result is None and "dl_render_4" not in [b.key for b in at.get("download_button")]
    assert any(c.value.startswith("Full quality with the settings") for c in at.caption)
    other_tab.run()  # its next run: the other tab's delete reaches it, its own render #3 included
    ok(other_tab)
    assert [h.id for h in session(other_tab).history] == [1, 2] and session(other_tab).render.result is None
    assert any(c.value.startswith("Full quality with the settings") for c in other_tab.caption)

    reloaded = _open(code)
    assert [h.id for h in session(reloaded).history] == [1, 2]
    render(reloaded)
    render(at)
    assert [h.id for h in session(reloaded).history] == [1, 2, 5]  # not 4 again
    assert [h.id for h in session(at).history] == [1, 2, 5, 6]
    assert [h.id for h in session(_open(code)).history] == [1, 2, 5, 6]


def test_numbers_go_on_from_the_images_when_the_gallery_kept_none_or_a_damaged_count(own_uploads):
    """A gallery kept before numbers were counted (or with its count damaged) goes on after its
    images; a disk that refuses leaves the session's own count."""
    code = gallery_store.new_code()
    folder = own_uploads / "galleries" / code
    assert gallery_store.next_number(code, 1) == 1
    assert gallery_store.next_number(code, 1) == 2 and gallery_store.next_number(code, 7) == 7
    for damaged in ("{not json", "[3]", '{"last": "9"}', '{"last": -4}'):
        (folder / gallery_store.NUMBERS_FILE).write_text(damaged)
        assert gallery_store.next_number(code, 5) == 5
    assert json.loads((folder / gallery_store.NUMBERS_FILE).read_text()) == {"last": 5}
    assert not [f for f in folder.iterdir() if ".tmp" in f.name]
    blocked = gallery_store.new_code()
    (own_uploads / "galleries" / blocked).write_bytes(b"")  # a file where its folder would go
    assert gallery_store.next_number(blocked, 3) is None


def test_a_file_system_without_locks_still_numbers_and_keeps_the_knobs(own_uploads, monkeypatch):
    """Some network mounts refuse flock: the gallery then writes unlocked (as before it locked),
    instead of keeping neither numbers nor knobs."""
    import errno
    import fcntl

    def refused(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refused)
    code = gallery_store.new_code()
    assert gallery_store.next_number(code, 1) == 1 and gallery_store.next_number(code, 1) == 2
    assert gallery_store.update_knobs(code, lambda kept: {"version": 1, "seen": kept})
    assert gallery_store.load_knobs(code, touch=False) == {"version": 1, "seen": None}


def test_forget_removes_the_files_of_those_images_and_the_clips_only_they_named(
    tiny_engine, tiny_params, own_uploads, monkeypatch
):
    """One image's PNG is gone already (another tab deleted it); a clip only the deleted images
    named goes, one a kept image or the knobs name stays; of two images another tab kept under one
    number, the one named goes; a file the disk refuses is returned."""
    import json

    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    code = gallery_store.new_code()
    upload = own_uploads / ("0" * 16)
    upload.mkdir(parents=True)
    items = []
    for i, clip in enumerate(["only.wav", "shared.wav", "shared.wav", "knobs.wav", None, None], start=1):
        path = None
        if clip is not None:
            (upload / clip).write_bytes(b"RIFF" + clip.encode())
            path = str(upload / clip)
        params = result.params.replace(seed=i, audio_path=path)
        item = HistoryItem.of(result, png_bytes(result.image, params), "render", i if i < 6 else 3, params=params)
        assert gallery_store.keep(code, item, 60) and item.stem
        items.append(item)
    folder = own_uploads / "galleries" / code
    clips = folder / gallery_store.CLIPS / upload.name
    (folder / gallery_store.KNOBS_FILE).write_text(json.dumps({"params": {"audio_path": str(upload / "knobs.wav")}}))
    (folder / f"{items[0].stem}.png").unlink()  # already gone

    refused = gallery_store.forget(code, [items[0].stem, items[1].stem, items[3].stem, "../../etc/passwd"])
    assert refused == []
    left = sorted(f.name for f in folder.glob("*.png"))
    assert left == [f"{items[i].stem}.png" for i in (2, 4, 5)]
    assert sorted(f.name for f in folder.glob("*-*.json")) == [f"{items[i].stem}.json" for i in (2, 4, 5)]
    assert sorted(f.name for f in clips.iterdir()) == ["knobs.wav", "shared.wav"]  # only.wav went
    loaded = gallery_store.load(code)
    assert [(h.id, h.stem) for h in loaded] == [(3, items[2].stem), (5, items[4].stem), (6, items[5].stem)]
    assert gallery_store.forget(code, [loaded[2].stem]) == []  # shown as #6, kept as #3 by another tab
    assert [(h.id, h.stem) for h in gallery_store.load(code)] == [(3, items[2].stem), (5, items[4].stem)]

    real_unlink = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".json":
            raise PermissionError(13, "read-only", str(self))
        real_unlink(self, missing_ok=missing_ok)

    with monkeypatch.context() as patched:
        patched.setattr(Path, "unlink", refuse)
        assert gallery_store.forget(code, [items[2].stem]) == [folder / f"{items[2].stem}.json"]
    assert [h.id for h in gallery_store.load(code)] == [5]  # its PNG went: it is not read back
    assert gallery_store.forget("not a code", [items[4].stem]) == [] and len(gallery_store.load(code)) == 1


def test_forget_never_removes_a_file_outside_the_gallery(tiny_engine, tiny_params, own_uploads):
    """A stem or a code that is a path ('../x') names nothing: the files it would reach stay."""
    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    code = gallery_store.new_code()
    item = HistoryItem.of(result, png_bytes(result.image, result.params), "render", 1)
    assert gallery_store.keep(code, item, 60)
    root = own_uploads / "galleries"
    outside = [root / "victim.png", root / "victim.json", own_uploads / f"{item.stem}.png"]
    for path in outside:
        path.write_bytes(b"not the gallery's")
    assert gallery_store.forget(code, ["../victim"]) == []
    assert gallery_store.forget("..", [item.stem]) == []  # galleries/../<stem>.png is an upload's place
    assert all(path.read_bytes() == b"not the gallery's" for path in outside)
    assert [h.stem for h in gallery_store.load(code)] == [item.stem]


def test_opening_a_gallery_counts_its_age_from_now(tiny_engine, tiny_params, own_uploads):
    """Reading a gallery's images (a reload, a bookmark) or its knobs touches them: a gallery opened
    today is not pruned as one untouched for a week; one that only has an old image beside a fresh one
    is not pruned whole either (only the size budget takes single images)."""
    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    root = own_uploads / "galleries"
    old = time.time() - 9 * 86400

    def aged(code: str) -> None:
        for f in (root / code).iterdir():
            os.utime(f, (old, old))

    images, knobs, mixed = (gallery_store.new_code() for _ in range(3))
    for code in (images, mixed):
        assert gallery_store.keep(code, HistoryItem.of(result, png_bytes(result.image, result.params), "render", 1), 60)
        aged(code)
    assert gallery_store.update_knobs(knobs, lambda kept: {"version": 1})
    aged(knobs)
    assert gallery_store.keep(mixed, HistoryItem.of(result, png_bytes(result.image, result.params), "render", 2), 60)

    assert len(gallery_store.load(images)) == 1  # opened
    assert gallery_store.load_knobs(knobs) == {"version": 1}  # opened
    assert prune_galleries() == []
    assert len(list((root / images).glob("*.png"))) == 1 and (root / knobs / gallery_store.KNOBS_FILE).is_file()
    assert len(list((root / mixed).glob("*.png"))) == 2


def test_images_kept_within_one_millisecond_keep_their_order(tiny_engine, tiny_params, own_uploads, monkeypatch):
    """Keep of a comparison adds many images at once: their names follow the order kept even when
    the clock has not moved, so the limit drops the oldest, not a random one."""
    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    monkeypatch.setattr(gallery_store, "time", SimpleNamespace(time=lambda: 1_700_000_000.0))  # a still clock
    code = gallery_store.new_code()
    for i in range(1, 9):
        item = HistoryItem.of(result, png_bytes(result.image, result.params.replace(seed=i)), "render", i)
        assert gallery_store.keep(code, item, limit=5)
    assert [read_params(h.png).seed for h in gallery_store.load(code)] == [4, 5, 6, 7, 8]


def test_a_kept_comparison_image_comes_back_with_its_caption_and_when_it_was_made(
    tiny_engine, tiny_params, own_uploads
):
    """A comparison's tile is titled by its caption in the Gallery ('#3 · Demucs stems · …'), not by
    its prompt like every other tile of it: a reload keeps that title, its kind and its age."""
    from core.export import png_bytes
    from studio.history import HistoryItem

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    code = gallery_store.new_code()
    item = HistoryItem.of(result, png_bytes(result.image, result.params), "compare", 3, caption="Demucs stems · fg")
    item.created = 1_700_000_000.5
    assert gallery_store.keep(code, item, 60)
    (back,) = gallery_store.load(code)
    assert (back.title, back.kind, back.created) == ("#3 · Demucs stems · fg", "compare", 1_700_000_000.5)
    assert (back.device, back.dtype) == (item.device, item.dtype)


def test_a_gallery_keeps_its_newest_images_up_to_the_limit(tiny_engine, tiny_params, own_uploads):
    """Past HISTORY_LIMIT images the oldest go, from the session and from the disk alike; a session
    restoring more than the limit keeps the newest too."""
    from core.export import png_bytes
    from studio.history import HISTORY_LIMIT, HistoryItem
    from studio.session import Session

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    png = png_bytes(result.image, result.params)
    last = HISTORY_LIMIT + 2
    made = Session(params=tiny_params, gallery_code=gallery_store.new_code())
    for i in range(1, last + 1):
        made.add_history(HistoryItem.of(result, png, "render", i))
    newest = list(range(3, last + 1))
    assert [h.id for h in made.history] == newest
    assert [h.id for h in gallery_store.load(made.gallery_code)] == newest

    restored = Session(params=tiny_params)
    restored.restore_history([HistoryItem.of(result, png, "render", i) for i in range(1, last + 1)])
    assert [h.id for h in restored.history] == newest


def test_an_image_the_disk_refused_stays_in_its_tab_when_another_tab_changes_the_gallery(
    tiny_engine, tiny_params, own_uploads
):
    """An image whose keep failed (no stem) is in this tab's memory only: a listing that brings
    another tab's image must not drop it."""
    from core.export import png_bytes
    from studio.history import HistoryItem
    from studio.session import Session

    result = tiny_engine.generate(tiny_params.replace(steps=2))
    png = png_bytes(result.image, result.params)
    tab = Session(params=tiny_params, gallery_code=gallery_store.new_code())
    tab.add_history(HistoryItem.of(result, png, "render", 1))
    tab.history.append(HistoryItem.of(result, png, "render", 2))  # as when the disk refused its keep
    assert gallery_store.keep(tab.gallery_code, HistoryItem.of(result, png, "render", 3), 60)  # another tab's
    assert gallery_store.sync(tab)
    assert [(h.id, bool(h.stem)) for h in tab.history] == [(1, True), (2, False), (3, True)]
