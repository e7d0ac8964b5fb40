"""A sweep against the same tiles as separate `generate` calls, side by side in one run.

    python bench/sweep.py [--tiles 6] [--steps 10] [--size 128] [--models tiny] [--threads 1] [--scores] [--profile]

Separate calls: each tile is what `python -m core generate` does in a fresh process (an Engine
built, the clip decoded and heard, the prompt encoded, then denoising), timed in-process without
Python's start-up. The sweep: one engine, shared work once (core.sweep.run_sweep, no scores).

What the figures mean (the same clock for both runs):
- the denoising loop of a tile: from the start of its first UNet call to the end of its last step
  (scheduler step and step callback), i.e. the UNet calls, the scheduler steps and the guidance
  arithmetic between them; the UNet calls alone are shown beside it;
- the VAE decode: each tile's own work (a sweep cannot share it), reported separately, not as
  overhead;
- per-tile overhead: a tile's wall time (one `on_tile` to the next) minus its loop and its decode,
  for tiles 2..N; tile 1 also pays the shared work (clip decoded, separated, heard; prompt encoded),
  shown once on its own line. Target: overhead <= 5% of the loop; the sweep <= 1.0x the separate calls.
The sweep's files (grids, tiles, ZIP, CSV: `save_sweep`) are written once at the end, timed apart.
`--scores` also runs the sweep scored (CLIP, and the strength-0 twins the audio-effect score needs) on
the warm engine: the generations it made and its time per tile.
`--profile` re-runs the sweep on the warm engine under cProfile, switched off inside each loop, and
prints the top items of what the tiles pay outside their loops.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from core.engine import Engine  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from core.samples import sample_paths  # noqa: E402
from core.scoring import Scorer  # noqa: E402
from core.sweep import SweepPlan, parse_axis, run_sweep, save_sweep  # noqa: E402


class LoopClock:
    """Times each tile's denoising loop on an engine: a UNet pre/post hook and the step progress.

    `profiler`, when given, is switched off from a loop's first UNet call to its last step, so it
    records only what a tile pays outside its loop."""

    def __init__(self, engine: Engine, profiler: cProfile.Profile | None = None):
        self.engine, self.profiler = engine, profiler
        self.loops: list[float] = []  # one per tile: first UNet call -> last step's end
        self.unet: list[float] = []  # one per tile: the UNet calls alone
        self._start: float | None = None
        self._call = 0.0
        engine.pipe.unet.register_forward_pre_hook(self._pre)
        engine.pipe.unet.register_forward_hook(self._post)

    def _pre(self, *_):
        now = time.perf_counter()
        if self._start is None:
            if self.profiler is not None:
                self.profiler.disable()
            self._start = now
            self.unet.append(0.0)
        self._call = now

    def _post(self, *_):
        self.unet[-1] += time.perf_counter() - self._call

    def progress(self, info) -> None:
        if info.step == info.total and self._start is not None:
            self.loops.append(time.perf_counter() - self._start)
            self._start = None
            if self.profiler is not None:
                self.profiler.enable()


def timed_sweep(engine: Engine, plan: SweepPlan, profiler: cProfile.Profile | None = None):
    """(run, per-tile wall times, clock): a tile's wall time runs from the previous tile's end."""
    clock = LoopClock(engine, profiler)
    marks = [time.perf_counter()]
    if profiler is not None:
        profiler.enable()
    run = run_sweep(engine, plan, progress=clock.progress, on_tile=lambda _: marks.append(time.perf_counter()))
    if profiler is not None:
        profiler.disable()
    walls = [b - a for a, b in zip(marks, marks[1:])]
    return run, walls, clock


def mean(values: list[float]) -> float:
    return sum(values) / max(1, len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--models", default="tiny")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: as the tests, on a shared machine)")
    parser.add_argument("--scores", action="store_true", help="also run the sweep scored, on the warm engine")
    parser.add_argument("--profile", action="store_true", help="profile a second sweep outside its loops")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
    run, walls, clock = timed_sweep(engine, plan)
    swept = sum(walls)
    decodes = [t.result.timings.get("decode", 0.0) for t in run.tiles]
    loops = sum(clock.loops)
    print(f"  separate generate calls {separate:8.2f} s")
    print(f"  one sweep               {swept:8.2f} s   ratio {swept / separate:.3f} (target <= 1.0)")
    print(f"  the sweep's {len(walls)} loops     {loops:8.2f} s   (UNet calls {sum(clock.unet):.2f} s)")
    print(f"  sweep / loops, everything in: {swept / loops:.3f} (decodes {sum(decodes):.2f} s)")
    rest = range(1, len(walls))  # tiles 2..N: no shared work left
    if rest:
        wall, loop, dec = (mean([v[i] for i in rest]) for v in (walls, clock.loops, decodes))
        other = wall - loop - dec
        print(
            f"  per tile (tiles 2..{len(walls)}): wall {wall * 1e3:.1f} ms = loop {loop * 1e3:.1f} + decode "
            f"{dec * 1e3:.1f} + other {other * 1e3:.1f} ms"
        )
        print(f"    per-tile overhead over the loop: {other / loop:.1%} (target <= 5%); decode {dec / loop:.1%}")
        first = walls[0] - clock.loops[0] - decodes[0] - other
        print(f"  shared work, once (tile 1's extra: clip heard, prompt encoded): {first:.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        save_sweep(run, folder)
        print(f"  the sweep's files, once (grid, tiles, ZIP, CSV): {time.perf_counter() - start:.3f} s")
    if args.scores:
        scorer, calls, generate = Scorer(args.models if args.models == "tiny" else ""), [], engine.generate
        engine.generate = lambda p, **kw: (calls.append(p), generate(p, **kw))[1]  # type: ignore[method-assign]
        start = time.perf_counter()
        scored = run_sweep(engine, plan, scorer)
        took = time.perf_counter() - start
        del engine.generate
        print(
            f"  scored sweep (warm engine): {len(calls)} generations for {len(scored.tiles)} tiles "
            f"({sum(p.audio_strength == 0 for p in calls)} strength-0 twins), {took / len(scored.tiles):.3f} s a tile"
        )
    if args.profile:
        profiler = cProfile.Profile()
        run, walls, clock = timed_sweep(engine, plan, profiler)
        outside = sum(walls) - sum(clock.loops)
        print(f"\nprofile of a second sweep, outside its loops ({outside:.2f} s of {sum(walls):.2f} s):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
