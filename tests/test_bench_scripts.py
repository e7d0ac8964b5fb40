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
