"""Where the bundled sample sounds live, so the studio and the tests find them without guessing."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"


def sample_paths() -> dict[str, Path]:
    """name -> path of every WAV in assets/samples (made by assets/make_samples.py), sorted by name."""
    if not SAMPLES_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SAMPLES_DIR.glob("*.wav")) if not p.name.startswith(".")}


__all__ = ["SAMPLES_DIR", "sample_paths"]
