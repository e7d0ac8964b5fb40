"""The Train page in a real browser: make the demo dataset, start a tiny stage-1 run, watch its loss curve
fill from metrics.jsonl, stop it (a checkpoint is saved) and see the state change."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import button, cut_short, shot
from tests.train_helpers import make_dataset


def test_start_watch_and_stop_a_run(page, server, server_dirs):
    from core import read_metrics, read_status

    assert not server_dirs["datasets"].exists() or not any(server_dirs["datasets"].iterdir())  # a new studio
    page.goto(f"{server}/train")
    page.locator(button("train_make_demo")).click()  # its empty state offers the demo dataset
    expect(page.get_by_text("Usable rows")).to_be_visible()
    expect(page.locator("[data-testid=stMetricValue]").first).to_have_text("6")
    assert (server_dirs["datasets"] / "demo" / "metadata.jsonl").is_file()  # chosen: the page's only dataset
    page.locator(".st-key-train_run_name input").fill("browser-run")
    page.locator(".st-key-train_steps input").fill("100000")
    page.locator(".st-key-train_steps input").press("Enter")  # starts nothing: Enter in a box started a run
    expect(page.locator(".st-key-train_steps")).not_to_contain_text("Press Enter")  # the form's own hint
    assert not (server_dirs["runs"] / "browser-run").exists()
    page.locator(button("train_start")).click()

    run = server_dirs["runs"] / "browser-run"
    expect(page.get_by_text(re.compile(r"Run\s+browser-run"))).to_be_visible()
    # The curve draws the logged steps: wait until the page shows step 3 or later.
    expect(page.locator(button("train_stop"))).to_be_visible()
    page.get_by_text(re.compile(r"training · stage 1 \(alignment\) · step ([3-9]|\d\d+) of 100000")).wait_for()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    assert len([m for m in read_metrics(run) if "loss" in m]) >= 3
    # The Runs list follows the run too (drawn once, it said 'starting · step 0/?' until the run ended).
    page.get_by_text(re.compile(r"^Runs \(\d+\)$")).click()
    page.get_by_text(re.compile(r"browser-run · training · stage 1 · step ([3-9]|\d\d+)/100000")).wait_for()
    shot(page, "train_running")

    page.locator(button("train_stop")).click()
    page.get_by_text(re.compile(r"^stopped · stage 1 \(alignment\)")).wait_for()
    status = read_status(run)
    assert status["state"] == "stopped" and status["last_checkpoint"]
    expect(page.locator(".st-key-train_stop")).to_have_count(0)
    # The whole page follows, not only the run's fragment: Start is back and the "training" note gone.
    expect(page.locator(button("train_start"))).to_be_enabled()
    expect(page.get_by_text("A run is training")).to_have_count(0)
    # The Runs list opened above stays open (that note gone moved it down the page: it closed).
    expect(page.get_by_text(re.compile(r"browser-run · stopped · stage 1"))).to_be_visible()
    shot(page, "train_stopped")

    page.locator(button("train_resume")).click()  # from its last checkpoint
    page.get_by_text(re.compile(r"training · stage 1 \(alignment\)")).wait_for()
    expect(page.locator(button("train_start"))).to_be_disabled()
    page.locator(button("train_stop")).click()
    page.get_by_text(re.compile(r"^stopped · stage 1 \(alignment\)")).wait_for()
    assert read_status(run)["step"] >= status["step"]  # it went on from where it stopped


def test_a_finished_run_opens_in_generate_in_trained_mode(page, server, server_dirs, train_bundle):
    """The button sits in the run's fragment: its click must still take the whole app to Generate,
    with trained mode and the run's checkpoint in the sidebar. The run is trained in the test's
    process, on the shared tiny models (the page started one of its own above)."""
    from core.train.loop import train
    from tests.train_helpers import tiny_config

    make_dataset(server_dirs["datasets"] / "tones", n=4)
    config = tiny_config(server_dirs["datasets"] / "tones", server_dirs["runs"] / "finished", 1, stage_steps=(2, 1, 1))
    assert train(config, bundle=train_bundle, progress=False, log=lambda _: None).state == "done"
    page.goto(f"{server}/train")
    page.get_by_text(re.compile(r"Runs \(\d+\)")).click()
    page.locator(button("train_show_finished")).click()
    page.get_by_text(re.compile(r"^done · stage 1 \(alignment\)")).wait_for()
    page.set_viewport_size({"width": 1024, "height": 900})  # in a quarter of the page it read "Open in Ge…"
    expect(page.locator(button("train_open"))).to_be_visible()
    assert cut_short(page) == []
    page.locator(button("train_open")).click()
    page.locator(button("btn_render")).wait_for()  # Generate (the default page), with trained mode's checkpoint box:
    expect(page.locator(".st-key-w_checkpoint input")).to_have_value(str(server_dirs["runs"] / "finished" / "final"))
    shot(page, "train_opened_in_generate")
