"""The benchmark scripts run where they cannot measure: bench/gpu.py on a machine without CUDA says
so in one line and exits 0 (CI and laptops run it unchanged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_bench_without_cuda_says_so_and_exits_0():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: bench/gpu.py measures instead")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py")], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        "no CUDA: bench/gpu.py measures the engine on a CUDA GPU; nothing measured on this machine"
    ]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_gpu_bench_cpu_smoke_runs_every_row_on_the_tiny_models():
    """`--cpu-smoke` runs the CUDA script's own code on the tiny models: every row, the compiled UNet
    included (torch.compile's "eager" backend, no C compiler), so the script cannot rot unseen."""
    import re

    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), "--cpu-smoke"],
        capture_output=True,
        text=True,
        timeout=380,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    ratio = re.search(r"render 64x64, 2 steps: plain diffusers [\d.]+ s, ours with audio [\d.]+ s, ratio ([\d.]+)", out)
    assert ratio and float(ratio.group(1)) > 0
    rows = dict(
        re.findall(r"^  (no fast path|channels_last|compiled UNet|TAESD decoder|all fast paths) +([\d.]+) s", out, re.M)
    )
    assert set(rows) == {"no fast path", "channels_last", "compiled UNet", "TAESD decoder", "all fast paths"}
    assert all(float(t) > 0 for t in rows.values())
    assert "warm-up, compiled UNet" in out and "never ran" not in out
    assert "peak GPU memory: measured on CUDA only" in out


def test_gpu_bench_times_previews_grouped_by_memory_format_and_goes_on_past_a_failed_compile():
    """A format switch moves the weights a CUDA graph holds by address: no timed call may follow a
    switch it did not warm; a variant that cannot compile is said and left out."""
    import importlib.util

    from core.fastpaths import CompileFailed, FastSettings

    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "bench" / "gpu.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    variants = {
        "no fast path": FastSettings.only(),
        "channels_last": FastSettings.only("channels_last"),
        "compiled UNet": FastSettings.only("compile"),
        "all fast paths": FastSettings.all_on(),
    }
    calls: list[tuple[str, bool]] = []  # (variant, memory format) in call order

    def preview(fast) -> None:
        name = next(k for k, v in variants.items() if v is fast)
        calls.append((name, fast.channels_last))
        if fast.compile and fail:
            raise CompileFailed("no C compiler")

    fail = False
    times = bench.preview_times(variants, preview, 3, cuda=False)
    assert set(times) == set(variants) and all(len(t) == 3 for t in times.values())
    formats = [f for _, f in calls]
    assert formats == sorted(formats)  # one switch only: every standard-format call first
    first_cl = formats.index(True)
    assert calls[first_cl : first_cl + 2] == [("channels_last", True), ("all fast paths", True)]  # warmed first

    calls.clear()
    fail = True  # the first compile fails: previews run uncompiled after it, so no compiled row at all
    times = bench.preview_times(variants, preview, 3, cuda=False)
    assert set(times) == {"no fast path", "channels_last"}
    assert calls.count(("compiled UNet", False)) == 1 and ("all fast paths", True) not in calls


def test_forgetting_the_listenings_makes_the_next_listen_embed_again(tiny_engine, tiny_params):
    tiny_engine.listen(tiny_params)
    calls = tiny_engine.clap.audio_calls
    tiny_engine.listen(tiny_params)
    assert tiny_engine.clap.audio_calls == calls  # cached
    tiny_engine.listener.forget()
    tiny_engine.listen(tiny_params)
    assert tiny_engine.clap.audio_calls > calls
