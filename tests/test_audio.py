"""core.audio: decoding every format we promise, CLAP's view of any clip, and every AudioError.

Offline and fast: files are synthesised into tmp_path; nothing imports torch or librosa.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest tests/...` without `python -m`
    sys.path.insert(0, str(ROOT))

from core import audio_budget, audio_decode  # noqa: E402
from core.audio import AudioClip, AudioError, audio_hash, clap_input, load_audio  # noqa: E402
from core.samples import sample_paths  # noqa: E402


def tone(freq: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """(n, channels) as soundfile wants it; channel k is the tone scaled by 1/(k+1)."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x / (k + 1) for k in range(channels)], axis=1)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def write(path: Path, data: np.ndarray, rate: int, **kw) -> Path:
    sf.write(path, data, rate, **kw)
    return path


# -- decoding ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ext, kw, exact",
    [
        ("wav", {"subtype": "PCM_16"}, True),
        ("wav", {"subtype": "FLOAT"}, True),
        ("flac", {}, True),
        ("ogg", {}, False),
        ("mp3", {"format": "MP3"}, False),
    ],
)
def test_decodes_formats(tmp_path, ext, kw, exact):
    data = tone(440.0, 2.0, 44100, channels=2)
    path = tmp_path / f"clip.{ext}"
    try:
        write(path, data, 44100, **kw)
    except (sf.LibsndfileError, TypeError, ValueError) as exc:
        pytest.skip(f"this libsndfile cannot write {ext}: {exc}")
    clip = load_audio(path)
    assert clip.sample_rate == 44100
    assert clip.channels == 2
    assert clip.samples.dtype == np.float32 and clip.samples.shape[0] == 2
    assert clip.duration == pytest.approx(2.0, abs=0.06)  # lossy codecs may pad a frame
    assert clip.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert clip.name == f"clip.{ext}"
    if exact:
        np.testing.assert_allclose(clip.samples, data.T, atol=1 / 32768 + 1e-7)
    assert dominant_freq(clip.samples[0], 44100) == pytest.approx(440.0, abs=2.0)
    assert clip.samples[1].std() == pytest.approx(clip.samples[0].std() / 2, rel=0.05)


def test_decodes_bytes_with_same_hash_as_file(tmp_path):
    path = write(tmp_path / "a.flac", tone(1000.0, 1.0, 22050), 22050)
    raw = path.read_bytes()
    from_bytes = load_audio(raw, name="upload.flac")
    from_file = load_audio(path)
    assert from_bytes.sha256 == from_file.sha256 == audio_hash(raw)
    assert from_bytes.name == "upload.flac"
    np.testing.assert_array_equal(from_bytes.samples, from_file.samples)


def test_fallback_decodes_m4a_through_ffmpeg(tmp_path, monkeypatch, ffmpeg):
    import subprocess

    monkeypatch.setitem(sys.modules, "librosa", None)  # `import librosa` now fails: the fallback must not pay its JIT

    wav = write(tmp_path / "src.wav", tone(1000.0, 2.0, 22050, channels=2), 22050)
    m4a = tmp_path / "clip.m4a"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True
    )
    with pytest.raises(sf.LibsndfileError):
        sf.info(m4a)  # soundfile really cannot: this is the fallback path
    for clip in (load_audio(m4a), load_audio(m4a.read_bytes(), name="clip.m4a")):
        assert (clip.channels, clip.sample_rate) == (2, 22050)
        assert clip.duration == pytest.approx(2.0, abs=0.1)
        assert dominant_freq(clip.samples[0], 22050) == pytest.approx(1000.0, abs=5.0)


