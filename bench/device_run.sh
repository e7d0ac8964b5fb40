#!/usr/bin/env bash
# bench/gpu.py on a CUDA machine, for one run in limited time: install the wheels in .whl/ if any
# (for a machine without network that has torch but not diffusers, soundfile, soxr or demucs; the
# list and the download command: docs/PERFORMANCE.md, "Running it on a CUDA machine"), check the
# imports before any time goes to models, then run bench/gpu.py under a time limit (GPU_BENCH_S,
# 480 s), unbuffered, its output kept in $OUT/gpu.log even when the limit cuts it short. Extra
# arguments go to bench/gpu.py.
#
#   PYTHON=.venv/bin/python bash bench/device_run.sh [--no-compile]
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/clap2diff-bench}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "installing the carried wheels failed" | tee "$OUT/gpu.log"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PYTHON" -c "import diffusers, transformers, soundfile, soxr, safetensors, scipy; print('imports ok: diffusers', diffusers.__version__, 'transformers', transformers.__version__)" 2>&1 \
  | tee "$OUT/imports.log" || { echo "a package bench/gpu.py needs is missing: carry its wheel in .whl/"; exit 1; }
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
timeout "${GPU_BENCH_S:-480}" "$PYTHON" bench/gpu.py "$@" 2>&1 | tee "$OUT/gpu.log"
