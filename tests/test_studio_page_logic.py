"""What the pages used to compute themselves, tested without Streamlit's AppTest: the Spectrogram's
CLAP window and the cache key of its overview (studio/overview.py), the Gallery's ZIP and comparison
grid of a selection (studio/gallery_export.py), and the span a knob's slider is drawn with
(widgets.knobs.span_holding)."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.audio import CLAP_SECONDS, AudioClip
from core.export import read_grid
from core.params import GenerationParams
from studio import gallery_export, overview
from studio.history import HistoryItem
from studio.overview import ClapWindow, clap_window, file_key, window_text
from studio.widgets.knobs import span_holding


# -- the Spectrogram's window -----------------------------------------------------------------------
def test_the_clap_window_is_ten_seconds_and_clamps_at_the_clips_end():
    assert clap_window(0.0, 25.0) == ClapWindow(0.0, CLAP_SECONDS)
    assert clap_window(12.0, 25.0) == ClapWindow(12.0, 22.0)
    short = clap_window(7.5, 8.0)  # half a second left after 7.5 s: never padded
    assert short == ClapWindow(7.5, 8.0) and short.seconds == 0.5 and not short.empty
    assert window_text(7.5, 8.0) == "the 0.5-second window from 7.5 s"
    assert window_text(0.0, 25.0) == "the 10-second window from 0 s"
    assert window_text(3.0, None) == "the window from 3 s"  # the clip's file is gone: its length unknown


def test_a_window_that_starts_past_the_clip_is_empty_and_said_so():
    """The page shaded (12, 8), a span running backwards, and said 'the 0-second window from 12 s'."""
    past = clap_window(12.0, 8.0)
    assert past == ClapWindow(12.0, 12.0) and past.empty and past.seconds == 0.0
    assert clap_window(8.0, 8.0).empty  # a start at the very end hears nothing either
    assert window_text(12.0, 8.0) == "a window from 12 s, past the clip's end (8 s)"


# -- the overview's cache key ----------------------------------------------------------------------
def test_the_overview_key_is_the_resolved_file_and_changes_when_the_file_does(tmp_path):
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF one")
    key = file_key(clip)
    assert key is not None and key.path == str(clip.resolve()) and key.name == "clip.wav"
    assert file_key(tmp_path / "." / "clip.wav") == key  # the same file by another spelling

    os.utime(clip, ns=(key.mtime_ns, key.mtime_ns + 1_000_000))  # same bytes count, saved again
    assert file_key(clip) != key
    clip.write_bytes(b"RIFF two, longer")
    os.utime(clip, ns=(key.mtime_ns, key.mtime_ns))  # same time, another size
    assert file_key(clip) != key
    clip.unlink()
    assert file_key(clip) is None  # gone since it was decoded: the page says so, nothing raises


def test_the_overview_is_computed_once_per_file_version(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(overview, "clip_overview", lambda clip: calls.append(clip.frames) or ("mel", "env"))
    overview.overview.clear()
    path = tmp_path / "tone.wav"
    path.write_bytes(b"one")
    clip = AudioClip(np.zeros((1, 4800), np.float32), 48000, "0" * 64, "tone.wav")
    first = file_key(path)
    assert overview.overview(first, clip) == ("mel", "env") and overview.overview(first, clip) == ("mel", "env")
    assert calls == [4800]
    path.write_bytes(b"two!")
    assert overview.overview(file_key(path), clip) == ("mel", "env") and calls == [4800, 4800]
    overview.overview.clear()


# -- the Gallery's downloads -----------------------------------------------------------------------
def _item(id_: int, seed: int, prompt: str = "a harbour") -> HistoryItem:
    image = Image.new("RGB", (32, 32), (id_ * 40 % 256, 90, 160))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    params = GenerationParams(prompt=prompt, seed=seed, level_weights=(0.7, 0.5, 0.3))
    return HistoryItem(id_, "render", params, buf.getvalue(), image, trace=None, timings={})  # type: ignore[arg-type]


def test_the_zip_holds_the_selected_images_under_their_names():
    items = [_item(1, 5), _item(3, 9, prompt="rain on a roof")]
    files = gallery_export.selection_files(items, {})
    with zipfile.ZipFile(io.BytesIO(files.zip)) as zf:
        names = zf.namelist()
        assert [n for n in names if n.endswith(".png")] == [h.file_name for h in items]
        assert zf.read(items[1].file_name) == items[1].png
    assert files.ids == (1, 3)


def test_the_grid_captions_name_each_image_by_its_number_and_seed():
    items = [_item(2, 5), _item(4, 11, prompt="")]
    grid = read_grid(gallery_export.selection_files(items, {}).grid)
    assert [g.caption for g in grid] == [
        "#2 a harbour · seed 5 · fg 0.7 · bg 0.5 · amb 0.3",
        "#4 (no prompt) · seed 11 · fg 0.7 · bg 0.5 · amb 0.3",
    ]
    assert [g.params.seed for g in grid] == [5, 11]


def test_a_selections_files_are_built_once_and_another_selection_replaces_them(monkeypatch):
    built: list[int] = []
    real = gallery_export.zip_bytes
    monkeypatch.setattr(gallery_export, "zip_bytes", lambda entries: built.append(len(entries)) or real(entries))
    a, b, c = _item(1, 5), _item(2, 6), _item(3, 7)
    cache: dict = {}
    first = gallery_export.selection_files([a, b], cache)
    assert gallery_export.selection_files([a, b], cache) is first and built == [2]  # every rerun of the page
    other = gallery_export.selection_files([a, c], cache)
    assert other.ids == (1, 3) and built == [2, 2] and list(cache) == [(1, 3)]  # one selection kept
    assert gallery_export.selection_files([a, b], cache) is not first and built == [2, 2, 2]


def test_an_empty_selection_builds_nothing():
    with pytest.raises(ValueError, match="select at least one image"):
        gallery_export.selection_files([], {})


# -- a knob slider's span ---------------------------------------------------------------------------
def test_a_sliders_span_widens_to_hold_its_value_and_stays_whole_for_a_whole_knob():
    assert span_holding((4, 96), 32) == (4, 96)
    assert span_holding((4, 96), 120) == (4, 120) and span_holding((4, 96), 2) == (2, 96)
    assert span_holding((4, 96), 33.5) == (4, 96) and span_holding((4, 96), 96.5) == (4, 97)  # outwards
    assert span_holding((0.0, 1.0), (0.2, 1.5)) == (0.0, 1.5)  # a range slider's pair
    assert span_holding((1, 100), 150, cap=80) == (1, 150) and span_holding((1, 100), 20, cap=80) == (1, 80)
    assert span_holding((4, 96), "wide") == (4, 96) and span_holding((4, 96), float("inf")) == (4, 96)


def test_other_sound_under_the_same_size_and_time_gets_another_overview_key(tmp_path):
    """rsync, or `cp -p` over a removed file: another file under the name with the same size and mtime.
    The clip cache decodes it again (its key has the inode); the overview and the page's view must too."""
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF one")
    key = file_key(clip)
    (tmp_path / "other.wav").write_bytes(b"RIFF two")
    os.replace(tmp_path / "other.wav", clip)
    os.utime(clip, ns=(key.mtime_ns, key.mtime_ns))
    assert (os.stat(clip).st_size, os.stat(clip).st_mtime_ns) == (key.size, key.mtime_ns)
    assert file_key(clip) != key
