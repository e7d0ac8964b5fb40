"""Images from files a user or a run supplied, decoded defensively: a damaged file is a message,
never a Streamlit exception that takes the page down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DAMAGED = "This image is damaged or incomplete."


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


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min': how long is left, in the words a progress line uses."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
