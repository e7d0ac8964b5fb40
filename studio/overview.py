"""The Spectrogram page's overview of a clip: the window CLAP hears on it (as shaded and as said in
words) and the key its figure is cached under. Pure, so that a window past the clip's end or a file
replaced under the same name is tested here rather than met on the page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core.audio import CLAP_SECONDS, AudioClip
from core.parts import clip_overview
from core.spectrum import MelSpectrogram

Envelope = tuple[np.ndarray, np.ndarray, np.ndarray]  # (times, low, high): core.spectrum.waveform_envelope


@dataclass(frozen=True)
class ClapWindow:
    """The span [start, end) of a clip CLAP hears from `start`: CLAP_SECONDS long, shorter at the
    clip's end (never padded: core.audio.AudioClip.window), empty when the clip ends before `start`."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def empty(self) -> bool:
        """Nothing of the clip is heard: the engine refuses this start (`AudioClip.window`)."""
        return self.end <= self.start


def clap_window(start: float, duration: float, seconds: float = CLAP_SECONDS) -> ClapWindow:
    """The window from `start` on a clip of `duration` seconds."""
    start = max(0.0, float(start))
    return ClapWindow(start, max(start, min(float(duration), start + seconds)))


def window_text(start: float, duration: float | None) -> str:
    """'the 10-second window from 7.5 s': CLAP's window, as long as the clip has left after `start`
    ('the 0.5-second window from 7.5 s'); 'the window from 7.5 s' when the clip's length is unknown;
    a start at or past the clip's end says so (a window of 0 seconds read as a rounding slip)."""
    if duration is None:
        return f"the window from {start:g} s"
    window = clap_window(start, duration)
    if window.empty:
        return f"a window from {start:g} s, past the clip's end ({duration:.3g} s)"
    return f"the {window.seconds:.3g}-second window from {start:g} s"


@dataclass(frozen=True)
class FileKey:
    """A file as it is now: its resolved path, size, modification time and inode (as the clip cache's
    key, core/clip_cache.py). A file replaced under the same name (an upload saved again, a clip
    edited, rsync putting other sound under the old size and mtime) gets another key, so nothing
    cached for the old content is shown for the new."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @property
    def name(self) -> str:
        return Path(self.path).name


def file_key(path: str | Path) -> FileKey | None:
    """The key of the file at `path` (`~` expanded, links resolved), or None when it cannot be read
    (gone since it was decoded: the page says so instead of raising)."""
    try:
        resolved = Path(path).expanduser().resolve()
        stat = resolved.stat()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
        return None
    return FileKey(str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@st.cache_resource(show_spinner=False, max_entries=16)
def overview(key: FileKey, _clip: AudioClip) -> tuple[MelSpectrogram, Envelope]:
    """The clip's mel spectrogram and waveform envelope (core.parts.clip_overview), computed once per
    file version `key`: the clip itself is not hashed (seconds for a long one)."""
    return clip_overview(_clip)


__all__ = ["ClapWindow", "FileKey", "clap_window", "file_key", "overview", "window_text"]