# -- CLAP's view -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "channels, rate, seconds, expected",
    [
        (2, 44100, 3.0, 144000),
        (6, 22050, 2.5, 120000),
        (1, 37800, 3.3, 158400),
        (4, 8000, 12.0, 480000),  # longer than the window: cut to 10 s
        (1, 48000, 10.0, 480000),  # already right: no resampling
    ],
)
def test_clap_input_is_48k_mono_of_the_right_length(tmp_path, channels, rate, seconds, expected):
    path = write(tmp_path / "c.wav", tone(440.0, seconds, rate, channels=channels), rate, subtype="FLOAT")
    x = clap_input(load_audio(path))
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size - expected) <= 1
    assert dominant_freq(x, 48000) == pytest.approx(440.0, abs=1.0)
    # mono is the channel mean: channel k is 1/(k+1) of the tone
    mean_gain = np.mean([1 / (k + 1) for k in range(channels)])
    assert np.max(np.abs(x[100:-100])) == pytest.approx(0.5 * mean_gain, rel=0.02)


def test_clap_input_window_and_rate(tmp_path):
    rate = 16000
    t = np.arange(6 * rate) / rate
    x = np.where(t < 3, np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 2000 * t)) * 0.5
    clip = load_audio(write(tmp_path / "two.wav", x, rate, subtype="FLOAT"))
    late = clap_input(clip, start_s=3.5, seconds=2.0)
    assert late.size == 96000
    assert dominant_freq(late, 48000) == pytest.approx(2000.0, abs=2.0)
    early = clap_input(clip, start_s=0.0, seconds=2.0, rate=32000)
    assert early.size == 64000
    assert dominant_freq(early, 32000) == pytest.approx(300.0, abs=2.0)


def test_window_cut_keeps_source_hash_and_start(tmp_path):
    clip = load_audio(write(tmp_path / "w.wav", tone(440.0, 4.0, 22050, channels=2), 22050))
    cut = clip.window(1.5, 2.0)
    assert cut.frames == 44100 and cut.channels == 2
    assert cut.start == pytest.approx(1.5)
    assert cut.sha256 == clip.sha256 and cut.key != clip.key
    np.testing.assert_array_equal(cut.samples, clip.samples[:, 33075 : 33075 + 44100])
    tail = clip.window(3.0)  # 10 s asked, 1 s left: shorter, never padded
    assert tail.duration == pytest.approx(1.0)
    nested = cut.window(0.5, 1.0)
    assert nested.start == pytest.approx(2.0)


@pytest.mark.parametrize("start", [2.0, 2.5, 100.0])
def test_window_beyond_the_end_names_the_clip_length(tmp_path, start):
    clip = load_audio(write(tmp_path / "short.wav", tone(440.0, 2.0, 22050), 22050))
    with pytest.raises(AudioError, match=r"only 2\.00 s long"):
        clip.window(start)


def test_a_window_at_the_very_end_is_refused_like_a_click(tmp_path):
    """A start 1 ms before the end left CLAP a few samples to repeat into 10 s of buzz; a window must
    hold MIN_SECONDS of sound, as a whole clip must, and the message gives the last start that does."""
    clip = load_audio(write(tmp_path / "short.wav", tone(440.0, 2.0, 22050), 22050))
    for start in (1.999, 1.95):
        with pytest.raises(AudioError, match=r"short\.wav \(2\.00 s long\), less than the 100 ms .*at most 1\.90 s"):
            clip.window(start)
    assert clip.window(1.9).frames == 2205  # exactly 100 ms
    assert clip.window(1.999, 0.0005).frames == 11  # a short window asked for is not refused


@pytest.mark.parametrize("start, seconds", [(-1.0, 10.0), (float("nan"), 10.0), (0.0, 0.0), (0.0, -2.0)])
def test_window_rejects_nonsense(tmp_path, start, seconds):
    clip = load_audio(write(tmp_path / "s.wav", tone(440.0, 2.0, 22050), 22050))
    with pytest.raises(AudioError):
        clip.window(start, seconds)


def test_resampled_keeps_pitch_and_length():
    rate = 22050
    clip = AudioClip(tone(1000.0, 2.0, rate, channels=2).T, rate, "x" * 64, "t")
    up = clip.resampled(44100)
    assert (up.channels, up.frames, up.sample_rate) == (2, 88200, 44100)
    assert dominant_freq(up.samples[0], 44100) == pytest.approx(1000.0, abs=1.0)
    assert up.sha256 == clip.sha256 and up.key != clip.key
    assert clip.resampled(rate) is clip


