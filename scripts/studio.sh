#!/usr/bin/env bash
# Set up (if needed) and start the studio. CLAP2DIFF_MODELS picks the models: sd15 (the default;
# without its weights in the Hugging Face cache the page says what to download and offers the tiny
# demo), tiny (offline demo), a hub id, or a local folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$PWD/.numba_cache}
# Streamlit refuses an upload over its server.maxUploadSize (.streamlit/config.toml) before the
# studio sees it, so an operator's CLAP2DIFF_MAX_UPLOAD_MB above that is passed on (a lower one is
# the studio's to say, with its advice; a value that is no whole number, the studio's to report).
upload_mb=$(printf '%s' "${CLAP2DIFF_MAX_UPLOAD_MB:-}" | tr -d '[:space:]')
streamlit_mb=$(sed -n 's/^maxUploadSize *= *\([0-9]*\).*/\1/p' .streamlit/config.toml)
upload=()
if [[ $upload_mb =~ ^[0-9]+$ ]] && (( 10#$upload_mb > ${streamlit_mb:-200} )); then
  upload=(--server.maxUploadSize "$((10#$upload_mb))")
fi
exec .venv/bin/python -m streamlit run studio/app.py \
  --server.fileWatcherType none --server.headless true --server.port "${PORT:-8501}" "${upload[@]}" "$@"
