"""Split one clip into level sources: mix | bands (low/mid/high) | stems (Demucs).

The hierarchy conditions foreground, background and ambience on different audio. Where that
audio comes from is this module's one job:

- ``mix``    the seed's method: ONE clip; the engine splits CLAP's 77 tokens by position (35/21/21).
             Nothing is separated here, so ``levels`` is empty and ``parts`` holds the mix (for the
             player and the spectrogram). The engine must treat empty ``levels`` as "positional".
- ``bands``  a zero-phase, exactly complementary 3-band crossover (see `band_split`):
             low -> ambience, mid -> background, high -> foreground (seed 000).
- ``stems``  Demucs (htdemucs: drums/bass/other/vocals at 44.1 kHz stereo); ``stem_map`` routes each
             stem to a level and stems that share a level are summed.

Every mode cuts the same window CLAP hears first. Levels whose source is near-silent are listed in
``silent_levels`` instead of ``levels`` (see SILENT_DB), so CLAP never embeds digital silence.

Torch and demucs are imported lazily: bands and mix never pay for them.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import CLAP_SECONDS, AudioClip
from core.bands import BAND_LEVELS, DEFAULT_CROSSOVERS, band_ranges, band_split_in_context
from core.cancel import Cancelled
from core.export.wav import wav_bytes, write_wav
from core.params import DEFAULT_STEM_MAP, LEVELS, SOURCE_MODES, TOKENS, GenerationParams
from core.separation import SeparationError, StemSeparator, get_separator  # noqa: F401 (SeparationError: re-exported)

ProgressFn = Callable[[int, int], None]


# A level is "silent" when its RMS is more than 50 dB below the RMS of the window it came from.
# -50 dB is below what a listener picks out of a mix, yet far above float rounding (~-140 dB); it
# also sits above a filter's leak one octave past a crossover (-64 dB for 100 Hz vs 250 Hz). So
# "nothing there" is reported, not embedded by CLAP as if it were a sound. Relative, not absolute,
# so a quiet recording is judged against itself; a silent window makes every level silent.
SILENT_DB = -50.0


# -- the result ------------------------------------------------------------------------------------
@dataclass
class LevelSources:
    """What each hierarchy level hears, plus every named part for players and spectrograms.

    All waveforms are mono float32 at ``sample_rate`` (the clip's rate for mix/bands, the model's
    for stems). ``levels`` holds only levels with an audible source; ``silent_levels`` the mapped
    ones that were near-silent. A level in neither has no source at all (e.g. no stem mapped to
    it, or mix mode, where ``levels`` is empty by design: the engine splits tokens by position).
    """

    mode: str
    sample_rate: int
    levels: dict[str, np.ndarray]
    parts: dict[str, np.ndarray]
    part_levels: dict[str, str]
    silent_levels: list[str]
    stems_stereo: dict[str, np.ndarray] | None = None
    part_db: dict[str, float] = field(default_factory=dict)  # part RMS relative to the window, dB
    name: str = "audio"
    sha256: str = ""  # of the source file, as AudioClip.sha256
    start: float = 0.0  # window start in the source, seconds

    @property
    def duration(self) -> float:
        first = next(iter(self.parts.values()), np.zeros(0))
        return first.shape[-1] / self.sample_rate

    @property
    def positional(self) -> bool:
        """True when the engine must fall back to the seed's positional token split."""
        return not self.levels

    def clip(self, name: str) -> AudioClip:
        """A level (or part) as an AudioClip, content-hashed so CLAP's cache keys on what it hears."""
        wave = self.levels.get(name)
        if wave is None:
            wave = self.parts.get(name)
        if wave is None:
            raise KeyError(f"no level or part named {name!r} (have {sorted({*self.levels, *self.parts})})")
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        digest = hashlib.sha256(wave.tobytes() + f"|{self.sample_rate}".encode()).hexdigest()
        return AudioClip(wave, self.sample_rate, digest, f"{self.name} [{name}]")


