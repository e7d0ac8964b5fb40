"""The Sweep page in a real browser: two axes, run, the heatmap, a tile opened in Generate; at 1024 px
(the narrowest the studio is laid out for) and 1280 px, no control label cut short and heatmap labels
that fit their cells."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import button, clipped_labels, cut_short, open_studio, shot, small_and_fast


def _title_above_chart(pg) -> bool:
    """Whether the heatmap's title starts above its chart (plotly lifts a wrapped title by half a line)."""
    return pg.evaluate(
        """() => { const c = document.querySelector('.st-key-sweep_heatmap [data-testid=stPlotlyChart]');
                   return c.querySelector('.gtitle').getBoundingClientRect().top < c.getBoundingClientRect().top; }"""
    )


def _cell_labels(pg) -> list[tuple[str, float, float]]:
    """(text, width, cell width) of each heatmap cell label, once the chart fills its column again."""
    pg.wait_for_function(
        """() => { const c = document.querySelector('.st-key-sweep_heatmap [data-testid=stPlotlyChart]');
                   const svg = c && c.querySelector('.main-svg');
                   return svg && Math.abs(svg.getBoundingClientRect().width - c.clientWidth) < 2; }"""
    )
    return pg.evaluate(
        """() => { const chart = document.querySelector('.st-key-sweep_heatmap .js-plotly-plot');
                   const cell = chart.querySelector('.nsewdrag').getBoundingClientRect().width
                       / chart.querySelectorAll('.xtick').length;
                   return [...chart.querySelectorAll('.heatmaplayer text')]
                       .map(t => [t.textContent, t.getBoundingClientRect().width, cell]); }"""
    )


def test_sweep_two_axes_heatmap_and_recall(page, server):
    page.set_viewport_size({"width": 1024, "height": 900})
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
    expect(page.locator("[data-testid=stStatusWidget]")).to_be_hidden()
    for width in (1024, 1280):  # "Scores (CL…", and labels run together ('30.0165000.016548') at 1024
        page.set_viewport_size({"width": width, "height": 900})
        labels = _cell_labels(page)
        assert len(labels) == 4 and all(w + 4 <= cell for _, w, cell in labels), (width, labels)
        assert cut_short(page) == [], f"sweep at {width} px: labels cut short"
        assert clipped_labels(page, ".st-key-sweep_heatmap") == [] and not _title_above_chart(page), width
        shot(page, f"sweep_done_{width}")

    wanted = "Norm target: 90 · Foreground weight: 1.4"
    page.locator(".st-key-sweep_tile").scroll_into_view_if_needed()  # below the fold: a click that scrolls shuts it
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
