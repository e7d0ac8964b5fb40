"""The gallery survives a server restart, in a real browser against two real server processes
(studio/gallery_store.py): a render made on the first is in the Gallery of the second when the
same address (its `?gallery=` code) is opened, and it recalls into Generate."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from tests.e2e.conftest import new_page
from tests.e2e.helpers import button, open_studio, render, shot, small_and_fast, wait_render
from tests.e2e.studio_server import studio_server


def test_the_gallery_survives_a_server_restart(browser, tmp_path):
    uploads = tmp_path / "uploads"  # both servers keep files here, as one deployment would
    with studio_server(uploads, log_name="gallery_restart_1.log") as url:
        pg = new_page(browser)
        open_studio(pg, url)
        small_and_fast(pg)
        render(pg, seed=11)
        wait_render(pg, 11)
        expect(pg).to_have_url(re.compile(r"[?&]gallery=[A-Za-z0-9_-]{16,}"))
        code = parse_qs(urlparse(pg.url).query)["gallery"][0]
        pg.context.close()
    kept = sorted((uploads / "galleries" / code).iterdir())
    assert kept[0].name == ".lock" and [p.suffix for p in kept[1:3]] == [".json", ".png"]
    assert [p.name for p in kept[3:]] == ["knobs.json", "numbers.json"]

    with studio_server(uploads, log_name="gallery_restart_2.log") as url:  # a new process: nothing in memory
        pg = new_page(browser)
        pg.goto(f"{url}/gallery?gallery={code}")
        card = pg.get_by_text(re.compile(r"seed 11 · 64×64 · 6 steps"))
        card.wait_for()
        expect(pg.get_by_text(re.compile(r"gallery code in this page's address"))).to_be_visible()
        expect(pg.locator("[data-testid=stImage] img")).to_have_count(1)
        expect(pg.locator(".st-key-ui_preview_side input")).to_have_value("64")  # the knobs came back (not 128)
        shot(pg, "gallery_after_restart")
        pg.locator(button("recall_1")).click()  # its settings go back into Generate
        expect(pg.locator(".st-key-w_seed input")).to_have_value("11")
        pg.context.close()

        other = new_page(browser)  # another browser, without the code: its own, empty gallery
        other.goto(f"{url}/gallery")
        other.get_by_text("No renders yet").wait_for()
        other.context.close()
