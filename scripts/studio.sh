#!/usr/bin/env bash
# Set up (if needed) and start the studio. CLAP2DIFF_MODELS picks the models: sd15 (the default;
# without its weights in the Hugging Face cache the page says what to download and offers the tiny
# demo), tiny (offline demo), a hub id, or a local folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$PWD/.numba_cache}
exec .venv/bin/python -m streamlit run studio/app.py \
  --server.fileWatcherType none --server.headless true --server.port "${PORT:-8501}" "$@"
