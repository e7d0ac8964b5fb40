"""Cost of an edit against diffusers' plain img2img on the same photo (SD 1.5 shapes, random weights).

    python bench/edit_overhead.py [--size 256] [--steps 6] [--denoise 0.5] [--repeats 2]

Variants, interleaved in one run so machine noise hits all alike, each the same photo, seed and
steps: diffusers' `StableDiffusionImg2ImgPipeline` (text only), our variation with the audio
adapters (strength 1), the masked variation (latents replaced outside the mask every step,
pixels composited back), and keep structure twice: with the photo's DDIM inversion in the engine's
cache (a second edit of the same photo) and cold (the cache emptied first, so the inversion is paid).
Prints the median seconds and the ratio to plain img2img, then the inversion's own seconds cold and
on a cache hit. On CUDA: 512x512, 25 steps, fp16, with peak GPU memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from core.edit import EditParams, edit_photo  # noqa: E402
from core.edit.structure import inversion_cache  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from core.samples import sample_paths  # noqa: E402


def sd15_engine(device: str, dtype: torch.dtype):
    """The engine on SD 1.5-shaped random weights (and the tiny CLAP: its cost is cached per clip)."""
    from core.engine import Engine
    from core.models import ModelBundle, ModelSpec
    from core.tiny import sd15_pipeline, tiny_clap

    clap_model, features, tokenizer = tiny_clap()
    spec = ModelSpec("sd15-random", None, None, "SD 1.5 shapes, random weights")
    pipe = sd15_pipeline().to(device, dtype)
    return Engine(bundle=ModelBundle(spec, pipe, clap_model.to(device), features, tokenizer, device, dtype))


def photo_and_mask(folder: Path, size: int) -> tuple[Path, Path]:
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, (x * y) % 256], -1).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(folder / "photo.png")
    region = np.zeros((size, size), np.uint8)
    region[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 255
    Image.fromarray(region, "L").save(folder / "mask.png")
    return folder / "photo.png", folder / "mask.png"


def measure(device: str, dtype: torch.dtype, size: int, steps: int, denoise: float, repeats: int) -> dict:
    from diffusers import StableDiffusionImg2ImgPipeline

    engine = sd15_engine(device, dtype)
    folder = Path(tempfile.mkdtemp(prefix="edit-bench-"))
    photo, mask = photo_and_mask(folder, size)
    gen = GenerationParams(prompt="a city", audio_path=str(sample_paths()["thunder"]), steps=steps, seed=0)
    params = EditParams(gen).replace(image_path=str(photo), denoise=denoise, max_side=size)
    image = Image.open(photo).convert("RGB")

    def plain() -> None:
        engine._set_scheduler(gen.scheduler)
        img2img = StableDiffusionImg2ImgPipeline(**engine.pipe.components, requires_safety_checker=False)
        img2img.set_progress_bar_config(disable=True)
        img2img(prompt=gen.prompt, image=image, strength=denoise, num_inference_steps=steps,
                generator=torch.Generator("cpu").manual_seed(0))  # fmt: skip

    inversion: dict[str, list[float]] = {"cold": [], "cache hit": []}

    def structure(cold: bool) -> None:
        if cold:
            inversion_cache(engine).clear()
        result = edit_photo(engine, params.replace(edit_mode="structure"))
        inversion["cold" if cold else "cache hit"].append(result.timings["inversion"])

    variants = {
        "diffusers img2img (text only)": plain,
        "variation + audio": lambda: edit_photo(engine, params),
        "masked variation + audio": lambda: edit_photo(engine, params.replace(mask_path=str(mask))),
        "structure + audio, cached": lambda: structure(cold=False),
        "structure + audio, cold": lambda: structure(cold=True),
    }
    for run in variants.values():
        run()  # warm-up; fills the CLAP and prompt caches as in the studio
    for seconds in inversion.values():
        seconds.clear()
    times: dict[str, list[float]] = {k: [] for k in variants}
    peaks: dict[str, float] = {}
    rows: dict[str, int] = {}  # UNet batch rows per edit: the work, whatever the machine's load
    counted = [0]
    hook = engine.pipe.unet.register_forward_pre_hook(lambda m, args: counted.__setitem__(0, counted[0] + len(args[0])))
    for _ in range(repeats):
        for label, run in variants.items():
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            counted[0] = 0
            start = time.perf_counter()
            run()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                peaks[label] = torch.cuda.max_memory_allocated() / 2**30
            times[label].append(time.perf_counter() - start)
            rows[label] = counted[0]
    hook.remove()
    results = {k: (statistics.median(v), peaks.get(k), rows[k]) for k, v in times.items()}
    results.update({f"  of which inversion, {k}": (statistics.median(v), None, None) for k, v in inversion.items()})
    return results


def report(results: dict) -> None:
    base, _, base_rows = next(iter(results.values()))
    for label, (seconds, peak, rows) in results.items():
        memory = f"   peak {peak:.2f} GiB" if peak is not None else ""
        work = f"   UNet rows {rows:3d} ({rows / base_rows:.2f}x)" if rows is not None else ""
        print(f"  {label:<30} {seconds:7.2f} s   ratio {seconds / base:.3f}{work}{memory}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--denoise", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")  # fmt: skip
    print(f"CPU fp32, {args.size}x{args.size}, {args.steps} steps, denoise {args.denoise}, median of {args.repeats}")
    report(measure("cpu", torch.float32, args.size, args.steps, args.denoise, args.repeats))
    if torch.cuda.is_available():
        print(f"CUDA {torch.cuda.get_device_name()}: fp16, 512x512, 25 steps, denoise {args.denoise}, median of 5")
        report(measure("cuda", torch.float16, 512, 25, args.denoise, 5))


if __name__ == "__main__":
    main()
