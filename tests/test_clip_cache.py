"""core/clip_cache.py: one decoded copy of a clip for the whole process (engine and studio), held in
a cache bounded by bytes, that remembers a file that does not decode and lets a deleted file go."""

from __future__ import annotations

import gc
import os
import shutil
import weakref

import numpy as np
import pytest
import soundfile as sf

import core.clip_cache as cc
from core.audio import AudioError
from core.cache import ByteLRUCache


@pytest.fixture
def fresh_cache(monkeypatch) -> ByteLRUCache:
    cache = cc.new_clip_cache(64 * 2**20)
    monkeypatch.setattr(cc, "_cache", cache)
    return cache


def wav(path, seconds: float = 1.0, rate: int = 16000, freq: float = 440.0):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32), rate, subtype="PCM_16")
    return path


def test_the_engine_and_the_studio_share_one_decoded_clip(fresh_cache, tiny_engine, tiny_params, tmp_path):
    """The engine's listening cache no longer keeps a clip of its own: once the clip cache lets the
    file go, nothing in the engine holds the decoded samples."""
    from studio.widgets.audio import clip_for

    path = shutil.copy(tiny_params.audio_path, tmp_path / "own.wav")
    params = tiny_params.replace(audio_path=str(path))
    studio_clip, problem = clip_for(str(path))
    assert problem is None and tiny_engine.load_clip(path) is studio_clip  # decoded once, shared
    listening = tiny_engine.listen(params)
    assert listening.clip is studio_clip
    assert fresh_cache.nbytes == studio_clip.samples.size * 4

    again = tiny_engine.listen(params.replace(seed=99))  # a listening cache hit gets the clip back
    assert again.raw_tokens is listening.raw_tokens and again.clip is studio_clip

    ref = weakref.ref(studio_clip)
    del studio_clip, listening, again
    assert cc.forget_clip_file(path) > 0 and fresh_cache.nbytes == 0
    gc.collect()
    assert ref() is None  # the engine's caches kept no copy


def test_a_clip_larger_than_the_budget_is_decoded_each_time_and_never_kept(monkeypatch, tmp_path):
    path = wav(tmp_path / "long.wav", seconds=2.0)  # 2 s x 16 kHz x 4 B = 128000 B decoded
    cache = cc.new_clip_cache(100_000)
    monkeypatch.setattr(cc, "_cache", cache)
    first, second = cc.load_clip_cached(path), cc.load_clip_cached(path)
    assert first.samples.nbytes == 128_000 and first is not second and len(cache) == 0 and cache.nbytes == 0
    small = wav(tmp_path / "short.wav", seconds=1.0)
    assert cc.load_clip_cached(small) is cc.load_clip_cached(small) and cache.nbytes == 64_000


def test_a_file_that_does_not_decode_is_decoded_once_and_said_again(fresh_cache, monkeypatch, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + os.urandom(400))
    calls = []
    real = cc.load_audio
    monkeypatch.setattr(cc, "load_audio", lambda p: calls.append(p) or real(p))
    with pytest.raises(AudioError) as first:
        cc.load_clip_cached(bad)
    with pytest.raises(AudioError) as second:
        cc.load_clip_cached(bad)
    assert str(first.value) == str(second.value) and "bad.wav" in str(first.value)
    assert len(calls) == 1 and 0 < fresh_cache.nbytes < 1000


def test_a_new_version_of_a_file_is_decoded_again(fresh_cache, tmp_path):
    path = wav(tmp_path / "clip.wav", freq=440.0)
    old = cc.load_clip_cached(path)
    wav(path, freq=880.0, seconds=1.5)
    new = cc.load_clip_cached(path)
    assert new is not old and new.sha256 != old.sha256 and new.frames == 24000
    assert len(fresh_cache) == 2  # the old version ages out; forgetting the file drops both
    assert cc.forget_clip_file(path) == old.samples.nbytes + new.samples.nbytes and len(fresh_cache) == 0


def test_other_sound_under_the_same_size_and_time_is_decoded_again(fresh_cache, tmp_path):
    """rsync: a new file under the name, with the same size and mtime and other sound. The old decode
    (and its hash, which a PNG would record) must not answer for it."""
    path = wav(tmp_path / "clip.wav", freq=440.0)
    before = os.stat(path)
    old = cc.load_clip_cached(path)
    wav(tmp_path / "other.wav", freq=880.0)
    os.replace(tmp_path / "other.wav", path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert cc.load_clip_cached(path).sha256 != old.sha256


def test_a_missing_file_is_an_audio_error_and_caches_nothing(fresh_cache, tmp_path):
    with pytest.raises(AudioError, match="does not exist or cannot be opened"):
        cc.load_clip_cached(tmp_path / "nope.wav")
    assert len(fresh_cache) == 0


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 2048 * 2**20), ("0", 0), ("1.5", 3 * 2**19), (" 300 ", 300 * 2**20)]
)
def test_the_budget_is_the_operators_mb(raw, expected):
    assert cc.clip_cache_budget({cc.CLIP_CACHE_ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["-1", "lots", "nan"])
def test_a_bad_budget_names_the_variable(raw):
    with pytest.raises(cc.ClipCacheError, match=f"{cc.CLIP_CACHE_ENV}=.*MB"):
        cc.clip_cache_budget({cc.CLIP_CACHE_ENV: raw})


def test_a_file_edited_in_place_to_the_same_size_is_decoded_again(fresh_cache, tmp_path):
    """A WAV re-exported over itself at the same length keeps its size and inode: its new mtime
    alone says the sound changed, and the old decode (with the old hash) must not answer for it."""
    path = wav(tmp_path / "clip.wav", freq=440.0)
    before = os.stat(path)
    old = cc.load_clip_cached(path)
    new_sound = wav(tmp_path / "other.wav", freq=880.0).read_bytes()
    with open(path, "r+b") as fh:  # rewritten in place: the same inode
        fh.write(new_sound)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    now = os.stat(path)
    assert (now.st_size, now.st_ino) == (before.st_size, before.st_ino)
    assert cc.load_clip_cached(path).sha256 != old.sha256


def test_forgetting_a_file_by_a_relative_path_drops_its_decode(fresh_cache, tmp_path, monkeypatch):
    path = wav(tmp_path / "clip.wav")
    clip = cc.load_clip_cached(path)
    monkeypatch.chdir(tmp_path)
    assert cc.forget_clip_file("clip.wav") == clip.samples.nbytes and len(fresh_cache) == 0
