"""Overhead of the gated audio adapters on the real SD 1.5 UNet shape (random weights).

    python bench/adapter_overhead.py [--latent 32] [--repeats 5]

CPU (always): per-forward time of the UNet, batch 2 (CFG), with diffusers' plain processors vs our
gated processors in mid+up (strength 1) and with strength 0, interleaved in one run so machine
noise hits all variants alike; prints medians and ratios. CUDA (when present): also a full
512x512, 25-step fp16 generation, plain StableDiffusionPipeline vs the engine's adapters, with
times, ratio and peak GPU memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from core.attention import AudioAdapters  # noqa: E402
from core.audio_state import AudioState  # noqa: E402
from core.params import BLOCK_GROUPS  # noqa: E402
from core.tiny import sd15_unet  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def unet_forward_times(device: str, dtype: torch.dtype, latent: int, repeats: int) -> dict[str, float]:
    unet = sd15_unet().to(device, dtype).eval()
    state = AudioState()
    adapters = AudioAdapters(unet, state)
    g = torch.Generator("cpu").manual_seed(0)
    sample = torch.randn(2, 4, latent, latent, generator=g).to(device, dtype)
    text = torch.randn(2, 77, 768, generator=g).to(device, dtype)
    audio = {
        level: torch.randn(1, n, 768, generator=g).to(device, dtype) * 0.5
        for level, n in (("foreground", 35), ("background", 21), ("ambience", 21))
    }
    t = torch.tensor(500, device=device)

    def configure(variant: str) -> None:
        if variant == "plain":
            adapters.remove()
            return
        adapters.install(["mid", "up"])
        strength = 1.0 if variant == "gated mid+up" else 0.0
        state.begin(audio, [{"foreground": 1.0}], strength, {g_: float(g_ != "down") for g_ in BLOCK_GROUPS})

    variants = ["plain", "gated mid+up", "gated, strength 0"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    with torch.inference_mode():
        for variant in variants:  # warm-up
            configure(variant)
            unet(sample, t, encoder_hidden_states=text)
        for _ in range(repeats):
            for variant in variants:
                configure(variant)
                _sync(device)
                start = time.perf_counter()
                unet(sample, t, encoder_hidden_states=text)
                _sync(device)
                times[variant].append(time.perf_counter() - start)
    adapters.remove()
    return {v: statistics.median(ts) for v, ts in times.items()}


def gpu_pipeline_times(steps: int = 25) -> dict[str, float]:
    """512x512 fp16 on CUDA: plain StableDiffusionPipeline vs the same pipeline with our adapters."""
    from gpu import engine_on_cuda  # bench/gpu.py: the engine over SD 1.5 shapes in fp16

    from core.params import GenerationParams
    from core.samples import sample_paths

    engine, pipe = engine_on_cuda()
    params = GenerationParams(prompt="a city", audio_path=str(sample_paths()["thunder"]), steps=steps, seed=0)

    def plain(n: int) -> None:
        pipe(
            prompt=params.prompt,
            num_inference_steps=n,
            height=512,
            width=512,
            generator=torch.Generator("cpu").manual_seed(0),
        )

    def ours(n: int) -> None:
        engine.generate(params.replace(steps=n))

    out: dict[str, float] = {}
    for label, run in (("plain", plain), ("audio", ours)):
        run(2)  # warm-up (and fills the engine's CLAP / text caches, as in the studio)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        run(steps)
        torch.cuda.synchronize()
        out[f"{label} s"] = time.perf_counter() - start
        out[f"{label} peak GiB"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=32, help="latent side (32 = 256x256 image)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    print(
        f"SD 1.5 UNet (random weights), batch 2, latent {args.latent}x{args.latent}, CPU fp32, median of {args.repeats}"
    )
    times = unet_forward_times("cpu", torch.float32, args.latent, args.repeats)
    base = times["plain"]
    for variant, seconds in times.items():
        print(f"  {variant:<20} {seconds:7.3f} s/forward   ratio {seconds / base:.3f}")
    if torch.cuda.is_available():
        print(f"CUDA {torch.cuda.get_device_name()}: UNet fp16, batch 2, latent 64x64")
        times = unet_forward_times("cuda", torch.float16, 64, max(args.repeats, 20))
        for variant, seconds in times.items():
            print(f"  {variant:<20} {seconds * 1000:7.2f} ms/forward   ratio {seconds / times['plain']:.3f}")
        print("CUDA full generation 512x512, 25 steps, fp16 (random weights):")
        g = gpu_pipeline_times()
        print(
            f"  plain {g['plain s']:.2f} s ({g['plain peak GiB']:.2f} GiB peak)   "
            f"audio {g['audio s']:.2f} s ({g['audio peak GiB']:.2f} GiB peak)   ratio {g['audio s'] / g['plain s']:.3f}"
        )
    else:
        print("no CUDA device: the GPU figures are not measured on this machine")


if __name__ == "__main__":
    main()
