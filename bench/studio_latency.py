"""How much does the studio add to a live preview?

Times, in one run and on the same models:

1. engine   — `engine.generate(preview_params)` called directly (no Streamlit): its denoising loop
              (`timings["denoise"]`) and the whole call;
2. apptest  — a hierarchy-slider change in `streamlit.testing.v1.AppTest` until the new preview
              is in the session (a full script run: an upper bound on the server-side overhead);
3. browser  — a real slider key press in chromium (playwright) until the preview <img> shows the
              new picture (websocket, fragment rerun, image transfer and drawing included);

and prints each as a ratio to the engine's denoising loop alone.

    python bench/studio_latency.py                  # tiny models, 64 px, 10 preview steps
    python bench/studio_latency.py --models sd15 --size 256 --steps 10   # on a CUDA machine
    python bench/studio_latency.py --no-browser
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))

WEIGHTS = [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_engine(models: str, steps: int, size: int, repeats: int) -> dict[str, float]:
    from core.params import GenerationParams
    from core.samples import sample_paths
    from studio import worker
    from studio.loader import load_engine

    engine = load_engine(models).engine
    base = GenerationParams(
        audio_path=str(sample_paths()["thunder"]), steps=steps, width=size, height=size, models=models
    )
    # On the studio's engine thread (where the engine was built), called directly: no Streamlit.
    worker.call(engine.generate, base)  # warm: CLAP, tokens, prompt encodings are cached from here on
    denoise, total = [], []
    for i in range(repeats):
        p = base.replace(level_weights=(WEIGHTS[i % len(WEIGHTS)], 0.5, 0.3))
        t = time.perf_counter()
        r = worker.call(engine.generate, p)
        total.append(time.perf_counter() - t)
        denoise.append(r.timings["denoise"])
    return {"denoise": _median(denoise), "generate": _median(total)}


def bench_apptest(models: str, steps: int, size: int, repeats: int) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    from studio.session import SESSION_KEY

    os.environ["CLAP2DIFF_MODELS"] = models
    at = AppTest.from_file(str(ROOT / "studio" / "app.py"), default_timeout=600)
    for key, value in {"w_width": size, "w_height": size, "ui_preview_steps": steps, "ui_preview_side": size}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    wall, denoise = [], []
    for i in range(repeats):
        before = at.session_state[SESSION_KEY].preview.result
        t = time.perf_counter()
        at.slider(key="w_weight_fg").set_value(WEIGHTS[i % len(WEIGHTS)]).run()
        wall.append(time.perf_counter() - t)
        after = at.session_state[SESSION_KEY].preview.result
        assert after is not before and not at.exception, "the preview did not update"
        denoise.append(after.timings["denoise"])
    return {"wall": _median(wall), "denoise": _median(denoise)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_browser(models: str, steps: int, size: int, repeats: int) -> dict[str, float] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        print("browser: skipped (pip install playwright)")
        return None
    if chromium is None:
        print("browser: skipped (apt-get install chromium)")
        return None
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CLAP2DIFF_MODELS=models)
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
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                try:
                    proc.wait(timeout=0.25)
                    raise RuntimeError("the studio server exited")
                except subprocess.TimeoutExpired:
                    pass
        with sync_playwright() as p:
            flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
            b = p.chromium.launch(executable_path=chromium, args=flags)
            pg = b.new_page(viewport={"width": 1440, "height": 1400})
            pg.set_default_timeout(600_000)
            pg.goto(url)
            pg.locator(".st-key-preview_box img").first.wait_for()  # the first run is over
            settings = (("ui_preview_steps", steps), ("ui_preview_side", size), ("w_width", size), ("w_height", size))
            for key, value in settings:
                box = pg.locator(f".st-key-{key} input")
                box.fill(str(value))
                box.press("Enter")
                expect(box).to_have_value(str(value))
            done = re.compile(rf"{steps} steps · {size}×{size} · denoise [0-9.]+ s$")
            caption = pg.locator(".st-key-preview_box").get_by_text(done)
            caption.wait_for()
            img = pg.locator(".st-key-preview_box img").first
            handle = pg.locator(".st-key-w_weight_fg input[type=range]").first
            wall, denoise = [], []
            for i in range(repeats):
                src = img.get_attribute("src")
                handle.focus()
                t = time.perf_counter()
                handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                # Checked on every animation frame (~16 ms), not at expect()'s 100-1000 ms retry steps.
                pg.wait_for_function(
                    "old => { const i = document.querySelector('.st-key-preview_box img');"
                    " return i && i.complete && i.getAttribute('src') !== old; }",
                    arg=src,
                    polling="raf",
                    timeout=600_000,
                )
                wall.append(time.perf_counter() - t)
                text = caption.inner_text()
                denoise.append(float(re.search(r"denoise ([0-9.]+) s", text).group(1)))
            b.close()
        return {"wall": _median(wall), "denoise": _median(denoise)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny")
    ap.add_argument("--steps", type=int, default=10, help="preview steps")
    ap.add_argument("--size", type=int, default=64, help="preview side in px")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv)

    import torch

    print(
        f"models={args.models} preview={args.steps} steps {args.size}x{args.size} repeats={args.repeats} "
        f"torch threads={torch.get_num_threads()} cuda={torch.cuda.is_available()}"
    )
    eng = bench_engine(args.models, args.steps, args.size, args.repeats)
    print(
        f"engine   denoising loop {eng['denoise'] * 1000:8.1f} ms   whole generate() {eng['generate'] * 1000:8.1f} ms"
        f"   (ratio {eng['generate'] / eng['denoise']:.2f})"
    )
    rows = [("apptest", bench_apptest(args.models, args.steps, args.size, args.repeats))]
    if not args.no_browser:
        br = bench_browser(args.models, args.steps, args.size, args.repeats)
        if br is not None:
            rows.append(("browser", br))
    for name, r in rows:
        print(
            f"{name:8s} slider -> new preview {r['wall'] * 1000:8.1f} ms | its own denoising loop "
            f"{r['denoise'] * 1000:7.1f} ms | studio overhead {1000 * (r['wall'] - r['denoise']):7.1f} ms | "
            f"ratio to the engine loop alone {r['wall'] / eng['denoise']:.2f} (to its own loop "
            f"{r['wall'] / r['denoise']:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
