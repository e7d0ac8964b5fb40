"""The engine on a CUDA GPU: full render against plain diffusers, preview latency with each fast path
on and off, peak memory.

    python bench/gpu.py [--steps 25] [--preview-steps 8] [--repeats 5] [--no-compile]
    python bench/gpu.py --cpu-smoke      # the same code on the tiny models on CPU (tests run it)
    bash bench/device_run.sh             # the same under a time limit, after an import check (and .whl/ wheels)

SD 1.5 shapes with random weights, fp16 (nothing to download), a full-size random CLAP and a
TAESD-shaped preview decoder:

- render: 512x512, 25 steps with the audio adapters against the plain StableDiffusionPipeline on
  the same pipeline (ratio; target <= 1.05);
- preview: 256x256, 8 steps once the encodings are cached, with no fast path, each preview fast path
  alone (core/fastpaths.py: channels_last, compiled UNet, TAESD decoder) and all of them (target
  <= 0.15 s on a current datacentre GPU); the compiled UNet's one-time warm-up is its own row;
- peak GPU memory of the full pipeline with CLAP, and with Demucs in stems mode (target <= 4 GB).

Elsewhere it prints one "no CUDA" line and exits 0, so CI and laptops can run it. `--cpu-smoke`
runs every row on the tiny models at 64 px, 2 steps, with torch.compile's "eager" backend (no C
compiler): its numbers mean nothing, it proves the script runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

NO_CUDA = "no CUDA: bench/gpu.py measures the engine on a CUDA GPU; nothing measured on this machine"


@dataclass(frozen=True)
class Sizes:
    render_side: int
    render_steps: int
    preview_side: int
    preview_steps: int
    repeats: int
    compile: bool = True


def engine_on_cuda():
    """The engine over SD 1.5-shaped random weights in fp16, a full-size random CLAP (ClapConfig's
    defaults: HTSAT + RoBERTa, LAION-CLAP's shapes, fp32 as the engine keeps it) and TAESD's shapes
    (AutoencoderTiny's defaults) as the preview decoder."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    from core.engine import Engine
    from core.models import ModelBundle, ModelSpec
    from core.tiny import TINY_SEED, sd15_pipeline, sd15_preview_vae, tiny_roberta_tokenizer

    pipe = sd15_pipeline().to("cuda", torch.float16)
    torch.manual_seed(TINY_SEED)
    clap = ClapModel(ClapConfig()).eval().to("cuda")
    bundle = ModelBundle(
        ModelSpec("sd15-random", None, None, "SD 1.5 shapes, random weights"),
        pipe,
        clap,
        ClapFeatureExtractor(),
        tiny_roberta_tokenizer(),
        "cuda",
        torch.float16,
        preview_vae=sd15_preview_vae().to("cuda", torch.float16),
    )
    return Engine(bundle=bundle)


def engine_on_cpu():
    from core.engine import Engine

    os.environ.setdefault("CLAP2DIFF_COMPILE_BACKEND", "eager")  # dynamo's graph, no C compiler
    return Engine("tiny", device="cpu")


def timed(fn: Callable[[], object], cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def preview_times(
    variants: dict[str, object], preview: Callable[[object], None], repeats: int, cuda: bool
) -> dict[str, list[float]]:
    """Each variant's preview times, interleaved within a memory format and never across one: a
    format switch moves the weights, which a CUDA graph holds by address (it would re-record inside
    the timed call), so the variants run grouped by format, each warmed once after the switch. A
    variant whose UNet cannot compile is said and left out; the other rows go on."""
    from core.fastpaths import CompileFailed

    times: dict[str, list[float]] = {}
    failed: str | None = None  # after a failed compile, previews run uncompiled: no compiled row then
    for channels_last in (False, True):
        group = {k: v for k, v in variants.items() if v.channels_last == channels_last}
        for name, fast in list(group.items()):  # warm each: the compiled UNet traces here, per format
            if failed and fast.compile:
                print(f"  {name}: not measured: the UNet did not compile ({failed})")
                del group[name]
                continue
            try:
                warm = timed(lambda fast=fast: preview(fast), cuda)
            except CompileFailed as exc:
                failed = str(exc)
                print(f"  {name}: not measured: {exc}")
                del group[name]
                continue
            if fast.compile:
                print(f"  warm-up, {name}: {warm:.1f} s (one-time, per image size and memory format)")
        for _ in range(repeats):  # interleaved: clock and thermal drift hit the group alike
            for name, fast in group.items():
                times.setdefault(name, []).append(timed(lambda fast=fast: preview(fast), cuda))
    return times


def run(engine, sizes: Sizes, cuda: bool) -> None:
    from core.fastpaths import FastSettings
    from core.params import GenerationParams
    from core.samples import sample_paths

    pipe = engine.pipe
    params = GenerationParams(prompt="a city", audio_path=str(sample_paths()["thunder"]), seed=0)
    params = params.replace(models=engine.spec.name)

    def plain(steps: int, side: int) -> None:
        pipe(
            prompt=params.prompt,
            num_inference_steps=steps,
            height=side,
            width=side,
            generator=torch.Generator("cpu").manual_seed(0),
        )

    def ours(steps: int, side: int, fast: FastSettings | None = None) -> None:
        engine.generate(params.replace(steps=steps, width=side, height=side), fast=fast)

    side, steps = sizes.render_side, sizes.render_steps
    ours(2, side)  # warm-up: kernels, and the engine's CLAP / prompt caches, as in the studio
    plain(2, side)
    rows: dict[str, list[float]] = {"plain": [], "audio": []}
    for _ in range(sizes.repeats):  # interleaved: clock and thermal drift hit both alike
        rows["plain"].append(timed(lambda: plain(steps, side), cuda))
        rows["audio"].append(timed(lambda: ours(steps, side), cuda))
    p, a = statistics.median(rows["plain"]), statistics.median(rows["audio"])
    print(
        f"render {side}x{side}, {steps} steps: plain diffusers {p:.3f} s, ours with audio {a:.3f} s, "
        f"ratio {a / p:.3f} (target <= 1.05)"
    )

    side, steps = sizes.preview_side, sizes.preview_steps
    variants = {
        "no fast path": FastSettings.only(),
        "channels_last": FastSettings.only("channels_last"),
        "compiled UNet": FastSettings.only("compile"),
        "TAESD decoder": FastSettings.only("tiny_decoder"),
        "all fast paths": FastSettings.all_on(),
    }
    if not sizes.compile:  # --no-compile: the rows without the one-time warm-ups (~1 min each on a GPU)
        variants = {k: v for k, v in variants.items() if not v.compile}
        variants["all but compile"] = replace(FastSettings.all_on(), compile=False)
    times = preview_times(
        variants, lambda fast: ours(steps, side, fast), max(sizes.repeats, 2 if not cuda else 10), cuda
    )
    base = statistics.median(times["no fast path"])
    print(f"preview {side}x{side}, {steps} steps (encodings cached), median of {len(times['no fast path'])}:")
    for name, runs in times.items():
        t = statistics.median(runs)
        target = "  (target <= 0.15 s)" if name in ("all fast paths", "all but compile") else ""
        print(f"  {name:<15} {t:.3f} s  ({base / t:.2f}x no fast path){target}")
    if sizes.compile and engine.fast.compiled_runs == 0:
        print(f"  note: the compiled UNet never ran: {engine.fast.compile_error or 'see core/fastpaths.py'}")
    if sizes.compile:
        counters = torch._dynamo.utils.counters
        skips = dict(counters["inductor"]).get("cudagraph_skips", 0)
        print(f"  compiled graphs: {counters['stats']['unique_graphs']}, CUDA-graph skips: {skips}")

    if not cuda:
        print("peak GPU memory: measured on CUDA only")
        return
    side, steps = sizes.render_side, sizes.render_steps
    engine.listener.forget()  # CLAP runs again inside the measurement, as for a new clip
    torch.cuda.reset_peak_memory_stats()
    ours(steps, side)
    peak, reserved = torch.cuda.max_memory_allocated() / 2**30, torch.cuda.max_memory_reserved() / 2**30
    print(
        f"peak GPU memory, {side}x{side} render with CLAP: {peak:.2f} GiB allocated (target <= 4 GB), "
        f"{reserved:.2f} GiB reserved (the compiled previews' CUDA-graph pools included)"
    )
    try:
        from core.separation import RANDOM_HTDEMUCS_SPEC, get_separator

        engine._separator = get_separator(RANDOM_HTDEMUCS_SPEC, device="cuda")  # htdemucs' shapes, not tiny's
        torch.cuda.reset_peak_memory_stats()
        engine.generate(params.replace(steps=steps, width=side, height=side, sources="stems"))
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"peak GPU memory, {side}x{side} render with CLAP and Demucs (htdemucs shapes) stems: {peak:.2f} GiB")
    except Exception as exc:  # noqa: BLE001 - e.g. no Demucs weights offline: say so, keep the other rows
        print(f"stems mode not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--preview-steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled-UNet rows (their warm-ups)")
    parser.add_argument("--cpu-smoke", action="store_true", help="every row on the tiny models on CPU (proves it runs)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each row as it is measured, even through a pipe
    if args.cpu_smoke:
        print("CPU smoke run: tiny models, 64 px, 2 steps; the numbers mean nothing")
        run(engine_on_cpu(), Sizes(64, 2, 64, 2, 1, compile=not args.no_compile), cuda=False)
        return 0
    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    engine = engine_on_cuda()
    print(f"CUDA {torch.cuda.get_device_name()}, torch {torch.__version__}, fp16, SD 1.5 shapes (random weights)")
    run(engine, Sizes(512, args.steps, 256, args.preview_steps, args.repeats, compile=not args.no_compile), cuda=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