def test_clip_is_read_only_and_mono_is_mean():
    data = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], dtype=np.float64)
    clip = AudioClip(data, 8000, "h", "n")
    assert clip.samples.dtype == np.float32
    with pytest.raises(ValueError):
        clip.samples[0, 0] = 5.0
    data[0, 0] = 9.0  # the caller's array stays theirs
    np.testing.assert_array_equal(clip.mono(), [2.0, 2.0, 2.0])
    assert clip.mono().dtype == np.float32
    assert clip.to_channels(2) is clip.samples
    np.testing.assert_array_equal(AudioClip(np.arange(4.0), 8000, "h").to_channels(2), [np.arange(4.0)] * 2)
    assert AudioClip(np.ones((6, 4)), 8000, "h").to_channels(2).shape == (2, 4)


# -- every AudioError --------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(AudioError, match="not a file"):
        load_audio(tmp_path)


def test_empty_file_and_empty_bytes(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="empty"):
        load_audio(b"")


def test_corrupt_bytes(tmp_path):
    junk = np.random.default_rng(0).integers(128, 256, 4096, dtype=np.uint8).tobytes()  # not UTF-8
    path = tmp_path / "junk.wav"
    path.write_bytes(junk)
    with pytest.raises(AudioError, match="could not be decoded"):
        load_audio(path)
    with pytest.raises(AudioError, match="could not be decoded"):
        load_audio(junk, name="junk.mp3")


def test_truncated_wav(tmp_path):
    good = write(tmp_path / "good.wav", tone(440.0, 1.0, 22050), 22050).read_bytes()
    with pytest.raises(AudioError, match="could not be decoded"):
        load_audio(good[:30], name="cut.wav")  # the RIFF header breaks off mid-way


def test_png_renamed_to_wav(tmp_path):
    from PIL import Image

    path = tmp_path / "picture.wav"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    with pytest.raises(AudioError, match="not an audio file.*PNG image"):
        load_audio(path)


def test_text_renamed_to_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are my notes, not a recording\n")
    with pytest.raises(AudioError, match="not an audio file.*text"):
        load_audio(path)


def test_zero_length(tmp_path):
    path = write(tmp_path / "zero.wav", np.zeros((0, 2)), 44100)
    with pytest.raises(AudioError, match="zero length"):
        load_audio(path)


@pytest.mark.parametrize("peak", [0.0, 5e-6])
def test_silence(tmp_path, peak):
    x = np.full((22050, 1), peak)
    path = write(tmp_path / "quiet.wav", x, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="silent"):
        load_audio(path)


def test_quiet_but_not_silent_is_accepted(tmp_path):
    path = write(tmp_path / "soft.wav", tone(440.0, 1.0, 22050, amp=1e-3), 22050, subtype="FLOAT")
    assert load_audio(path).peak == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(tmp_path, bad):
    x = tone(440.0, 1.0, 22050)
    x[100, 0] = bad
    path = write(tmp_path / "bad.wav", x, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path)


def test_longer_than_an_hour_is_rejected_from_the_header(tmp_path, monkeypatch):
    # 3700 frames at 1 Hz: the header says 1 h 1 min 40 s, the file is 7 kB.
    path = write(tmp_path / "long.wav", np.full(3700, 0.5), 1, subtype="PCM_16")
    assert path.stat().st_size < 10_000

    def no_decoding(*args, **kwargs):
        raise AssertionError("the header alone must reject this file")

    monkeypatch.setattr(audio_decode.sf, "read", no_decoding)
    with pytest.raises(AudioError, match=r"is 61\.7 min long, more than the 60\.0 min limit"):
        load_audio(path)


