"""What a fresh process or a fresh machine waits for before any model runs.

    python bench/cold_start.py [--repeats 3]

Side by side in one run, each in its own process (wall seconds, median of `--repeats`):

* the CLI's answer to `--help` and to a typo in `--audio` (generate, compare, sweep, edit), against `import core.engine` alone
  (torch, diffusers, transformers): the CLI must answer before it pays for that import;
* the first mel spectrogram in a process (what the Spectrogram and Compare pages draw first) with
  librosa's numba kernels compiled into NUMBA_CACHE_DIR by `core.spectrum.warm_up` (what
  scripts/setup.sh runs once per install) and with an empty cache (a machine where nobody did).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FIRST_SPECTROGRAM = (
    "import numpy as np; from core.spectrum import mel_spectrogram; "
    "mel_spectrogram(np.random.default_rng(0).standard_normal(48000).astype(np.float32), 48000)"
)


def wall(args: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds one process takes, start to exit (exit status 0 or 2: a refused input is an answer)."""
    t = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-500:]}")
    return time.perf_counter() - t


def median(args: list[str], repeats: int, env: dict[str, str] | None = None, fresh_cache: bool = False) -> float:
    times = []
    for _ in range(repeats):
        if fresh_cache:
            with tempfile.TemporaryDirectory() as empty:
                times.append(wall(args, {**(env or {}), "NUMBA_CACHE_DIR": empty}))
        else:
            times.append(wall(args, env))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.repeats
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"median of {n} runs, each in its own process")  # fmt: skip

    engine_import = median([PYTHON, "-c", "import core.engine"], n)
    photo = Path(tempfile.mkdtemp()) / "photo.png"  # an edit checks its photo before its clip
    Image.new("RGB", (64, 64), (40, 90, 160)).save(photo)
    cli = {
        "python -m core --help": median([PYTHON, "-m", "core", "--help"], n),
        **{
            f"{command} --audio typo.wav": median(
                [PYTHON, "-m", "core", command, "--models", "tiny", "--audio", "typo.wav", *extra], n
            )
            for command, extra in (
                ("generate", ["--out", "x.png"]),
                ("compare", ["--out", "cmp"]),
                ("sweep", ["--x", "seed=1,2", "--out", "sweep"]),
                ("edit", ["--image", str(photo), "--out", "x.png"]),
            )
        },
    }
    print(f"import core.engine alone: {engine_import:.2f} s")
    for name, seconds in cli.items():
        print(f"  {name:<28} {seconds:6.2f} s  ({seconds / engine_import:.2f}x the engine's import)")

    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        wall([PYTHON, "-c", "from core.spectrum import warm_up; warm_up()"], env)  # scripts/setup.sh's step
        warm = median([PYTHON, "-c", FIRST_SPECTROGRAM], n, env)
    cold = median([PYTHON, "-c", FIRST_SPECTROGRAM], n, fresh_cache=True)
    print("first mel spectrogram in a new process (import included):")
    print(f"  numba cache warmed by setup  {warm:6.2f} s")
    print(f"  empty numba cache            {cold:6.2f} s  ({cold / warm:.1f}x)")


if __name__ == "__main__":
    main()
