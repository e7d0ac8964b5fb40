"""The studio in a real browser: Debian's chromium driven by the Python `playwright` package.

One server (tiny offline models, a free localhost port, file watcher off) for the module; every test
opens its own browser context, i.e. its own Streamlit session. Screenshots go to
test-artifacts/e2e/. Nothing here sleeps: every wait is for a condition (playwright's wait_for /
expect), with a timeout.

Needs `chromium` on PATH (Debian: `apt-get install chromium`); skipped with that hint otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
T = 90_000  # ms: generous for 2 busy CPU cores; every wait returns as soon as its condition holds

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package)")
if CHROMIUM is None:
    pytest.skip(
        "chromium is not installed: install it with `apt-get install chromium` (Debian/Ubuntu) to run the "
        "browser tests",
        allow_module_level=True,
    )
expect = playwright_sync.expect
expect.set_options(timeout=T)  # assertions wait as long as actions: a page switch can take seconds on 2 busy cores
pytestmark = pytest.mark.e2e


# ================================================================================================
# Fixtures
# ================================================================================================
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        CLAP2DIFF_MODELS="tiny",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NUMBA_CACHE_DIR=str(ROOT / ".numba_cache"),
        CLAP2DIFF_UPLOADS=str(tmp_path_factory.mktemp("uploads")),
    )
    log = ARTIFACTS / "server.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "studio/app.py",
                "--server.fileWatcherType",
                "none",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(240):  # up to ~60 s: poll the health endpoint, noticing a crash at once
            if _healthy(url):
                break
            try:
                proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the studio server exited with {proc.returncode}; see {log}")
        else:
            pytest.fail(f"the studio server did not become healthy; see {log}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 1400}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(T)
    yield pg
    context.close()


# ================================================================================================
# Helpers (Streamlit puts `st-key-<key>` on every keyed element's container)
# ================================================================================================
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


# ================================================================================================
# Tests
# ================================================================================================
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


def test_cancel_stops_a_long_render(page, server):
    open_studio(page, server)
    small_and_fast(page, steps=100, size=320)  # long enough that the click lands mid-render on a busy machine
    render(page)
    page.locator(".st-key-render_box").get_by_text(re.compile(r"step \d+/100")).wait_for()
    page.locator(button("btn_cancel")).click()
    page.get_by_text(re.compile(r"Render cancelled after \d+ of 100 steps")).wait_for(timeout=30_000)
    expect(page.locator(button("btn_render"))).to_be_enabled()
    expect(page.locator(".st-key-btn_cancel")).to_have_count(0)  # only there while a render runs
    shot(page, "06_cancelled")


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


def test_compare_separated_vs_mixed(page, server):
    """Mixed vs Demucs stems vs bands with one seed: the images, the parts, and the grid download."""
    from core.export import read_grid

    open_studio(page, server)
    set_number(page, "ui_preview_steps", 3)  # Compare runs at preview quality: 3 steps, 64 px
    set_number(page, "ui_preview_side", 64)
    page.get_by_role("link", name="Compare").click()
    alone = page.locator(".st-key-cmp_alone")
    alone.get_by_text("Each level alone").click()  # keep it to one row of images: fast
    expect(alone.locator("input")).not_to_be_checked()
    page.locator(button("cmp_run")).click()

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
