"""Synthetic training data for the training tests: real WAV, PNG/JPEG and MP4 files made in code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

RATE = 48000
TINY_PROJECTOR = (("hidden_dim", 16), ("expand_dim", 32), ("layers", 1), ("heads", 4))


def write_pair(root: Path, i: int, seconds: float = 1.0, silent: bool = False, jpeg: bool = False) -> dict:
    """clips/<i>.wav (a tone of its own pitch) + frames/<i>.png|jpg (colours of its own)."""
    (root / "clips").mkdir(parents=True, exist_ok=True)
    (root / "frames").mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t)
    sf.write(root / f"clips/{i}.wav", wave.astype(np.float32), RATE)
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[..., i % 3] = 40 * i + 30
    pixels[: 8 * (i % 8 + 1), :, (i + 1) % 3] = 220
    image = f"frames/{i}.{'jpg' if jpeg else 'png'}"
    Image.fromarray(pixels).save(root / image)
    return {"audio": f"clips/{i}.wav", "image": image, "caption": f"scene number {i}"}


def make_dataset(root: Path, n: int = 6) -> Path:
    """n good rows (every third image a JPEG)."""
    rows = [write_pair(root, i, jpeg=i % 3 == 2) for i in range(n)]
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def tiny_config(data: Path, out: Path, stage: int = 1, **overrides):
    """A few steps on the tiny models; everything logged, nothing slow."""
    from core.train.config import TrainConfig

    values = dict(
        data=str(data),
        out=str(out),
        stage=stage,
        models="tiny",
        stage_steps=(6, 6, 6),
        learning_rates=(1e-3, 1e-3, 1e-3),
        warmup_steps=0,
        batch_size=2,
        resolution=64,
        log_every=1,
        checkpoint_every=100,
        val_every=0,
        val_rows=2,
        val_steps=4,
        projector=TINY_PROJECTOR,
    )
    values.update(overrides)
    return TrainConfig(**values)


def prepare_inputs(tmp_path: Path, csv_text: str, video: str = "abc.mp4", seconds: int = 12,
                   csv_name: str = "clips.csv") -> tuple[Path, Path]:  # fmt: skip
    """`prepare`'s inputs: tmp_path/videos holding one `make_video` file, and a CSV of `csv_text`."""
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / video, seconds=seconds)
    csv = tmp_path / csv_name
    csv.write_text(csv_text)
    return videos, csv


def make_video(path: Path, seconds: int = 12, fps: int = 10, rate: int = 44100) -> Path:
    """An MP4 (MPEG-4 video + AAC stereo audio): second s shows colour (20 s, 255 - 20 s, 0) and
    plays a (200 + 100 s) Hz tone, so a cut can be checked by its colour and its pitch."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "stereo"
        for i in range(seconds * fps):
            second = i // fps
            pixels = np.zeros((64, 64, 3), np.uint8)
            pixels[..., 0], pixels[..., 1] = 20 * second, 255 - 20 * second
            for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        block = 1024
        for start in range(0, seconds * rate, block):
            t = np.arange(start, start + block) / rate
            tone = (0.3 * np.sin(2 * np.pi * (200 + 100 * t.astype(int)) * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


def dominant_hz(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)