def test_length_limit_applies_to_real_audio(tmp_path, monkeypatch):
    path = write(tmp_path / "two.wav", tone(440.0, 2.0, 22050), 22050)
    monkeypatch.setattr(audio_decode, "MAX_SECONDS", 1.5)
    with pytest.raises(AudioError, match="more than the 1.5 s limit"):
        load_audio(path)
    with pytest.raises(AudioError, match="limit"):
        load_audio(path.read_bytes(), name="two.wav")


def test_a_clip_too_short_to_hear_is_refused_and_a_tenth_of_a_second_is_not(tmp_path):
    """CLAP repeats a short clip over its 10 s window: 10 samples would become a buzz it "hears"."""
    for name, frames in (("ten.wav", 10), ("two_ms.wav", 96)):
        path = write(tmp_path / name, tone(440.0, 1.0, 48000)[:frames], 48000)
        with pytest.raises(AudioError, match=rf"{name} is [02] ms long, shorter than the 100 ms a sound needs"):
            load_audio(path)
        with pytest.raises(AudioError, match="shorter than the 100 ms"):
            load_audio(path.read_bytes(), name=name)
    path = write(tmp_path / "tenth.wav", tone(440.0, 0.1, 48000), 48000)
    assert load_audio(path).frames == 4800


def test_absurd_sample_rate(tmp_path):
    path = write(tmp_path / "slow.wav", tone(10.0, 3.0, 200), 200)
    with pytest.raises(AudioError, match="200 Hz"):
        load_audio(path)


def test_errors_are_one_sentence_saying_what_to_do(tmp_path):
    (tmp_path / "t.wav").write_text("hello")
    messages = []
    for source in (tmp_path / "missing.wav", tmp_path / "t.wav", b""):
        with pytest.raises(AudioError) as info:
            load_audio(source)
        messages.append(str(info.value))
    for message in messages:
        assert ":" in message and "\n" not in message and "Traceback" not in message
        assert message.endswith(".")


# -- the bundled samples ---------------------------------------------------------------------------
def test_bundled_samples_load_and_are_small():
    paths = sample_paths()
    assert {"rain", "thunder", "birdsong", "engine", "street", "tones"} <= set(paths)
    for name, path in paths.items():
        assert path.stat().st_size < 1_000_000, name
        clip = load_audio(path)
        assert clip.sample_rate in (22050, 44100), name
        assert 4.0 <= clip.duration <= 10.0, name
        assert 0.5 < clip.peak <= 1.0, name


def test_samples_are_reproducible(tmp_path):
    sys.path.insert(0, str(ROOT / "assets"))
    try:
        import make_samples
    finally:
        sys.path.remove(str(ROOT / "assets"))
    written = make_samples.main(tmp_path)
    committed = sample_paths()
    assert {p.stem for p in written} == set(make_samples.SAMPLES)
    for path in written:
        assert path.read_bytes() == committed[path.stem].read_bytes(), f"{path.name} differs: rerun make_samples.py"
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


# -- the refusals' edges (each pinned where a mutant of core/audio_decode.py survived) -------------
def test_a_clip_exactly_at_the_length_limit_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_decode, "MAX_SECONDS", 1.0)
    path = write(tmp_path / "one.wav", tone(440.0, 1.0, 22050), 22050)
    assert load_audio(path).frames == 22050
    path = write(tmp_path / "over.wav", tone(440.0, 1.0, 22050)[[*range(22050), 0]], 22050)  # one frame more
    with pytest.raises(AudioError, match=r"is 1\.0 s long, more than the 1\.0 s limit"):
        load_audio(path)


def test_the_lowest_sample_rate_is_accepted_and_one_below_it_is_not(tmp_path):
    path = write(tmp_path / "low.wav", tone(100.0, 0.5, 1000), 1000)
    assert load_audio(path).sample_rate == 1000
    path = write(tmp_path / "lower.wav", tone(100.0, 0.5, 999), 999)
    with pytest.raises(AudioError, match="has a sample rate of 999 Hz, outside the 1000-384000 Hz"):
        load_audio(path)


