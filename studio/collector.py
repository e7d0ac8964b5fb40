"""Keep the garbage collection Streamlit runs after every script run cheap.

Streamlit calls `gc.collect(2)` at the end of every run, fragment reruns included
(`runner.postScriptGC`), so that cyclic garbage never piles up between reruns. A full collection
walks every object the collector tracks: with torch, transformers, diffusers and plotly imported
and a model loaded, about 500 000 objects, 180 ms on the 2-core machine. It runs in the script
thread right after the live preview's picture is queued, and it holds the GIL, so the server sent
the picture ~190 ms late on every slider release (bench/studio_latency.py, docs/PERFORMANCE.md).

Why not turn it off: it is what keeps memory flat when sessions drop large objects in cycles.
Instead `settle()` moves the long-lived objects (the imports and the loaded models, which no rerun
will free) into the collector's permanent generation with `gc.freeze()`, after one last full
collection so that no garbage is frozen. Each later collection walks only what was allocated
since: 0.1 ms. It acts only when there are many objects outside the permanent generation (a model
or a large library just loaded), so a session's own short-lived objects are left to the collector.

Frozen objects are still freed by reference counting; only cycles among them would wait for ever.
So an engine that leaves the cache unfreezes everything (`release`), and the next `settle()`
collects what it left before freezing again.
"""

from __future__ import annotations

import gc
from typing import Any

# Objects outside the permanent generation above which settle() freezes: a full collection of this
# many costs ~18 ms on the 2-core machine (10 % of what 500 000 cost).
SETTLE_ABOVE = 50_000


def loose_objects() -> int:
    """Objects a full collection walks now (the oldest generation holds the survivors)."""
    return len(gc.get_objects(generation=2))


def settle(threshold: int = SETTLE_ABOVE) -> bool:
    """Freeze what is alive when many objects are outside the permanent generation; True if it did."""
    if loose_objects() < threshold:
        return False
    gc.collect()
    gc.freeze()
    return True


def settle_on_server() -> bool:
    """`settle()` on a Streamlit server only: a test process (AppTest) keeps its own collector as it
    is, since it creates and drops many engines whose cycles must stay collectable."""
    from streamlit import runtime

    return runtime.exists() and settle()


def release(_resource: Any = None) -> None:
    """A long-lived resource (an engine) left its cache: let the collector see everything again."""
    gc.unfreeze()


__all__ = ["SETTLE_ABOVE", "loose_objects", "release", "settle", "settle_on_server"]
