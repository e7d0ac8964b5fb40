"""A sweep against the same tiles as separate `generate` calls, side by side in one run.

    python bench/sweep.py [--tiles 6] [--steps 10] [--size 128] [--models tiny]

Separate calls: each tile is what `python -m core generate` does in a fresh process (an Engine
built, the clip decoded and heard, the prompt encoded, then denoising), timed in-process without
Python's start-up. The sweep: one engine, shared work once (core.sweep.run_sweep, no scores).
Prints both totals and their ratio (target <= 1.0), and the sweep's time over its denoising loops:
the per-tile overhead (target <= 5%).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from core.engine import Engine  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from core.samples import sample_paths  # noqa: E402
from core.sweep import SweepPlan, parse_axis, run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--models", default="tiny")
    args = parser.parse_args()
    base = GenerationParams(
        prompt="a stormy harbour",
        audio_path=str(sample_paths()["thunder"]),
        steps=args.steps,
        width=args.size,
        height=args.size,
        seed=0,
        models=args.models,
    )
    values = ",".join(f"{0.2 + 1.6 * i / max(1, args.tiles - 1):.3f}" for i in range(args.tiles))
    plan = SweepPlan(base, (parse_axis("x", f"level_weights.0={values}", base),))
    tiles = [plan.params_at(*pos) for pos in plan.positions()]
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(f"{args.tiles} tiles, {args.steps} steps, {args.size}x{args.size}, models {args.models}")

    start = time.perf_counter()
    for params in tiles:  # what N `generate` commands do, minus interpreter start-up
        Engine(args.models).generate(params)
    separate = time.perf_counter() - start

    engine = Engine(args.models)
    start = time.perf_counter()
    run = run_sweep(engine, plan)
    swept = time.perf_counter() - start
    denoise = sum(t.result.timings.get("denoise", 0.0) for t in run.tiles)
    print(f"  separate generate calls {separate:8.2f} s")
    print(f"  one sweep               {swept:8.2f} s   ratio {swept / separate:.3f} (target <= 1.0)")
    generate = sum(t.result.timings.get("total", 0.0) for t in run.tiles)
    decode = sum(t.result.timings.get("decode", 0.0) for t in run.tiles)
    print(f"  sweep over its denoising loops: {swept:.2f} s / {denoise:.2f} s = {swept / denoise:.3f} (target <= 1.05)")
    print(
        f"    of which VAE decode {decode:.2f} s, the rest of generate {generate - denoise - decode:.2f} s, "
        f"the sweep itself (PNG, metadata) {swept - generate:.2f} s"
    )


if __name__ == "__main__":
    main()
