"""Training throughput and memory at SD 1.5 shapes (random weights; nothing downloaded).

    python bench/train_throughput.py [--sizes 256,512] [--steps 2] [--stage1-batch 8] [--checkpointing both]

CPU (always): samples/s of stage 1 (the AudioProjector at the seed's size against 77x768 text
tokens) and of stage 2 (projector + gated adapters in SD 1.5's UNet, 860 M parameters, noise-
prediction loss) at batch 1 per image size, with gradient checkpointing on and off. CUDA (when
present): peak GPU memory and samples/s of stage 2 at 512x512 (64x64 latents), fp16 mixed
precision, batch 1 / 4 / 8, with and without gradient checkpointing (target: batch 4 fits 12 GB).

Every step is the training loop's own: `StageModel` + `make_optimizer` + `optimizer_step` under an
accelerate `Accelerator`; only the cached features (CLAP embedding, text tokens, VAE latents) are
random tensors of their real shapes, since the loop never runs the frozen encoders.
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

from core.attention import AudioAdapters  # noqa: E402
from core.audio_state import AudioState  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from core.projector import AudioProjector, ProjectorConfig  # noqa: E402
from core.tiny import SD15_SCHEDULER_CONFIG, sd15_unet  # noqa: E402
from core.train.stages import StageModel, level_blend_table, make_optimizer, optimizer_step  # noqa: E402  # noqa: E402

CLAP_DIM, TOKEN_DIM = 512, 768  # LAION-CLAP joint space, SD 1.x text tokens


def random_batch(batch: int, latent: int | None, device, table: torch.Tensor | None, g: torch.Generator) -> dict:
    out = {"clap": torch.randn(batch, CLAP_DIM, generator=g), "text": torch.randn(batch, 77, TOKEN_DIM, generator=g)}
    if latent is not None:
        t = torch.randint(0, 1000, (batch,), generator=g)
        out.update(
            latents=torch.randn(batch, 4, latent, latent, generator=g),
            noise=torch.randn(batch, 4, latent, latent, generator=g),
            timesteps=t,
            cond=out["text"],
            blend=table[t],
        )
    return {k: v.to(device) for k, v in out.items()}


def measure(stage: int, batch: int, size: int | None, steps: int, checkpointing: bool, cuda: bool) -> dict:
    """samples/s (and peak GPU memory) of `steps` optimizer steps after one warm-up step."""
    from accelerate import Accelerator
    from diffusers import DDPMScheduler

    accelerator = Accelerator(mixed_precision="fp16" if cuda else "no", cpu=not cuda)
    device, weight_dtype = accelerator.device, torch.float16 if cuda else torch.float32
    torch.manual_seed(0)
    projector = AudioProjector(ProjectorConfig(input_dim=CLAP_DIM, output_dim=TOKEN_DIM))
    unet = adapters = scheduler = table = None
    if stage == 2:
        unet = sd15_unet().to(device).requires_grad_(False)
        if weight_dtype != torch.float32:
            unet.to(dtype=weight_dtype)
        if checkpointing:
            unet.enable_gradient_checkpointing()
        adapters = AudioAdapters(unet, AudioState())
        scheduler = DDPMScheduler.from_config(SD15_SCHEDULER_CONFIG)
        table = level_blend_table(1000, GenerationParams())
    model = StageModel(stage, projector, adapters, unet, scheduler, GenerationParams())
    model.requires_grad_(True).to(device, torch.float32)
    model.projector.eval()
    optimizer = make_optimizer(model, 1e-4, 1e-2)
    model, optimizer = accelerator.prepare(model, optimizer)
    g = torch.Generator().manual_seed(0)
    latent = size // 8 if size else None
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    times = []
    try:
        for _ in range(steps + 1):
            batches = [random_batch(batch, latent, device, table, g)]
            start = time.perf_counter()
            loss = optimizer_step(accelerator, model, optimizer, batches, 1.0)
            float(loss)  # waits for the device
            times.append(time.perf_counter() - start)
    except torch.cuda.OutOfMemoryError:
        return {"samples_per_s": None, "peak_gib": None, "oom": True}
    finally:
        if adapters is not None:
            adapters.remove()
    seconds = sum(times[1:]) / max(1, len(times) - 1)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    del model, optimizer, unet
    return {"samples_per_s": batch / seconds, "seconds_per_step": seconds, "peak_gib": peak, "oom": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512", help="image sizes for stage 2 on the CPU")
    parser.add_argument("--steps", type=int, default=2, help="timed optimizer steps (after one warm-up)")
    parser.add_argument("--stage1-batch", type=int, default=8)
    parser.add_argument("--checkpointing", choices=("both", "on", "off"), default="both", help="CPU stage 2 variants")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU part")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads")

    if not args.no_cpu:
        print("\nCPU, fp32")
        print("| stage | image | batch | gradient checkpointing | s / step | samples/s |")
        print("|---|---|---|---|---|---|")
        r = measure(1, args.stage1_batch, None, max(args.steps, 3), False, cuda=False)
        print(f"| 1 | - | {args.stage1_batch} | - | {r['seconds_per_step']:.3f} | {r['samples_per_s']:.1f} |")
        for size in [int(s) for s in args.sizes.split(",") if s]:
            for checkpointing in {"both": (True, False), "on": (True,), "off": (False,)}[args.checkpointing]:
                r = measure(2, 1, size, args.steps, checkpointing, cuda=False)
                on = "on" if checkpointing else "off"
                print(
                    f"| 2 | {size}² | 1 | {on} | {r['seconds_per_step']:.2f} | {r['samples_per_s']:.3f} |", flush=True
                )

    if not torch.cuda.is_available():
        print("\nno CUDA: GPU peak-memory rows (512², fp16, batch 1/4/8, checkpointing on/off) not measured")
        return
    print(f"\nCUDA {torch.cuda.get_device_name()}, fp16 mixed precision, stage 2 at 512²")
    print("| batch | gradient checkpointing | peak GiB | samples/s | fits 12 GB |")
    print("|---|---|---|---|---|")
    for batch in (1, 4, 8):
        for checkpointing in (True, False):
            r = measure(2, batch, 512, args.steps, checkpointing, cuda=True)
            on = "on" if checkpointing else "off"
            if r["oom"]:
                print(f"| {batch} | {on} | out of memory | - | no |", flush=True)
            else:
                fits = "yes" if r["peak_gib"] * 2**30 < 12e9 else "no"
                print(f"| {batch} | {on} | {r['peak_gib']:.2f} | {r['samples_per_s']:.2f} | {fits} |", flush=True)


if __name__ == "__main__":
    main()
