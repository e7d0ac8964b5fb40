"""The Generate loop, two sessions, Cancel, a silent upload and Compare in a real browser
(fixtures: conftest.py; page helpers: helpers.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import T
from tests.e2e.helpers import (
    ARTIFACTS,
    button,
    open_studio,
    pick_sample,
    render,
    set_number,
    set_slider,
    shot,
    small_and_fast,
    wait_render,
)


def test_render_live_preview_gates_and_download(page, server):
    from core.export import read_params

    open_studio(page, server)
    shot(page, "01_start")
    small_and_fast(page)
    pick_sample(page, "rain")
    page.locator(".st-key-preview_box").get_by_text(re.compile(r"3 steps · 64×64")).wait_for()

    render(page, seed=5)
    wait_render(page, 5)
    shot(page, "02_rendered")

    # Move a hierarchy slider: the live preview re-renders (its image URL changes with its content).
    preview_img = page.locator(".st-key-preview_box img").first
    before = preview_img.get_attribute("src")
    set_slider(page, "w_weight_fg", ["ArrowLeft"] * 6)  # 0.70 -> 0.40
    expect(page.locator(".st-key-w_weight_fg")).to_contain_text("0.40")
    expect(preview_img).not_to_have_attribute("src", before)
    # Let the preview of the final value finish before leaving the page: a page switch during the
    # fragment run that carries the last slider value can lose it (known race, see the notes).
    preview_caption = page.locator(".st-key-preview_box").get_by_text(
        re.compile(r"weights 0\.40/0\.50/0\.30 · denoise")
    )
    preview_caption.wait_for()
    expect(page.locator("[data-testid=stStatusWidget]")).to_be_hidden()
    shot(page, "03_preview_changed")

    # Download the render and read its parameters back.
    with page.expect_download() as info:
        page.locator(".st-key-render_box").get_by_role("button", name="Download PNG").click()
    path = ARTIFACTS / info.value.suggested_filename
    info.value.save_as(path)
    params = read_params(path)
    assert (params.seed, params.width, params.height, params.steps) == (5, 64, 64, 6)
    assert params.models == "tiny" and params.audio_path.endswith("rain.wav") and params.audio_sha256
    assert params.level_weights == pytest.approx((0.7, 0.5, 0.3))  # the render's, not the moved slider's

    # The Gates page draws the render's trace.
    page.get_by_role("link", name="Gates").click()
    charts = page.locator("[data-testid=stPlotlyChart]")
    charts.nth(3).wait_for()
    assert charts.count() >= 4
    expect(page.locator(".js-plotly-plot").nth(3)).to_be_visible()
    shot(page, "04_gates")
    with page.expect_download() as info:  # named like the image's PNG, with its kind and id
        page.get_by_role("button", name="Trace (JSON)").click()
    name = info.value.suggested_filename
    assert re.fullmatch(r"clap2diff_5_\w+_[0-9a-f]{6}_(render-\d+|preview)_trace\.json", name), name
    info.value.save_as(ARTIFACTS / name)
    assert json.loads((ARTIFACTS / name).read_text())["steps"] in (3, 6)

    # Back on Generate: the moved slider, the clip and the render are all still there.
    page.get_by_role("link", name="Generate").click()
    expect(page.locator(".st-key-w_weight_fg")).to_contain_text("0.40")
    expect(page.locator(".st-key-w_sample [role=combobox]")).to_have_value("rain")
    wait_render(page, 5)


def test_two_sessions_each_get_their_own_image(browser, server):
    contexts = [browser.new_context(viewport={"width": 1440, "height": 1400}) for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            pg.set_default_timeout(T)
            open_studio(pg, server)
            small_and_fast(pg)
        for pg, seed in zip(pages, (111, 222), strict=True):
            set_number(pg, "w_seed", seed)
        for pg in pages:  # both at once: the engine lock serialises them
            pg.locator(button("btn_render")).click()
        for pg, seed in zip(pages, (111, 222), strict=True):
            wait_render(pg, seed)
        for i, pg in enumerate(pages):
            shot(pg, f"05_session_{i + 1}")
        # Each session shows only its own render.
        expect(pages[0].locator(".st-key-render_box")).not_to_contain_text("seed 222")
        expect(pages[1].locator(".st-key-render_box")).not_to_contain_text("seed 111")
    finally:
        for c in contexts:
            c.close()


def test_a_long_render_goes_on_after_a_reload_and_cancel_stops_it(page, server):
    """A reload is a new session: it takes over the render (and the knobs show its settings), so
    Cancel there stops the very render started before."""
    open_studio(page, server)
    small_and_fast(page, steps=100, size=320)  # long enough that the clicks land mid-render on a busy machine
    render(page, seed=4321)
    page.locator(".st-key-render_box").get_by_text(re.compile(r"step \d+/100")).wait_for()
    page.reload()
    page.get_by_text("The render started before the reload goes on here; the knobs show its settings.").wait_for()
    try:
        page.locator(".st-key-render_box").get_by_text(re.compile(r"step \d+/100")).wait_for()
    except Exception:  # keep what the page showed (the toast once came only as the render ended: widgets.follow)
        shot(page, "06_reload_not_following")
        raise AssertionError(f"not following the render: {page.locator('.st-key-render_box').inner_text()!r}") from None
    expect(page.locator(".st-key-w_seed input")).to_have_value("4321")
    expect(page.locator(".st-key-w_width input")).to_have_value("320")
    page.locator(button("btn_cancel")).click()
    page.get_by_text(re.compile(r"Render cancelled after \d+ of 100 steps")).wait_for()  # polls; T under load
    expect(page.locator(button("btn_render"))).to_be_enabled()
    expect(page.locator(".st-key-btn_cancel")).to_have_count(0)  # only there while a render runs
    shot(page, "06_cancelled")


def test_a_reload_keeps_every_knob_the_page_showed(page, server):
    """Knobs kept with the gallery (studio/knob_memory.py), as a browser moves them: a slider in
    Generate's fragment (its reruns never reach app.py), a Compare toggle and a sidebar toggle (their
    runs end in st.stop/st.rerun, after which Streamlit refuses session state reads)."""
    open_studio(page, server)
    weight = page.locator(".st-key-w_weight_fg input[type=range]").first
    before = weight.input_value()
    set_slider(page, "w_weight_fg", ["ArrowRight"] * 3)
    expect(weight).not_to_have_value(before)
    moved = weight.input_value()
    page.locator(".st-key-preview_box").get_by_text(re.compile(rf"weights {float(moved):g}/")).wait_for()
    page.reload()  # only the fragment ran since the slider moved
    expect(weight).to_have_value(moved)
    page.get_by_role("link", name="Compare", exact=True).click()
    without = page.locator(".st-key-cmp_without input[type=checkbox]")
    expect(without).to_be_checked()
    page.locator(".st-key-cmp_without label").click()
    expect(without).not_to_be_checked()
    channels_last = page.locator(".st-key-ui_fast_channels_last input[type=checkbox]")
    expect(channels_last).not_to_be_checked()
    page.locator(".st-key-ui_fast_channels_last label").click()
    expect(channels_last).to_be_checked()
    expect(page.locator("[data-testid=stStatusWidget]")).to_be_hidden()

    page.reload()
    expect(without).not_to_be_checked()
    expect(channels_last).to_be_checked()


def test_silent_upload_shows_a_clear_error(page, server, tmp_path):
    import soundfile as sf

    open_studio(page, server)
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    page.locator(".st-key-w_audio_source").get_by_text("Upload", exact=True).click()
    page.locator(".st-key-w_upload input[type=file]").set_input_files(str(silent))
    page.get_by_text(re.compile(r"silent")).first.wait_for()
    expect(page.get_by_text("Audio problem").first).to_be_visible()
    shot(page, "07_silent_upload")
    # The page keeps working: back to a sample, the preview returns.
    page.locator(".st-key-w_audio_source").get_by_text("Sample clip", exact=True).click()
    page.locator(".st-key-preview_box img").first.wait_for()


MARKDOWN_PROMPT = "a *neon* street [x](http://example.com) _under_ `code` for $5 at www.example.org"


def test_compare_separated_vs_mixed(page, server):
    """Mixed vs Demucs stems vs bands with one seed: the images, the parts, and the grid download."""
    from core.export import read_grid

    open_studio(page, server)
    set_number(page, "ui_preview_steps", 3)  # Compare runs at preview quality: 3 steps, 64 px
    set_number(page, "ui_preview_side", 64)
    prompt = page.locator(".st-key-w_prompt textarea")  # Markdown in a prompt is shown as typed, never rendered
    prompt.fill(MARKDOWN_PROMPT)
    prompt.press("Control+Enter")
    page.get_by_role("link", name="Compare").click()
    line = page.locator("[data-testid=stMarkdownContainer]", has_text="Prompt:")
    expect(line).to_contain_text("neon")
    assert line.inner_text().replace("\u2060", "").startswith(f"Prompt: {MARKDOWN_PROMPT} · audio:")
    expect(line.locator("a, em, code, .katex")).to_have_count(0)
    alone = page.locator(".st-key-cmp_alone")
    alone.get_by_text("Each level alone").click()  # keep it to one row of images: fast
    expect(alone.locator("input")).not_to_be_checked()
    page.locator(button("cmp_run")).click()
    # The first image shows while the run goes on (the strip of finished tiles exists only then).
    expect(page.locator("[class*='st-key-partial_'] img").first).to_be_visible()
    expect(page.locator(button("cmp_cancel"))).to_be_enabled()
    shot(page, "08_compare_running")

    for key in ("mix", "stems", "bands", "no_audio"):
        expect(page.locator(f".st-key-cmp_cell_{key} img")).to_be_visible()
    expect(page.locator(".st-key-cmp_cell_stems")).to_contain_text("Demucs stems")
    expect(page.locator(".st-key-cmp_part_stems_vocals")).to_be_attached()  # every stem has its card
    shot(page, "08_compare")

    with page.expect_download() as info:
        page.locator(button("cmp_grid")).click()
    path = ARTIFACTS / "compare_grid.png"
    info.value.save_as(path)
    tiles = read_grid(path)
    assert [t.params.sources for t in tiles] == ["mix", "mix", "stems", "bands"]  # no audio, then the modes
    assert tiles[0].params.audio_strength == 0 and tiles[2].caption.startswith("Demucs stems")
    assert len({(t.params.seed, t.params.prompt, t.params.width, t.params.steps) for t in tiles}) == 1
    assert tiles[0].params.prompt == MARKDOWN_PROMPT
    title = page.locator("h4", has_text="neon")  # the comparison's title: the prompt, as typed
    assert title.inner_text().replace("\u2060", "").startswith(MARKDOWN_PROMPT)
    expect(title.locator("a:not([href^='#']), em, code, .katex")).to_have_count(0)  # its own anchor only
    assert (tiles[0].params.width, tiles[0].params.steps) == (64, 3)

    # What each source hears: the stems tab shows a spectrogram, a player and a WAV download per stem.
    page.get_by_role("tab", name="Demucs stems").click()
    stem = page.locator(".st-key-cmp_part_stems_drums")
    expect(stem.locator(".js-plotly-plot").first).to_be_visible()
    expect(stem.locator("audio")).to_be_attached()
    stem.scroll_into_view_if_needed()
    shot(page, "09_compare_stems")
    import soundfile as sf

    with page.expect_download() as info:  # made on click (deferred), not kept in the session
        stem.get_by_role("button", name="Save as WAV").click()
    assert info.value.suggested_filename == "stems-drums.wav"
    wav = ARTIFACTS / "stems-drums.wav"
    info.value.save_as(wav)
    data, rate = sf.read(wav)
    assert rate == 44100 and data.ndim == 2 and data.shape[1] == 2  # Demucs stems stay stereo