# -- top level -------------------------------------------------------------------------------------
def split_sources(
    clip: AudioClip,
    mode: str,
    *,
    crossovers: tuple[float, float] = DEFAULT_CROSSOVERS,
    stem_map: Mapping[str, str] | Iterable[tuple[str, str]] = DEFAULT_STEM_MAP,
    separator: StemSeparator | None = None,
    start_s: float = 0.0,
    seconds: float = CLAP_SECONDS,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> LevelSources:
    """Cut the CLAP window from ``clip`` and split it for ``mode`` ("mix" | "bands" | "stems").

    Stems use ``separator`` (default: the shared `get_separator()` for htdemucs). Stems without an
    entry in ``stem_map`` (e.g. guitar/piano of htdemucs_6s) follow "other".
    """
    if mode not in SOURCE_MODES:
        raise ValueError(f"mode must be one of {', '.join(SOURCE_MODES)} (got {mode!r})")
    if cancel is not None and cancel.is_set():
        raise Cancelled("source split cancelled before it started")
    window = clip.window(start_s, seconds)
    common = dict(name=clip.name, sha256=clip.sha256, start=window.start)

    if mode == "mix":
        mono = window.mono()
        if progress is not None:
            progress(1, 1)
        return LevelSources("mix", window.sample_rate, {}, {"mix": mono}, {}, [], None, {"mix": 0.0}, **common)

    if mode == "bands":
        mono = window.mono()
        parts = band_split_in_context(clip, window, crossovers)
        levels, silent, part_db = _route(mono, parts, BAND_LEVELS)
        if progress is not None:
            progress(1, 1)
        return LevelSources(
            "bands", window.sample_rate, levels, parts, dict(BAND_LEVELS), silent, None, part_db, **common
        )

    separator = separator or get_separator()
    routing = dict(stem_map)
    unknown = set(routing) - set(separator.sources)  # checked before paying for a separation
    if unknown:
        raise ValueError(f"stem_map names stems the model does not produce: {sorted(unknown)}")
    stereo = separator.separate(window, progress=progress, cancel=cancel)
    fallback = routing.get("other", "background")
    part_levels = {stem: routing.get(stem, fallback) for stem in stereo}
    parts = {stem: wave.mean(axis=0, dtype=np.float64).astype(np.float32) for stem, wave in stereo.items()}
    # RMS does not depend on the sample rate (for band-limited audio), so the window at its own
    # rate is the reference: no second resampling on every cache hit.
    levels, silent, part_db = _route(window.mono(), parts, part_levels)
    return LevelSources("stems", separator.samplerate, levels, parts, part_levels, silent, stereo, part_db, **common)


def sources_for_params(
    clip: AudioClip,
    params: GenerationParams,
    *,
    separator: StemSeparator | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> LevelSources:
    """split_sources with the knobs of a GenerationParams (sources, crossovers, stem_map, window_start)."""
    return split_sources(
        clip,
        params.sources,
        crossovers=tuple(params.crossovers),
        stem_map=params.stem_map,
        separator=separator,
        start_s=params.window_start,
        progress=progress,
        cancel=cancel,
    )


def level_origin(params: GenerationParams, level: str) -> str:
    """What a level hears under `params`, in words for captions: its token positions (mix), its
    frequency range (bands) or the stems mapped to it."""
    if params.sources == "bands":
        band = next(b for b, lv in BAND_LEVELS.items() if lv == level)
        return band_ranges(params.crossovers)[band]
    if params.sources == "stems":
        return "+".join(s for s, lv in params.stem_map if lv == level) or "no stem"
    fg, bg, _ = params.split
    bounds = {"foreground": (1, fg), "background": (fg + 1, fg + bg), "ambience": (fg + bg + 1, TOKENS)}[level]
    return f"tokens {bounds[0]}–{bounds[1]}"


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _db(ratio: float) -> float:
    return 20 * math.log10(ratio) if ratio > 0 else float("-inf")


def _route(
    reference: np.ndarray, parts: Mapping[str, np.ndarray], part_levels: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], list[str], dict[str, float]]:
    """Sum parts into levels (LEVELS order); drop and report levels more than SILENT_DB under the input."""
    ref_rms = _rms(reference)
    part_db = {name: (_db(_rms(w) / ref_rms) if ref_rms > 0 else float("-inf")) for name, w in parts.items()}
    levels: dict[str, np.ndarray] = {}
    silent: list[str] = []
    for level in LEVELS:
        members = [parts[name] for name, lv in part_levels.items() if lv == level]
        if not members:
            continue
        wave = members[0].copy() if len(members) == 1 else np.sum(members, axis=0, dtype=np.float32)
        if ref_rms <= 0 or _db(_rms(wave) / ref_rms) < SILENT_DB:
            silent.append(level)
        else:
            levels[level] = wave
    return levels, silent, part_db


def part_audio(sources: LevelSources, name: str) -> np.ndarray:
    """A part as it is saved: (2, n) stereo for a Demucs stem, mono (n,) otherwise; float32."""
    if name not in sources.parts:
        raise KeyError(f"no part named {name!r} (have {sorted(sources.parts)})")
    stereo = sources.stems_stereo or {}
    return np.asarray(stereo.get(name, sources.parts[name]), dtype=np.float32)


def save_stems(sources: LevelSources, folder: str | os.PathLike, subtype: str = "FLOAT") -> list[Path]:
    """One WAV per part (stereo for Demucs stems), written atomically; returns the paths.

    32-bit float by default: stems may exceed full scale before they are summed, PCM would clip them.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sources.parts:
        path = folder / part_filename(sources, name)
        write_wav(path, part_audio(sources, name), sources.sample_rate, subtype)
        paths.append(path)
    return paths


def part_filename(sources: LevelSources, name: str, prefix: str = "") -> str:
    """`drums.wav`, or `<prefix>-drums.wav` (e.g. "stems-drums.wav" beside "bands-low.wav" in one ZIP)."""
    stem = _safe_name(name)
    return f"{_safe_name(prefix)}-{stem}.wav" if prefix else f"{stem}.wav"


def part_wav_bytes(sources: LevelSources, name: str, subtype: str = "FLOAT") -> bytes:
    """One part as a WAV file in memory, exactly what `save_stems` writes for it."""
    return wav_bytes(part_audio(sources, name), sources.sample_rate, subtype)


def player_wav_bytes(sources: LevelSources, name: str) -> bytes:
    """A part for a browser's audio player: mono 16-bit PCM, not normalised (parts keep their
    loudness relative to each other; a part louder than full scale is clipped, only here)."""
    return wav_bytes(sources.parts[name], sources.sample_rate, "PCM_16")


def parts_wav_items(sources: LevelSources, prefix: str = "", subtype: str = "FLOAT") -> list[tuple[str, bytes]]:
    """(file name, WAV bytes) per part, as `save_stems` names and writes them, for a ZIP."""
    return [(part_filename(sources, name, prefix), part_wav_bytes(sources, name, subtype)) for name in sources.parts]


def window_mix(clip: AudioClip, sources: LevelSources) -> np.ndarray:
    """The mono window the parts were split from, at the parts' sample rate (Demucs works at
    44.1 kHz whatever the clip's rate): the reference that puts every part on one dB scale."""
    # sources.start is where the window lies in the file; clip.window counts from the clip's own start
    mono = clip.window(max(0.0, sources.start - clip.start), max(sources.duration, 1.0 / clip.sample_rate)).mono()
    if int(clip.sample_rate) != int(sources.sample_rate):
        from core.audio import resample

        mono = resample(mono, int(clip.sample_rate), int(sources.sample_rate))
    return np.ascontiguousarray(mono, dtype=np.float32)


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) or "part"


__all__ = [
    "LevelSources",
    "SILENT_DB",
    "level_origin",
    "part_audio",
    "part_filename",
    "part_wav_bytes",
    "parts_wav_items",
    "player_wav_bytes",
    "save_stems",
    "sources_for_params",
    "split_sources",
    "window_mix",
]
