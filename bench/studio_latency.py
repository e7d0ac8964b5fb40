"""How much does the studio add to a live preview?

Times, in one run and on the same models:

1. engine   — `engine.generate(preview_params, fast=...)` called directly (no Streamlit): its
              denoising loop (`timings["denoise"]`) and the whole call; with no fast path, and with
              the fast paths a studio preview takes by default (the reference for the overheads);
2. apptest  — a hierarchy-slider change in `streamlit.testing.v1.AppTest` until the new preview
              is in the session (a full script run: an upper bound on the server-side overhead);
3. browser  — a real slider key press in chromium (playwright) until the preview <img> shows the
              new picture (websocket, fragment rerun, image transfer and drawing included);
   page     — the same presses on the page's own clock, keydown to the frame where the new picture
              is complete (browser minus playwright's round trips to the page);

and prints, side by side, each one's time, its own denoising loop, the studio's overhead over that
loop and the ratio to the engine's loop alone. In the browser each slider press is also broken
down (from the page's own clock): until the server's first message (the rerun began), until the
message that carries the new picture, until the run's end, until the picture is drawn; with the
websocket messages and bytes each press cost. `--profile OUT` also samples the studio server with
py-spy (when it is installed: `pip install py-spy`) during the presses, every thread, idle time
included, and prints the script thread's top functions.

    python bench/studio_latency.py                  # tiny models, 64 px, 10 preview steps
    python bench/studio_latency.py --models sd15 --size 256 --steps 10   # on a CUDA machine
    python bench/studio_latency.py --paths spare_core,tiny_decoder   # previews with these fast paths
    python bench/studio_latency.py --no-browser
    python bench/studio_latency.py --no-apptest --profile /tmp/studio.pyspy   # where the time goes
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

from server_profile import ServerProfile  # noqa: E402 - bench/, beside this script

WEIGHTS = [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_engine(models: str, steps: int, size: int, repeats: int, fast) -> dict[str, float]:
    """The preview's engine call alone, with the fast paths `fast` (FastSettings), on the studio's
    engine thread."""
    from core.params import GenerationParams
    from core.samples import sample_paths
    from studio import worker
    from studio.loader import load_engine

    engine = load_engine(models).engine
    base = GenerationParams(
        audio_path=str(sample_paths()["thunder"]), steps=steps, width=size, height=size, models=models
    )
    # On the studio's engine thread (where the engine was built), called directly: no Streamlit.
    worker.call(engine.generate, base, fast=fast)  # warm: CLAP, tokens, prompt encodings are cached from here on
    denoise, total = [], []
    for i in range(repeats):
        p = base.replace(level_weights=(WEIGHTS[i % len(WEIGHTS)], 0.5, 0.3))
        t = time.perf_counter()
        r = worker.call(engine.generate, p, fast=fast)
        total.append(time.perf_counter() - t)
        denoise.append(r.timings["denoise"])
    return {"denoise": _median(denoise), "generate": _median(total)}


def _toggles(fast) -> dict[str, bool]:
    """The sidebar's fast-path toggles (widget key -> on) that make the studio's previews take `fast`."""
    from studio.fast import FAST_KEYS

    return {key: bool(getattr(fast, name)) for name, key in FAST_KEYS.items()}


def bench_apptest(models: str, steps: int, size: int, repeats: int, fast) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    from studio.session import SESSION_KEY

    os.environ["CLAP2DIFF_MODELS"] = models
    at = AppTest.from_file(str(ROOT / "studio" / "app.py"), default_timeout=600)
    settings = {"w_width": size, "w_height": size, "ui_preview_steps": steps, "ui_preview_side": size}
    for key, value in {**settings, **_toggles(fast)}.items():
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
    return _summary(wall, denoise)


def _summary(wall: list[float], denoise: list[float]) -> dict[str, float]:
    """Medians; the overhead is the median of each press's (time - its own loop): on a loaded machine
    the loop varies several-fold from press to press, and a difference of medians would mix presses."""
    over = [w - d for w, d in zip(wall, denoise, strict=True)]
    return {"wall": _median(wall), "denoise": _median(denoise), "overhead": _median(over)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# In the page: every websocket message's arrival time and size, and the time of the last key press.
_PAGE_CLOCK = """(() => {
  window.__ws = []; window.__press = 0; window.__drawn = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => window.__ws.push(
        [performance.now(), e.data.byteLength ?? e.data.size ?? e.data.length ?? 0]));
    }
  };
  document.addEventListener('keydown', () => { window.__press = performance.now(); }, true);
})();"""

# True once the preview <img> shows a picture other than `old` (checked on every animation frame).
_NEW_PICTURE = """old => { const i = document.querySelector('.st-key-preview_box img');
  if (!(i && i.complete && i.getAttribute('src') !== old)) return false;
  window.__drawn = performance.now(); return true; }"""

# After a press: [arrival ms, size] of its messages, when the picture's file was fetched, when drawn.
_PRESS_LOG = """([press, skip]) => ({
  ws: window.__ws.slice(skip).map(([t, n]) => [t - press, n]),
  media: performance.getEntriesByType('resource').filter(r => r.name.includes('/media/') && r.startTime >= press)
    .map(r => [r.startTime - press, r.responseEnd - press, r.transferSize || r.encodedBodySize]),
  drawn: window.__drawn - press })"""


def _message_kind(payload: bytes | str) -> str:
    """A websocket message's kind ('delta:imgs', 'script_finished', ...), from Streamlit's protobuf."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    try:
        msg.ParseFromString(payload if isinstance(payload, bytes) else payload.encode())
    except Exception:  # noqa: BLE001 - a message this version cannot parse is just counted
        return "?"
    kind = msg.WhichOneof("type") or "?"
    if kind == "delta":
        delta = msg.delta
        sub = delta.WhichOneof("type") or ""
        if sub == "new_element":
            sub = delta.new_element.WhichOneof("type") or ""
        return f"delta:{sub}"
    return kind


