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
