"""What each part of a clip sounds like, and what CLAP hears in it: the Spectrogram and Compare views.

For one source mode (`params.sources`) a `ModeView` holds every part (the mix; low/mid/high bands;
the four Demucs stems) with the level it feeds, its loudness relative to the window, a mel
spectrogram on the mode's one shared dB scale, a WAV for a player and CLAP's labels for it. Built on
the engine thread from the engine's cached listening: no separation or CLAP call is repeated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .bands import band_ranges
from .cancel import Cancelled
from .events import Stage, StatusCallback, ignore
from .params import LEVELS, GenerationParams
from .sources import LevelSources, player_wav_bytes, window_mix
from .spectrum import MelSpectrogram, mel_spectrogram, shared_spectrograms, waveform_envelope
from .trace import HeardLabel

if TYPE_CHECKING:
    from .audio import AudioClip
    from .engine import Engine


@dataclass
class PartView:
    name: str  # "mix", "low", "drums", ...
    level: str | None  # the level it feeds (None: mix mode, all levels by token position)
    db: float | None  # RMS relative to the window's mix
    mel: MelSpectrogram  # on the mode's shared dB scale
    player: bytes  # mono 16-bit WAV for a browser's audio player
    heard: list[HeardLabel] = field(default_factory=list)  # zero-shot only
    origin: str = ""  # a band's frequency range ("< 250 Hz"); empty for the mix and stems


@dataclass
class ModeView:
    mode: str
    sources: LevelSources  # kept for the WAV downloads
    parts: list[PartView]
    skipped: list[str]  # near-silent levels
    unfed: list[str]  # levels no part is routed to
    start: float
    end: float
    heard_levels: dict[str, list[HeardLabel]] = field(default_factory=dict)  # what conditions each level

    def wav_prefix(self) -> str:
        """The file-name prefix of this mode's parts ("stems-drums.wav" beside "bands-low.wav")."""
        return "" if self.mode == "mix" else self.mode


def mode_view(
    engine: Engine,
    params: GenerationParams,
    max_frames: int = 300,
    cancel: threading.Event | None = None,
    on_status: StatusCallback | None = None,
) -> ModeView:
    """Listen to `params.sources` (cached by the engine) and gather what a page draws for each part.
    Holds the engine for the whole view (it calls CLAP), saying `Waiting` first when it is busy."""
    status = on_status or ignore
    with engine.hold(status):
        listening = engine.listen(params, cancel=cancel, on_status=status)
        if cancel is not None and cancel.is_set():  # not CLAP again over every part for a stopped view
            raise Cancelled("the sources view was cancelled")
        clip, sources = listening.clip, listening.sources
        if clip is None or sources is None:
            raise ValueError("no audio chosen")
        heard = engine.hear_parts(params) if params.mode == "zero-shot" else {}
    status(Stage("spectrograms", "Drawing spectrograms"))
    mels = shared_spectrograms(
        sources.parts, sources.sample_rate, reference=window_mix(clip, sources), max_frames=max_frames
    )
    parts = [
        PartView(
            name,
            sources.part_levels.get(name),
            sources.part_db.get(name),
            mels[name],
            player_wav_bytes(sources, name),
            list(heard.get(name, [])),
        )
        for name in sources.parts
    ]
    origins = band_ranges(params.crossovers) if sources.mode == "bands" else {}
    for part in parts:
        part.origin = origins.get(part.name, "")
    fed = set(sources.part_levels.values())
    unfed = [lv for lv in LEVELS if sources.mode != "mix" and lv not in fed]
    return ModeView(
        params.sources,
        sources,
        parts,
        list(sources.silent_levels),
        unfed,
        float(sources.start),
        float(sources.start) + float(sources.duration),
        dict(listening.heard) if listening.per_source else {},
    )


def clip_overview(clip: AudioClip) -> tuple[MelSpectrogram, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The whole clip at a glance: its mel spectrogram and its waveform envelope (times, low, high)."""
    mono = clip.mono()
    return mel_spectrogram(mono, clip.sample_rate), waveform_envelope(mono, clip.sample_rate)


__all__ = ["ModeView", "PartView", "clip_overview", "mode_view"]
