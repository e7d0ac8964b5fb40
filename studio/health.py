"""The server's memory in one line (the sidebar shows it), so whoever runs a shared studio sees
what it holds: the process's resident memory, and how much of it is decoded audio."""

from __future__ import annotations

import psutil

from core import decoded_clips


def memory_line() -> str:
    rss = psutil.Process().memory_info().rss
    cache = decoded_clips()
    return (
        f"Server memory {rss / 2**30:.2f} GB · decoded clips {cache.nbytes / 2**20:.0f} of "
        f"{cache.max_bytes / 2**20:.0f} MB"
    )


__all__ = ["memory_line"]
