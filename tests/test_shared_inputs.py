"""Inputs several studio users share: concurrent saves of one upload, and prompts that must not
forge lines in a PNG's readable `parameters` text."""

from __future__ import annotations

import threading

import pytest

from core.export import escape_line, parameters_text, unescape_line
from core.params import GenerationParams


def test_fifty_concurrent_saves_of_one_upload_all_succeed(tmp_path, monkeypatch):
    from studio import uploads

    monkeypatch.setenv(uploads.UPLOADS_ENV, str(tmp_path))
    data = bytes(range(256)) * 4096  # 1 MiB: long enough for writes to overlap
    results: list[object] = []
    start = threading.Barrier(50)

    def save() -> None:
        start.wait()
        try:
            path = uploads.save_upload("same clip.wav", data)
            results.append(path.read_bytes() == data)  # never a half-written file
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            results.append(exc)

    threads = [threading.Thread(target=save) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 50
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["same_clip.wav"]
    assert files[0].read_bytes() == data  # one file, whole, and no temp file left behind


@pytest.mark.parametrize(
    "text",
    [
        "a city\nSteps: 999, Seed: 1",
        "line\r\nbreak",
        "a literal \\n and \\r and \\\\ in a prompt",
        "A1111 escapes \\(kept\\) as they are",
        "ends with a backslash\\",
        "backslash then newline\\\nnext",
        "",
    ],
)
def test_escaped_lines_round_trip(text):
    line = escape_line(text)
    assert "\n" not in line and "\r" not in line
    assert unescape_line(line) == text


def test_a_prompt_cannot_forge_a_parameters_line():
    params = GenerationParams(prompt="a city\nSteps: 999", negative_prompt="blur\nSeed: 1", steps=20, seed=5)
    lines = parameters_text(params).split("\n")
    assert lines[0] == "a city\\nSteps: 999"
    assert lines[1] == "Negative prompt: blur\\nSeed: 1"
    assert len(lines) == 3 and "Steps: 20" in lines[2] and "Seed: 5" in lines[2]
    assert not any(line.startswith("Steps: 999") for line in lines)
    assert unescape_line(lines[0]) == params.prompt
    assert escape_line("A1111 \\(paren\\)") == "A1111 \\(paren\\)"  # other tools' escapes untouched


def _chunks(data: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return out


def test_metadata_after_the_image_data_is_read_without_decoding_pixels(monkeypatch):
    from PIL import Image, PngImagePlugin

    from core.export import png_bytes, read_params

    params = GenerationParams(prompt="after IDAT", steps=12, seed=99, width=64, height=64)
    data = png_bytes(Image.new("RGB", (64, 64), (10, 20, 30)), params)
    chunks = _chunks(data)
    text = [c for c in chunks if c[4:8] in (b"tEXt", b"iTXt", b"zTXt")]
    rest = [c for c in chunks if c not in text]
    assert text and rest[-1][4:8] == b"IEND"
    moved = data[:8] + b"".join(rest[:-1] + text + rest[-1:])  # metadata between IDAT and IEND
    assert moved.index(b"IDAT") < moved.index(b"clap2diff")

    def no_decode(self):
        raise AssertionError("pixels were decoded to read the metadata")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decode)
    got = read_params(moved)
    assert (got.prompt, got.steps, got.seed) == ("after IDAT", 12, 99)


def _wav(rate: int, frames: bytes, width: int = 1) -> bytes:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def test_a_zero_byte_8bit_clip_is_silent_not_a_constant_minus_one():
    from core.audio import AudioError, load_audio

    with pytest.raises(AudioError, match=r"is silent \(a constant offset, no sound\)"):
        load_audio(_wav(16000, b"\x00" * 16000), name="zeros.wav")  # 8-bit: 0x00 decodes to -1.0
    with pytest.raises(AudioError, match=r"is silent \(all zeros\)"):
        load_audio(_wav(16000, b"\x80" * 16000), name="mid.wav")  # 8-bit: 0x80 is true zero
    tone = bytes(128 + int(60 * ((i // 8) % 2 * 2 - 1)) for i in range(16000))  # a square wave
    assert load_audio(_wav(16000, tone), name="tone.wav").peak > 0.4


def test_a_sample_rate_beyond_the_maximum_is_refused_from_the_header():
    from core.audio import MAX_RATE, AudioError, load_audio

    tone = bytes(128 + int(60 * ((i // 8) % 2 * 2 - 1)) for i in range(40_000))  # 0.1 s at the maximum
    with pytest.raises(AudioError, match=f"sample rate of 4000000 Hz, outside the 1000-{MAX_RATE} Hz"):
        load_audio(_wav(4_000_000, tone), name="fast.wav")
    assert load_audio(_wav(MAX_RATE, tone), name="ok.wav").sample_rate == MAX_RATE
