"""How long stem separation takes, and what the cache saves.

    python bench/separation.py [--specs tiny htdemucs-random] [--threads N] [--seconds 10]

For each model spec (random weights: nothing is downloaded) and device (CPU, and CUDA when there
is one) it times: building the model, one separation of a 10 s clip after a warm-up on another
clip (no cache), and the cache hit that every later slider move costs (split_sources on the same
window: cut + lookup + routing). The ratio hit/separation is what the cache buys.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core.audio import AudioClip, load_audio  # noqa: E402
from core.samples import sample_paths  # noqa: E402
from core.separation import StemSeparator  # noqa: E402
from core.sources import split_sources  # noqa: E402


def ten_second_clip(name: str, seconds: float) -> AudioClip:
    """A bundled sample looped to `seconds` (the samples are 4-8 s; CLAP's window is 10 s)."""
    clip = load_audio(sample_paths()[name])
    n = int(seconds * clip.sample_rate)
    samples = np.resize(clip.samples, (clip.channels, n))
    return AudioClip(samples, clip.sample_rate, f"{clip.sha256[:56]}looped{int(seconds):02d}", f"{name} x{seconds:g}s")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench(spec: str, device: str, seconds: float) -> dict:
    clip = ten_second_clip("street", seconds)
    warm = ten_second_clip("rain", seconds)
    t0 = time.perf_counter()
    separator = StemSeparator(spec, device=device).load()
    build = time.perf_counter() - t0
    params = sum(p.numel() for p in separator.model.parameters()) / 1e6
    separator.separate(warm)  # warm-up: allocator, kernels, caches of torch itself
    sync(device)
    t0 = time.perf_counter()
    separator.separate(clip)
    sync(device)
    separation = time.perf_counter() - t0
    assert separator.calls == 2
    hit = best_of(lambda: split_sources(clip, "stems", separator=separator, seconds=seconds), repeat=20)
    lookup = best_of(lambda: separator.separate(clip), repeat=200)
    assert separator.calls == 2, "the cache missed"
    return dict(
        spec=spec,
        device=device,
        params=params,
        build=build,
        separation=separation,
        hit=hit,
        lookup=lookup,
        realtime=seconds / separation,
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["tiny", "htdemucs-random"])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, "
        f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}; clip {args.seconds:g} s"
    )
    header = f"{'spec':<16} {'device':<6} {'params':>8} {'build':>8} {'separate':>9} {'x rt':>6} {'hit':>9} {'lookup':>8} {'hit/sep':>9}"
    print(header)
    print("-" * len(header))
    for spec in args.specs:
        for device in devices:
            r = bench(spec, device, args.seconds)
            print(
                f"{r['spec']:<16} {r['device']:<6} {r['params']:>7.2f}M {r['build']:>7.2f}s {r['separation']:>8.2f}s "
                f"{r['realtime']:>5.1f}x {r['hit'] * 1e3:>7.2f}ms {r['lookup'] * 1e6:>6.1f}us {r['hit'] / r['separation']:>9.1e}"
            )
    print(
        "separate: one uncached 10 s separation after a warm-up; hit: split_sources on the same window "
        "(cut + cache lookup + stem routing); lookup: the cache lookup alone; x rt: audio seconds per second."
    )


if __name__ == "__main__":
    main()
