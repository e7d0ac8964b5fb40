"""The engine on a CUDA GPU: full render against plain diffusers, preview latency, peak memory.

    python bench/gpu.py [--steps 25] [--preview-steps 8] [--repeats 5]

SD 1.5 shapes with random weights, fp16 (nothing to download): a 512x512, 25-step render with the
audio adapters against the plain StableDiffusionPipeline on the same pipeline (ratio; target
<= 1.05), the 256x256, 8-step preview's latency once the encodings are cached (target <= 0.15 s on
a current datacentre GPU), and the peak GPU memory of the full pipeline with CLAP (target <= 4 GB).
Elsewhere it prints one "no CUDA" line and exits 0, so CI and laptops can run it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def engine_on_cuda():
    """The engine over SD 1.5-shaped random weights in fp16, with the tiny CLAP (its cost is the
    same few milliseconds per clip whatever the weights)."""
    from core.engine import Engine
    from core.models import ModelBundle, ModelSpec
    from core.tiny import sd15_pipeline, tiny_clap

    pipe = sd15_pipeline().to("cuda", torch.float16)
    clap_model, features, tokenizer = tiny_clap()
    bundle = ModelBundle(
        ModelSpec("sd15-random", None, None, "SD 1.5 shapes, random weights"),
        pipe,
        clap_model.to("cuda"),
        features,
        tokenizer,
        "cuda",
        torch.float16,
    )
    return Engine(bundle=bundle), pipe


def timed(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--preview-steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA: bench/gpu.py measures the engine on a CUDA GPU; nothing measured on this machine")
        return 0

    from core.params import GenerationParams
    from core.samples import sample_paths

    engine, pipe = engine_on_cuda()
    print(f"CUDA {torch.cuda.get_device_name()}, torch {torch.__version__}, fp16, SD 1.5 shapes (random weights)")
    params = GenerationParams(prompt="a city", audio_path=str(sample_paths()["thunder"]), seed=0)

    def plain(steps: int, side: int) -> None:
        pipe(
            prompt=params.prompt,
            num_inference_steps=steps,
            height=side,
            width=side,
            generator=torch.Generator("cpu").manual_seed(0),
        )

    def ours(steps: int, side: int) -> None:
        engine.generate(params.replace(steps=steps, width=side, height=side))

    ours(2, 512)  # warm-up: kernels, and the engine's CLAP / prompt caches, as in the studio
    plain(2, 512)
    rows = {"plain": [], "audio": []}
    for _ in range(args.repeats):  # interleaved: clock and thermal drift hit both alike
        rows["plain"].append(timed(lambda: plain(args.steps, 512)))
        rows["audio"].append(timed(lambda: ours(args.steps, 512)))
    p, a = statistics.median(rows["plain"]), statistics.median(rows["audio"])
    print(
        f"render 512x512, {args.steps} steps: plain {p:.3f} s, with audio {a:.3f} s, ratio {a / p:.3f} (target <= 1.05)"
    )

    previews = [timed(lambda: ours(args.preview_steps, 256)) for _ in range(max(args.repeats, 10))]
    print(
        f"preview 256x256, {args.preview_steps} steps (encodings cached): median {statistics.median(previews):.3f} s "
        f"(target <= 0.15 s)"
    )

    torch.cuda.reset_peak_memory_stats()
    ours(args.steps, 512)
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"peak GPU memory, 512x512 render with CLAP: {peak:.2f} GiB (target <= 4 GB)")
    try:
        torch.cuda.reset_peak_memory_stats()
        engine.generate(params.replace(steps=args.steps, sources="stems"))
        print(f"peak GPU memory with Demucs stems: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    except Exception as exc:  # noqa: BLE001 - e.g. no Demucs weights offline: say so, keep the other rows
        print(f"stems mode not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