@pytest.mark.parametrize(
    "seconds, text",
    [(59.94, "59.9 s"), (60.0, "1.0 min"), (3700.0, "61.7 min"), (7199.0, "120.0 min"), (7200.0, "2.0 h")],
)
def test_durations_are_worded_in_seconds_minutes_then_hours(seconds, text):
    assert audio_decode._fmt_duration(seconds) == text


@pytest.mark.parametrize(
    "head, kind",
    [
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff\xe0", "a JPEG image"),
        (b"GIF89a", "a GIF image"),
        (b"%PDF-1.7", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b\x08\x00", "a gzip archive"),
        (b"\x7fELF\x02", "a program"),
        (b"rain\tthunder\r\n", "a text file"),
        (b"", None),  # nothing to tell
        (b"\x00\x01\x02", None),  # control characters: not text
        (b"\xc3\x28", None),  # not UTF-8
    ],
)
def test_a_file_that_is_not_audio_is_named_by_its_first_bytes(head, kind):
    assert audio_decode._sniff_not_audio(head) == kind


def test_silence_says_how_quiet_and_dither_level_sound_is_kept(tmp_path):
    quiet = write(tmp_path / "quiet.wav", np.full((22050, 1), 5e-6), 22050, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_audio(quiet)
    assert str(err.value) == "quiet.wav is silent (peak -106 dBFS): choose a recording with audible sound."
    soft = write(tmp_path / "soft.wav", tone(440.0, 1.0, 22050, amp=2e-5), 22050, subtype="FLOAT")  # -94 dBFS
    assert load_audio(soft).peak == pytest.approx(2e-5, rel=1e-3)


def test_an_offset_with_a_ripple_below_silence_is_still_no_sound(tmp_path):
    """A peak-to-peak swing of 1.2e-5 is a ±6e-6 ripple, below -100 dBFS: the DC offset is no sound."""
    x = 0.5 + tone(440.0, 1.0, 22050, amp=6e-6)
    path = write(tmp_path / "offset.wav", x, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"is silent \(a constant offset, no sound\)"):
        load_audio(path)


def test_one_silent_channel_does_not_make_a_stereo_clip_silent(tmp_path):
    x = np.stack([tone(440.0, 1.0, 22050)[:, 0], np.zeros(22050)], axis=1)
    clip = load_audio(write(tmp_path / "left.wav", x, 22050))
    assert clip.channels == 2 and clip.peak == pytest.approx(0.5, abs=1e-4)


def test_a_decode_error_is_named_by_its_first_line_cut_to_120_characters(tmp_path, monkeypatch):
    path = write(tmp_path / "clip.wav", tone(440.0, 1.0, 22050), 22050)
    reason = "bad block " + "x" * 200

    def failing_read(*args, **kwargs):
        raise RuntimeError(f"  {reason}\nsecond line\n")

    monkeypatch.setattr(audio_decode.sf, "read", failing_read)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value) == (
        f"clip.wav could not be decoded ({reason[:120]}): the file may be truncated or corrupt, "
        "re-export it as WAV or FLAC."
    )

    def silent_failure(*args, **kwargs):
        raise RuntimeError("")

    monkeypatch.setattr(audio_decode.sf, "read", silent_failure)
    with pytest.raises(AudioError, match=r"could not be decoded \(RuntimeError\)"):
        load_audio(path)


class FakeReader:
    """What audioread.audio_open gives: rate, channels, duration from the header, then 16-bit blocks."""

    def __init__(self, blocks, rate=1000, channels=2, duration=0.0):
        self.samplerate, self.channels, self.duration = rate, channels, duration
        self.blocks, self.read = blocks, 0
        self.opened: list[tuple[str, bool]] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        for block in self.blocks:
            self.read += 1
            yield block


def fake_audioread(monkeypatch, reader: FakeReader) -> FakeReader:
    import audioread

    def audio_open(path):
        reader.opened.append((path, Path(path).is_file()))
        return reader

    monkeypatch.setattr(audioread, "audio_open", audio_open)
    return reader


NOT_SNDFILE = bytes(range(128, 256)) * 4  # neither audio libsndfile reads, nor text, nor a known magic


def test_the_fallback_refuses_a_long_file_from_its_header(tmp_path, monkeypatch):
    def no_blocks():
        raise AssertionError("the header alone must refuse this file")
        yield b""

    reader = fake_audioread(monkeypatch, FakeReader(no_blocks(), duration=3650.0))
    (tmp_path / "long.m4a").write_bytes(NOT_SNDFILE)
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "long.m4a")
    assert str(err.value).startswith("long.m4a is 60.8 min long, more than the 60.0 min limit")
    assert reader.read == 0


