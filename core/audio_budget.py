"""How much memory one decoded clip may take, checked from the header before decoding.

MAX_SECONDS bounds duration, not bytes: many channels at a high rate, or an 8-bit file (4x its size
as float32), can ask for gigabytes within the hour. The budget is an hour of 48 kHz stereo as
float32 (1.38 GB), what the one-hour limit promises for ordinary audio.
"""

from __future__ import annotations

MAX_DECODED_BYTES = 3600 * 48000 * 2 * 4


def decoded_size_problem(frames: int, channels: int, label: str) -> str | None:
    """Why a clip of `frames` x `channels` float32 samples is refused, or None within the budget."""
    size = frames * max(1, channels) * 4
    if size <= MAX_DECODED_BYTES:
        return None
    return (
        f"{label} would take {size / 1e9:.1f} GB of memory decoded ({channels} channels), more than the "
        f"{MAX_DECODED_BYTES / 1e9:.2f} GB one clip may use: "
        + ("cut it shorter or mix it down to stereo" if channels > 2 else "cut it shorter")
        + ", then use that."
    )


__all__ = ["MAX_DECODED_BYTES", "decoded_size_problem"]
