"""Figures for running a shared studio (docs/OPERATIONS.md): memory per model, Cancel in the decode,
the gallery on disk.

    python bench/ops_limits.py [--side 1024] [--sd-side 256] [--gallery 60]

* memory: the process's resident memory (RSS) after importing the stack, after loading the tiny
  models, and after a 256² render; the SD 1.5 / CLAP / HTDemucs parameter counts (models built with
  accelerate's empty weights: no memory) and the weight memory they imply in fp32 and fp16,
  printed as ESTIMATES (activations, caches and the allocator come on top).
* decode: a VAE decode of a `--side` image with the tiny VAE, and of a `--sd-side` image with SD
  1.5's VAE shape (random weights): the whole decode, its longest layer (how long a Cancel can wait
  inside it, core/callbacks.py DecodeCancel), and the measured time from Cancel to return.
* gallery: bytes on disk per kept render and the time to read `--gallery` of them back
  (studio/gallery_store.py), at 256².
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import psutil  # noqa: E402

_proc = psutil.Process()


def rss_mb() -> float:
    return _proc.memory_info().rss / 2**20


RSS_START = rss_mb()

import torch  # noqa: E402

from core.callbacks import DecodeCancel  # noqa: E402
from core.cancel import Cancelled  # noqa: E402


def sd15_empty():
    """SD 1.5's shapes (core/tiny.py sd15_pipeline) with empty weights: sizes and configs, no memory."""
    from accelerate import init_empty_weights

    from core.tiny import sd15_pipeline

    with init_empty_weights():
        return sd15_pipeline()


def params_m(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def memory(render_side: int) -> None:
    from core.engine import Engine
    from core.params import GenerationParams
    from core.samples import sample_paths

    imported = rss_mb()
    engine = Engine("tiny")
    loaded = rss_mb()
    params = GenerationParams(
        prompt="a city", audio_path=str(sample_paths()["thunder"]), steps=15, width=render_side, height=render_side,
        models="tiny", seed=1,
    )  # fmt: skip
    engine.generate(params)
    rendered = rss_mb()
    print("memory (RSS, MB)")
    print(f"  python + torch/diffusers/transformers imported   {imported:8.0f}   (interpreter alone {RSS_START:.0f})")
    print(f"  + tiny models loaded (Engine('tiny'))            {loaded:8.0f}   (+{loaded - imported:.0f})")
    print(f"  + one {render_side}² 15-step render (caches held)  {rendered:8.0f}   (+{rendered - loaded:.0f})")

    from accelerate import init_empty_weights
    from transformers import ClapConfig, ClapModel, CLIPTextModel

    pipe = sd15_empty()
    text = pipe.text_encoder.config
    text.vocab_size = 49408  # CLIP's real vocabulary (sd15_pipeline uses the tiny byte-level tokenizer)
    with init_empty_weights():
        text_encoder = CLIPTextModel(text)
        clap = ClapModel(ClapConfig())  # transformers' defaults: the LAION CLAP HTSAT + RoBERTa shape
        try:
            from demucs.htdemucs import HTDemucs

            demucs = HTDemucs(sources=["drums", "bass", "other", "vocals"])  # the class's defaults
        except ImportError:
            demucs = None
    parts = {"SD 1.5 UNet": pipe.unet, "SD 1.5 VAE": pipe.vae, "CLIP text encoder": text_encoder, "CLAP": clap}
    if demucs is not None:
        parts["HTDemucs (stems)"] = demucs
    print("ESTIMATED weight memory from parameter counts (not measured: no weights on this machine)")
    total = 0.0
    for name, module in parts.items():
        n = params_m(module)
        total += n
        print(f"  {name:<20} {n:8.1f} M params   fp32 {n * 4 / 1024:5.2f} GB   fp16 {n * 2 / 1024:5.2f} GB")
    print(f"  {'all':<20} {total:8.1f} M params   fp32 {total * 4 / 1024:5.2f} GB   fp16 {total * 2 / 1024:5.2f} GB")


def decode(name: str, vae: torch.nn.Module, side: int) -> None:
    latents = torch.randn(
        1, vae.config.latent_channels, side // 8, side // 8, generator=torch.Generator().manual_seed(0)
    )
    layers = [m for m in vae.decoder.modules() if isinstance(m, DecodeCancel.LAYERS)]
    times: list[float] = []
    start: list[float] = [0.0]
    handles = [m.register_forward_pre_hook(lambda *_: start.__setitem__(0, time.perf_counter())) for m in layers]
    handles += [m.register_forward_hook(lambda *_: times.append(time.perf_counter() - start[0])) for m in layers]
    with torch.inference_mode():
        t = time.perf_counter()
        vae.decode(latents)
        whole = time.perf_counter() - t
        for h in handles:
            h.remove()
        # Cancel pressed while the decode is halfway through its layers: time until it returns.
        cancel, pressed, seen = threading.Event(), [0.0], [0]

        def press(*_: object) -> None:
            seen[0] += 1
            if seen[0] == len(layers) // 2:
                pressed[0] = time.perf_counter()
                cancel.set()

        handle = [m.register_forward_hook(press) for m in layers]
        try:
            with DecodeCancel(vae.decoder, cancel):
                vae.decode(latents)
        except Cancelled:
            returned = time.perf_counter() - pressed[0]
        finally:
            for h in handle:
                h.remove()
    print(
        f"  {name:<22} {side:5d}²  whole decode {whole:7.2f} s   longest layer {max(times):6.2f} s "
        f"({len(layers)} layers)   Cancel -> return {returned * 1000:7.1f} ms   (whole/return {whole / returned:,.0f}×)"
    )


def gallery(count: int, side: int) -> None:
    from core.engine import Engine
    from core.export import png_bytes
    from core.params import GenerationParams
    from core.samples import sample_paths
    from studio import gallery_store
    from studio.history import HistoryItem

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CLAP2DIFF_UPLOADS"] = tmp
        engine = Engine("tiny")
        params = GenerationParams(
            prompt="a city", audio_path=str(sample_paths()["thunder"]), steps=4, width=side, height=side,
            models="tiny", seed=1,
        )  # fmt: skip
        result = engine.generate(params)
        png = png_bytes(result.image, result.params)
        code = gallery_store.new_code()
        t = time.perf_counter()
        for i in range(1, count + 1):
            gallery_store.keep(code, HistoryItem.of(result, png, "render", i), limit=count)
        kept = time.perf_counter() - t
        folder = gallery_store.galleries_dir() / code
        size = sum(f.stat().st_size for f in folder.iterdir())
        t = time.perf_counter()
        items = gallery_store.load(code)
        read = time.perf_counter() - t
    print(
        f"gallery ({side}², tiny models): {size / count / 1024:.0f} KB per render on disk (PNG + trace JSON); "
        f"writing {count}: {kept:.2f} s; reading {len(items)} back: {read:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=1024, help="image side for the tiny VAE decode")
    parser.add_argument("--sd-side", type=int, default=256, help="image side for the SD 1.5-shaped VAE decode")
    parser.add_argument("--gallery", type=int, default=60, help="renders written to and read back from a gallery")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · torch {torch.__version__} · CPU")
    memory(256)

    from diffusers import AutoencoderKL

    from core.engine import Engine

    print("decode: Cancel inside the VAE decode (core/callbacks.py DecodeCancel)")
    decode("tiny VAE", Engine("tiny").pipe.vae, args.side)
    torch.manual_seed(0)
    decode("SD 1.5 VAE (random w.)", AutoencoderKL.from_config(sd15_empty().vae.config).eval(), args.sd_side)
    gallery(args.gallery, 256)


if __name__ == "__main__":
    main()
