"""A demo dataset from the bundled sample clips: a dataset folder to try training on with nothing
downloaded (`python -m core prepare --samples`, the Train page's "Make the demo dataset").

Each sample clip (assets/samples, made by assets/make_samples.py) gets a picture drawn in code to
match what it sounds like (rain streaks, a lightning bolt, birds in trees, a lit street, an engine's
wheels, three bands of colour for three tones) and a caption. It teaches the pipeline, not a
model: six rows are far too few for trained mode to learn real scenes; the tiny demo models learn
them in a few steps. The folder appears whole or not at all, and an existing one is never written
over.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..export.atomic import atomic_write, publish_folder
from ..samples import sample_paths
from .dataset import METADATA, DatasetError

SIDE = 256  # px: big enough to read at a glance; training resizes to its own resolution
Painter = Callable[[np.random.Generator], np.ndarray]


def _canvas(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A vertical gradient from `top` to `bottom`, float RGB in 0..255."""
    t = np.linspace(0.0, 1.0, SIDE)[:, None, None]
    row = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.repeat(row, SIDE, axis=1)


def _disc(img: np.ndarray, cy: float, cx: float, r: float, colour: tuple[int, int, int]) -> None:
    y, x = np.ogrid[:SIDE, :SIDE]
    img[(y - cy) ** 2 + (x - cx) ** 2 <= r * r] = colour


def _rain(rng: np.random.Generator) -> np.ndarray:
    img = _canvas((60, 70, 90), (25, 30, 45))
    for _ in range(140):  # slanted streaks
        y, x = rng.integers(0, SIDE, 2)
        for k in range(14):
            if 0 <= y + k < SIDE and 0 <= x + k // 3 < SIDE:
                img[y + k, x + k // 3] = (170, 185, 210)
    return img


def _thunder(rng: np.random.Generator) -> np.ndarray:
    img = _canvas((20, 15, 40), (55, 45, 80))
    x = SIDE // 2 + int(rng.integers(-30, 30))
    for y in range(0, int(SIDE * 0.8)):  # a jagged bolt, three pixels wide
        x = int(np.clip(x + rng.integers(-3, 4), 8, SIDE - 8))
        img[y, x - 1 : x + 2] = (250, 250, 210)
    return img


def _birdsong(rng: np.random.Generator) -> np.ndarray:
    img = _canvas((150, 200, 240), (200, 230, 250))
    for cy, cx, r in ((200, 60, 70), (190, 180, 80), (230, 120, 60)):  # tree crowns
        _disc(img, cy, cx, r, (40, 120, 50))
    for _ in range(7):  # birds
        cy, cx = rng.integers(110, 220), rng.integers(20, SIDE - 20)
        _disc(img, cy, cx, 5, (200, 50, 40) if rng.random() < 0.5 else (240, 200, 40))
    return img


def _street(rng: np.random.Generator) -> np.ndarray:
    img = _canvas((30, 30, 60), (70, 60, 80))
    img[int(SIDE * 0.8) :] = (70, 70, 70)  # the road
    img[int(SIDE * 0.89) : int(SIDE * 0.91), ::24] = (230, 230, 230)
    x = 0
    while x < SIDE:  # buildings with lit windows
        w, h = int(rng.integers(30, 60)), int(rng.integers(80, 170))
        top = int(SIDE * 0.8) - h
        img[top : int(SIDE * 0.8), x : x + w - 4] = (45, 45, 55)
        for wy in range(top + 8, int(SIDE * 0.8) - 8, 14):
            for wx in range(x + 6, x + w - 10, 12):
                if rng.random() < 0.6:
                    img[wy : wy + 6, wx : wx + 5] = (250, 210, 90)
        x += w
    return img


def _engine(rng: np.random.Generator) -> np.ndarray:
    img = _canvas((35, 35, 35), (15, 15, 15))
    img[90:170, 40:220] = (190, 90, 30)  # the body
    img[60:90, 80:180] = (150, 150, 150)
    for cx in (80, 180):  # wheels
        _disc(img, 175, cx, 30, (20, 20, 20))
        _disc(img, 175, cx, 12, (160, 160, 160))
    for _ in range(5):  # exhaust
        _disc(img, int(rng.integers(40, 80)), int(rng.integers(10, 40)), 8, (110, 110, 110))
    return img


def _tones(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((SIDE, SIDE, 3))
    for band, colour in enumerate(((40, 60, 200), (40, 180, 70), (220, 50, 40))):  # low, mid, high
        img[band * SIDE // 3 : (band + 1) * SIDE // 3] = colour
    return img + rng.normal(0, 4, img.shape)


@dataclass(frozen=True)
class DemoRow:
    clip: str  # the sample's name (assets/samples/<clip>.wav)
    caption: str
    paint: Painter


DEMO_ROWS: tuple[DemoRow, ...] = (
    DemoRow("rain", "heavy rain falling at night", _rain),
    DemoRow("thunder", "lightning and thunder in a dark sky", _thunder),
    DemoRow("birdsong", "birds singing in the trees", _birdsong),
    DemoRow("street", "a city street at night with cars and people", _street),
    DemoRow("engine", "an engine idling", _engine),
    DemoRow("tones", "three pure tones, low, middle and high", _tones),
)


def demo_picture(row: DemoRow, seed: int = 0) -> Image.Image:
    """The row's picture: the same pixels for the same seed on every machine."""
    pixels = row.paint(np.random.default_rng(seed))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def occupied(folder: Path) -> bool:
    """Something is at `folder` that the demo must not be written over: a file, or a folder with anything in it."""
    return folder.exists() and (not folder.is_dir() or any(folder.iterdir()))


def write_demo_dataset(out: str | Path) -> Path:
    """Write the demo dataset into `out` (a new or empty folder): clips/, images/ and metadata.jsonl.
    It is made in a temporary folder beside `out` and renamed to it whole, so `out` is never a dataset
    cut short (a full disk, Ctrl-C), and of two writers at once the second finds the first's dataset."""
    out = Path(out).expanduser()
    if occupied(out):
        raise DatasetError(f"{out} already exists and is not an empty folder: give a new folder for the demo dataset")
    samples = sample_paths()
    missing = [r.clip for r in DEMO_ROWS if r.clip not in samples]
    if missing:
        raise DatasetError(
            f"the sample clips {', '.join(missing)} are missing from assets/samples: make them with "
            "`python assets/make_samples.py`"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.{secrets.token_hex(4)}"  # hidden: never listed as a dataset
    work.mkdir()  # the usual mode (0777 minus the umask): tempfile's 0700 would hide it from the studio's users
    try:
        lines = []
        for seed, row in enumerate(DEMO_ROWS):
            audio, image = f"clips/{row.clip}.wav", f"images/{row.clip}.png"
            atomic_write(work / audio, samples[row.clip].read_bytes())
            png = io.BytesIO()
            demo_picture(row, seed).save(png, format="PNG")
            atomic_write(work / image, png.getvalue())
            lines.append(json.dumps({"audio": audio, "image": image, "caption": row.caption}) + "\n")
        atomic_write(work / METADATA, "".join(lines).encode())
        if not publish_folder(work, out) and not (out / METADATA).is_file():  # another writer's folder
            raise DatasetError(f"{out} was filled by something else meanwhile: give a new folder for the demo dataset")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


__all__ = ["DEMO_ROWS", "DemoRow", "demo_picture", "occupied", "write_demo_dataset"]