def _breakdown(log: dict, kinds: list[str]) -> dict[str, float]:
    """One press, from the page's clock: ms until the server's first message, its first element (the
    fragment runs), the picture's message,
    its file fetched, the run's end, the picture drawn; messages and bytes."""
    ws = log["ws"]
    imgs = [t for (t, _), k in zip(ws, kinds, strict=False) if k == "delta:imgs"]  # the last is the new one
    finished = [t for (t, _), k in zip(ws, kinds, strict=False) if k == "script_finished"]
    first_img = imgs[-1] if imgs else float("nan")
    media = [m for m in log["media"] if m[0] >= first_img - 1]
    return {
        "first message": ws[0][0] if ws else float("nan"),
        "first element": next((t for (t, _), k in zip(ws, kinds, strict=False) if k.startswith("delta")), float("nan")),
        "picture message": first_img,
        "picture fetched": media[0][1] if media else float("nan"),
        "run finished": finished[-1] if finished else float("nan"),
        "picture drawn": log["drawn"],
        "messages": float(len(ws)),
        "kB": sum(n for _, n in ws) / 1000 + sum(m[2] for m in log["media"]) / 1000,
    }


def bench_browser(
    models: str, steps: int, size: int, repeats: int, fast, profile: str | None = None
) -> dict[str, float] | None:
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
            pg.add_init_script(_PAGE_CLOCK)
            kinds: list[str] = []  # every message's kind, in arrival order (as the page's log)
            pg.on("websocket", lambda ws: ws.on("framereceived", lambda payload: kinds.append(_message_kind(payload))))
            pg.goto(url)
            pg.locator(".st-key-preview_box img").first.wait_for()  # the first run is over
            settings = (("ui_preview_steps", steps), ("ui_preview_side", size), ("w_width", size), ("w_height", size))
            for key, value in settings:
                box = pg.locator(f".st-key-{key} input")
                box.fill(str(value))
                box.press("Enter")
                expect(box).to_have_value(str(value))
            for key, on in _toggles(fast).items():
                box = pg.locator(f".st-key-{key} input[type=checkbox]")
                if box.is_checked() != on:
                    pg.locator(f".st-key-{key} label").first.click()
                expect(box).to_be_checked(checked=on)
            # The caption ends "… · denoise 0.12 s" once the preview has these steps and size.
            done = re.compile(rf"^{steps} steps · {size}×{size} · .*denoise [0-9.]+ s$")
            caption = pg.locator(".st-key-preview_box").get_by_text(done)
            caption.wait_for()
            img = pg.locator(".st-key-preview_box img").first
            handle = pg.locator(".st-key-w_weight_fg input[type=range]").first
            wall, denoise, parts = [], [], []
            spy = ServerProfile(proc.pid, profile)
            try:
                for i in range(repeats):
                    src = img.get_attribute("src")
                    handle.focus()
                    pg.wait_for_timeout(300)  # the last press's trailing messages are in
                    skip = pg.evaluate("window.__ws.length")
                    t = time.perf_counter()
                    handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                    pg.wait_for_function(_NEW_PICTURE, arg=src, polling="raf", timeout=600_000)
                    wall.append(time.perf_counter() - t)
                    text = caption.inner_text()
                    denoise.append(float(re.search(r"denoise ([0-9.]+) s", text).group(1)))
                    pg.wait_for_timeout(300)  # the run's last messages (script_finished) arrive
                    log = pg.evaluate(_PRESS_LOG, [pg.evaluate("window.__press"), skip])
                    parts.append(_breakdown(log, kinds[skip:]))
            finally:
                spy.close()
            b.close()
        out = _summary(wall, denoise)
        # The same presses on the page's own clock: keydown -> the frame where the new picture is
        # complete, without playwright's round trips (the key press sent, the check's answer back).
        page = _summary([x["picture drawn"] / 1000 for x in parts], denoise)
        out.update(page_wall=page["wall"], page_overhead=page["overhead"])
        print("browser  one slider press, median of each step (ms from the key press, the page's clock):")
        for name in parts[0]:
            unit = "" if name in ("messages", "kB") else " ms"
            values = [x[name] for x in parts if x[name] == x[name]]  # NaN: the step did not happen
            if not values:  # a picture sent inline (a data: URL) is never fetched
                print(f"           {name:16s}     none (sent inline)")
                continue
            print(f"           {name:16s} {_median(values):8.1f}{unit}")
        return out
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
    ap.add_argument("--no-apptest", action="store_true")
    ap.add_argument(
        "--paths",
        help="the preview fast paths the studio takes, comma-separated (default: the sidebar's defaults; '' for none)",
    )
    ap.add_argument("--profile", metavar="OUT", help="sample the studio server with py-spy into OUT (raw stacks)")
    args = ap.parse_args(argv)

    import torch

    print(
        f"models={args.models} preview={args.steps} steps {args.size}x{args.size} repeats={args.repeats} "
        f"torch threads={torch.get_num_threads()} cuda={torch.cuda.is_available()}"
    )
    from core.fastpaths import FastSettings

    fast = FastSettings()  # the sidebar's defaults
    if args.paths is not None:
        fast = FastSettings.only(*(p.strip() for p in args.paths.split(",") if p.strip()))
    bare = bench_engine(args.models, args.steps, args.size, args.repeats, FastSettings.only())
    eng = bench_engine(args.models, args.steps, args.size, args.repeats, fast)
    for name, e in (("no fast path", bare), (f"as the studio's previews ({', '.join(fast.enabled()) or 'none'})", eng)):
        print(
            f"engine   denoising loop {e['denoise'] * 1000:8.1f} ms   whole generate() {e['generate'] * 1000:8.1f} ms"
            f"   (ratio {e['generate'] / e['denoise']:.2f})   preview fast paths: {name}"
        )
    rows = (
        [] if args.no_apptest else [("apptest", bench_apptest(args.models, args.steps, args.size, args.repeats, fast))]
    )
    if not args.no_browser:
        br = bench_browser(args.models, args.steps, args.size, args.repeats, fast, args.profile)
        if br is not None:
            rows.append(("browser", br))
    if rows and "page_wall" in rows[-1][1]:
        r = rows[-1][1]
        rows.append(("page", {"wall": r["page_wall"], "denoise": r["denoise"], "overhead": r["page_overhead"]}))
    for name, r in rows:
        print(
            f"{name:8s} slider -> new preview {r['wall'] * 1000:8.1f} ms | its own denoising loop "
            f"{r['denoise'] * 1000:7.1f} ms | studio overhead over its own loop {1000 * r['overhead']:7.1f} ms"
            f", over the engine loop alone {1000 * (r['wall'] - eng['denoise']):7.1f} ms | "
            f"ratio to the engine loop alone {r['wall'] / eng['denoise']:.2f} (to its own loop "
            f"{r['wall'] / r['denoise']:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
