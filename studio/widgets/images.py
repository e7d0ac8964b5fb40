"""Images from files a user or a run supplied, decoded defensively: a damaged file is a message,
never a Streamlit exception that takes the page down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DAMAGED = "This image is damaged or incomplete."
INLINE_MAX_BYTES = 256_000  # a 64-256 px preview; a full render keeps the file route


def inline_png(png: bytes) -> str | bytes:
    """A small picture as a `data:` URL, so `st.image` sends it inside its own message.

    Why: a picture Streamlit stores as a media file is a second request from the browser, and on a
    busy server that request waits for the GIL behind the script's next work (~20 ms a press on the
    2-core bench; a network round trip for a remote browser). A preview is redrawn on every slider
    release, so it travels inline; a larger image keeps the file route and the message stays small.
    """
    import base64

    if len(png) > INLINE_MAX_BYTES:
        return png
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def safe_image(where: Any, source: str | Path | bytes, **kwargs: Any) -> bool:
    """Decode `source` fully with PIL first; show it, or say it is damaged. Returns whether shown."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            image = img.copy()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        where.caption(f":orange[{DAMAGED}]")
        return False
    where.image(image, **kwargs)
    return True


def loop_time(timings: dict[str, float]) -> str:
    """'0.12 s' for a preview's denoising loop, or what it mostly was: the compiled UNet's one-time
    warm-up (timed as the loop that traced it), so a slow first preview is not read as the loop's."""
    if "compile" in timings:
        return f"{timings['compile']:.1f} s with the one-time compile"
    return f"{timings.get('denoise', 0):.2f} s"


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min': how long is left, in the words a progress line uses."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