def test_the_fallback_stops_decoding_a_file_longer_than_its_header_said(monkeypatch):
    """No duration in the header: decoding stops at the limit (+1 s), counted in frames of all
    channels (4 bytes a frame in 16-bit stereo), and says how much it had read."""
    monkeypatch.setattr(audio_decode, "MAX_SECONDS", 1.0)
    block = np.full(2000, 1000, dtype="<i2").tobytes()  # 1000 stereo frames: 1 s at 1000 Hz
    reader = fake_audioread(monkeypatch, FakeReader([block] * 10))
    with pytest.raises(AudioError) as err:
        load_audio(NOT_SNDFILE, name="stream.m4a")
    assert str(err.value).startswith("stream.m4a is 3.0 s long, more than the 1.0 s limit")
    assert reader.read == 3  # 12000 bytes > the cap of (1 + 1) s * 1000 Hz * 2 channels * 2 bytes


def test_the_fallback_reads_16_bit_pcm_exactly_and_removes_its_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pcm = np.tile(np.array([-32768, 32767, 16384, -1], dtype="<i2"), 50)  # 100 stereo frames: 0.1 s
    reader = fake_audioread(monkeypatch, FakeReader([pcm[:99].tobytes(), pcm[99:].tobytes() + b"\x05\x00"]))
    clip = load_audio(NOT_SNDFILE, name="upload.m4a")  # a trailing half frame is dropped
    assert (clip.channels, clip.sample_rate, clip.frames) == (2, 1000, 100)
    assert np.array_equal(clip.samples[0], np.tile(np.float32([-1.0, 0.5]), 50))
    assert np.array_equal(clip.samples[1], np.tile(np.float32([32767 / 32768, -1 / 32768]), 50))
    assert reader.opened[0][1] and reader.opened[0][0].startswith(str(tmp_path / "clap2diff-"))
    assert list(tmp_path.iterdir()) == []  # the upload's temp file is gone


def test_the_fallback_says_a_header_without_a_sample_rate_is_damaged(monkeypatch):
    """A rate of 0 read as an endless clip: "is inf h long, more than the 60.0 min limit"."""
    pcm = np.tile(np.array([8192, -8192], dtype="<i2"), 600)
    fake_audioread(monkeypatch, FakeReader([pcm.tobytes()], rate=0, duration=1.2))
    with pytest.raises(AudioError) as err:
        load_audio(NOT_SNDFILE, name="broken.m4a")
    assert str(err.value) == "broken.m4a has no sample rate in its header (damaged?): re-export it at 44.1 or 48 kHz."


def test_the_fallback_reads_a_header_with_no_channel_count_as_mono(monkeypatch):
    pcm = np.tile(np.array([8192, -8192], dtype="<i2"), 60)
    fake_audioread(monkeypatch, FakeReader([pcm.tobytes()], channels=0))
    clip = load_audio(NOT_SNDFILE, name="mono.m4a")
    assert (clip.channels, clip.frames) == (1, 120)
    assert np.array_equal(clip.samples[0], np.tile(np.float32([0.25, -0.25]), 60))


def test_fallback_seconds_reads_the_header_and_none_when_unreadable(tmp_path, monkeypatch):
    fake_audioread(monkeypatch, FakeReader([], duration=None))
    assert audio_decode.fallback_seconds(tmp_path / "a.m4a") == 0.0
    fake_audioread(monkeypatch, FakeReader([], duration=12.5))
    assert audio_decode.fallback_seconds(tmp_path / "a.m4a") == 12.5
    import audioread

    def unreadable(path):
        raise audioread.NoBackendError()

    monkeypatch.setattr(audioread, "audio_open", unreadable)
    assert audio_decode.fallback_seconds(tmp_path / "a.m4a") is None


