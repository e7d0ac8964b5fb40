"""CLAP2Diff Studio: Streamlit glue over core/ (session, bindings, widgets, engine loader, charts).

Nothing here computes on audio or tokens: pages read params from widgets, call the engine and draw
what it returns. See docs/ARCHITECTURE.md and ../shared/DESIGN.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"


def bootstrap() -> None:
    """Put the repo root on sys.path and set the environment the engine expects (idempotent)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
