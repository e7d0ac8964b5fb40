"""The Sweep page in a real browser: two axes, run, the heatmap, a tile opened in Generate."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import button, open_studio, shot, small_and_fast


def test_sweep_two_axes_heatmap_and_recall(page, server):
    open_studio(page, server)
    small_and_fast(page, steps=3)
    page.get_by_role("link", name="Sweep").click()
    for key, values in (("sweep_x_values", "0.2,1.4"), ("sweep_y_values", "30,90")):
        box = page.locator(f".st-key-{key} input")
        box.fill(values)
        box.press("Enter")
        expect(box).to_have_value(values)
    page.locator(button("sweep_run")).click()
    heatmap = page.locator(".st-key-sweep_heatmap .js-plotly-plot")
    expect(heatmap).to_be_visible()
    expect(heatmap).to_contain_text("Foreground weight")  # the X axis title, in the sliders' words
    expect(heatmap).to_contain_text("Norm target")  # the Y axis title
    shot(page, "sweep_done")

    wanted = "Norm target: 90 · Foreground weight: 1.4"
    page.locator(".st-key-sweep_tile").click()
    page.get_by_role("option", name=wanted, exact=True).click()
    expect(page.locator(".st-key-sweep_tile [role=combobox]")).to_have_value(wanted)
    expect(page.locator("[data-testid=stStatusWidget]")).to_be_hidden()  # the choice reached the server
    page.locator(button("sweep_recall")).click()
    expect(page.locator(".st-key-w_weight_fg")).to_contain_text("1.40")
    expect(page.locator(".st-key-w_norm_target")).to_contain_text("90")

    # A second sweep: the tile picker starts at the new grid's first tile, never the old choice's
    # index under the old grid's label.
    page.get_by_role("link", name="Sweep").click()
    box = page.locator(".st-key-sweep_x_values input")
    box.fill("0.3,0.9")
    box.press("Enter")
    expect(box).to_have_value("0.3,0.9")
    page.locator(button("sweep_run")).click()
    expect(page.locator(".st-key-sweep_tile [role=combobox]")).to_have_value("Norm target: 30 · Foreground weight: 0.3")
