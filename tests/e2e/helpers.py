"""Driving the studio's pages in the browser tests (Streamlit puts `st-key-<key>` on every keyed
element's container, so widgets are found by their key)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.studio_server import ARTIFACTS


def button(key: str) -> str:
    """The button itself (not its help icon) of the widget with `key`."""
    return f".st-key-{key} button[data-testid^=stBaseButton] >> visible=true"


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_studio(pg, url: str) -> None:
    pg.goto(url)
    pg.locator(button("btn_render")).wait_for()
    pg.locator(".st-key-preview_box img").first.wait_for()  # the session's first run is over


def set_number(pg, key: str, value: int) -> None:
    box = pg.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))


def set_slider(pg, key: str, presses: list[str]) -> None:
    handle = pg.locator(f".st-key-{key} input[type=range]").first
    handle.focus()
    for key_name in presses:
        handle.press(key_name)


def small_and_fast(pg, steps: int = 6, size: int = 64) -> None:
    """Tiny images, few steps: the sidebar's preview settings and the size/steps widgets."""
    set_number(pg, "ui_preview_steps", 3)
    set_number(pg, "ui_preview_side", 64)
    set_number(pg, "w_width", size)
    set_number(pg, "w_height", size)
    set_slider(pg, "w_steps", ["End"] if steps == 100 else ["Home"] + ["ArrowRight"] * (steps - 1))
    expect(pg.locator(".st-key-w_steps")).to_contain_text(str(steps))
    # The preview has caught up with these settings.
    pg.locator(".st-key-preview_box").get_by_text(re.compile(r"3 steps · 64×64")).wait_for()


def pick_sample(pg, name: str) -> None:
    pg.locator(".st-key-w_sample").click()
    pg.get_by_role("option", name=name, exact=True).click()
    expect(pg.locator(".st-key-w_sample [role=combobox]")).to_have_value(name)


def render(pg, seed: int | None = None) -> None:
    if seed is not None:
        set_number(pg, "w_seed", seed)
    pg.locator(button("btn_render")).click()


def wait_render(pg, seed: int, size: int = 64) -> None:
    pg.locator(".st-key-render_box").get_by_text(re.compile(rf"seed {seed} · {size}×{size}")).wait_for()
    expect(pg.locator(".st-key-render_box img")).to_be_visible()


def clipped_labels(pg, where: str) -> list[str]:
    """Tick labels and titles of the charts in `where` that reach outside their chart, and charts
    whose content is wider than their box (what 'foregroun' and 'nake hissin' were)."""
    return pg.evaluate(
        """(where) => {
            const out = [];
            for (const chart of document.querySelectorAll(where + ' [data-testid=stPlotlyChart]')) {
                if (chart.scrollWidth > chart.clientWidth + 1) out.push('chart overflows');
                const frame = chart.getBoundingClientRect();
                for (const t of chart.querySelectorAll('.ytick text, .gtitle, .annotation-text, .xtitle, .ytitle')) {
                    const r = t.getBoundingClientRect();
                    if (r.left < frame.left - 1 || r.right > frame.right + 1) out.push(t.textContent);
                }
            }
            return out;
        }""",
        where,
    )


def cut_short(pg) -> list[str]:
    """Widget labels, buttons and paragraphs shown with an ellipsis (wider than their box): a seed
    button read "Ran…", a toggle "New seed every…", "Scores (CLIP)" "Scores (CL…" (1 px too wide:
    where the text ends in an ellipsis, any overflow counts). A button's label is cut on the Markdown
    block inside it (its <p> is inline: its widths say nothing). A select's value is the text of
    its combobox input, cut without an ellipsis ("DPM+", "bac"): the value is listed when the text
    is wider than the input."""
    return pg.evaluate(
        """() => [...document.querySelectorAll('[data-testid=stWidgetLabel] p, [data-testid=stWidgetLabel] div,'
              + ' button p, button, button [data-testid=stMarkdownContainer], label p, [data-testid=stMarkdownContainer] p')]
            .filter(e => e.offsetParent !== null
                && e.scrollWidth > e.clientWidth + (getComputedStyle(e).textOverflow === 'ellipsis' ? 0 : 1))
            .map(e => e.textContent)
            .concat([...document.querySelectorAll('input[role=combobox]')]
                .filter(e => e.offsetParent !== null && e.value && e.scrollWidth > e.clientWidth + 1)
                .map(e => e.value))"""
    )


def nav_cut(pg) -> list[str]:
    """The top navigation's entries drawn past its right edge or the window's ("Train" ran 4 px past
    a 1024-px window: Streamlit moves entries into "N more" by the nav's width, its padding included)."""
    return pg.evaluate(
        """() => {
            const nav = document.querySelector('[data-testid=stTopNav]');
            if (!nav) return [];
            const edge = Math.min(nav.getBoundingClientRect().right - parseFloat(getComputedStyle(nav).paddingRight),
                                  window.innerWidth);
            return [...nav.querySelectorAll('.rc-overflow-item:not([aria-hidden=true])')]
                .filter(i => i.getBoundingClientRect().width > 0
                    && i.getBoundingClientRect().right > edge + 0.5)
                .map(i => i.textContent);
        }"""
    )


def overprinted(pg, where: str) -> list[str]:
    """Text of the charts in `where` drawn over other things: a label or the legend over a bar (a
    heard label over the bar above it, "text tokens 5.66" over the norms), and a legend over its
    chart's title ("foreground" over "Level used at each step"). The shares written inside the bars
    are not looked at."""
    return pg.evaluate(
        """(where) => {
            const out = [];
            const meets = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
                && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
            for (const chart of document.querySelectorAll(where + ' [data-testid=stPlotlyChart]')) {
                const bars = [...chart.querySelectorAll('.barlayer .point path')].map(b => b.getBoundingClientRect())
                    .filter(r => r.width > 0 && r.height > 0);
                const texts = [...chart.querySelectorAll('.annotation-text, .legendtext')];
                for (const t of texts) {
                    const r = t.getBoundingClientRect();
                    if (bars.some(b => meets(r, b))) out.push(t.textContent);
                }
                const title = chart.querySelector('.gtitle');
                for (const t of title ? chart.querySelectorAll('.legendtext, .legendsymbols') : []) {
                    if (meets(t.getBoundingClientRect(), title.getBoundingClientRect())) out.push(t.textContent || 'legend');
                }
            }
            return out;
        }""",
        where,
    )
