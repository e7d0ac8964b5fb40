#!/usr/bin/env bash
# Create .venv and install the pinned requirements; a no-op when nothing changed since last time.
#   scripts/setup.sh            runtime requirements (studio, CLI)
#   scripts/setup.sh --dev      plus the test requirements, and Debian's chromium and ffmpeg for the tests
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
req=requirements.txt
[ $dev = 1 ] && req=requirements-dev.txt

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "CLAP2Diff Studio needs Python 3.11 or newer (found: $("$python" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$python" -m venv .venv
fi

stamp=.venv/.installed-$(cat requirements.txt "$req" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing $req (first time: a few minutes, ~2 GB)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$req"
  touch "$stamp"
fi

# librosa's numba kernels compile once per install (~25 s on 2 cores): here, not in the first
# spectrogram a user asks for. studio.sh and test.sh point NUMBA_CACHE_DIR at the same folder.
numba_cache=${NUMBA_CACHE_DIR:-$PWD/.numba_cache}
if [ ! -f "$numba_cache/.warm-${stamp##*-}" ]; then
  echo "==> compiling librosa's spectrogram kernels (once: ~30 s)"
  NUMBA_CACHE_DIR=$numba_cache .venv/bin/python -c 'from core.spectrum import warm_up; warm_up()'
  touch "$numba_cache/.warm-${stamp##*-}"
fi

# Debian packages the tests need: chromium for the browser tests, ffmpeg for the m4a/AAC decoding
# fallback. Missing ones make those tests skip on a developer's machine and fail under CI (CI=true).
if [ $dev = 1 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing Debian's ${missing[*]} for the tests"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "note: ${missing[*]} not installed, so their tests will be skipped here and fail under CI (sudo apt-get install ${missing[*]})." >&2
    fi
  fi
fi