def test_the_fallback_refuses_a_clip_beyond_the_decode_budget_from_its_header(monkeypatch):
    """Ten minutes of 64 channels at 48 kHz is within the hour but 7.4 GB as float32: the fallback
    (m4a, webm...) refuses it from the header as libsndfile's path does, before a block is read."""

    def no_blocks():
        raise AssertionError("the header alone must refuse this file")
        yield b""

    reader = fake_audioread(monkeypatch, FakeReader(no_blocks(), rate=48000, channels=64, duration=600.0))
    with pytest.raises(AudioError) as err:
        load_audio(NOT_SNDFILE, name="wide.m4a")
    assert str(err.value).startswith("wide.m4a would take 7.4 GB of memory decoded (64 channels)")
    assert reader.read == 0


def test_the_fallback_refuses_an_absurd_rate_from_its_header(monkeypatch):
    def no_blocks():
        raise AssertionError("the header alone must refuse this file")
        yield b""

    reader = fake_audioread(monkeypatch, FakeReader(no_blocks(), rate=10_000_000, channels=2, duration=5.0))
    with pytest.raises(AudioError, match="sample rate of 10000000 Hz, outside the 1000-384000 Hz"):
        load_audio(NOT_SNDFILE, name="odd.m4a")
    assert reader.read == 0


def test_the_fallback_stops_decoding_at_the_budget_when_the_header_has_no_duration(monkeypatch):
    """No duration in the header, many channels: decoding stops once the blocks read would pass the
    decode budget as float32 (16-bit PCM is half that), long before the hour's cap."""
    monkeypatch.setattr(audio_budget, "MAX_DECODED_BYTES", 64_000)
    block = np.full(8000, 1000, dtype="<i2").tobytes()  # 1000 frames of 8 channels: 32 kB as float32
    reader = fake_audioread(monkeypatch, FakeReader([block] * 10, channels=8))
    with pytest.raises(AudioError) as err:
        load_audio(NOT_SNDFILE, name="stream.m4a")
    assert str(err.value).startswith("stream.m4a would take ") and "decoded (8 channels), more than" in str(err.value)
    assert reader.read == 3  # 48000 bytes of PCM > 32000, half the (patched) 64000-byte budget


def test_a_resampled_cut_keeps_its_place_and_a_multichannel_clip_folds_to_its_mean():
    """Demucs gets the window at 44.1 kHz: it is still the cut at 1.0 s (its key says so, and
    differs from the cut at 2.0 s), and a 6-channel clip reaches it as the channels' mean on both sides."""
    rate = 22050
    x = np.random.default_rng(3).standard_normal((6, 3 * rate)).astype(np.float32) * 0.1
    clip = AudioClip(x, rate, "f" * 64, "six")
    one, two = (clip.window(s, 1.0).resampled(44100) for s in (1.0, 2.0))
    assert (one.start, one.sample_rate, one.frames) == (1.0, 44100, 44100)
    assert one.key != two.key
    stereo = clip.to_channels(2)
    assert stereo.shape == (2, 3 * rate)
    np.testing.assert_allclose(stereo[0], x.mean(axis=0), atol=1e-7)
    np.testing.assert_array_equal(stereo[0], stereo[1])


def test_resampling_down_keeps_what_lies_above_the_new_nyquist_out():
    """soxr HQ: a 15 kHz tone at 48 kHz brought to 22.05 kHz (Nyquist 11 kHz) leaves under -90 dB,
    not an alias at 7 kHz that CLAP would hear as a whistle."""
    t = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 15000 * t)).astype(np.float32)
    from core.audio import resample

    y = resample(x, 48000, 22050)[2000:-2000]  # away from the filter's ends
    assert 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) / (0.5 / np.sqrt(2))) < -90
