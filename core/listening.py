"""Stages 1-4 of a generation: what the engine hears in a clip, before any hierarchy knob applies.

1. audio    decode + validate the clip               the process's byte-sized clip cache
                                                     (core/clip_cache.py), key: path, size, mtime
2. sources  mix | bands | Demucs stems               (stems: the separator caches by window content)
3. clap     CLAP audio embedding per source          (the encoder caches by waveform content)
4. tokens   zero-shot phrases / trained projector    stages 2-4 together, key: the clip's content
                                                     hash + `listening_key(params)` + the
                                                     checkpoint files' identity (trained mode)

`listening_key` names the params fields a listening depends on (LISTENING_FIELDS), once: the
engine's cache and the studio's Spectrogram page both key on it. Every other field (weights, norm,
split, switch points, gates, strength, seed, prompt) re-runs only the denoising loop.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .audio import CLAP_RATE, AudioClip, resample
from .cache import ByteLRUCache
from .cancel import Cancelled
from .clap import ClapEncoder
from .clip_cache import load_clip_checked
from .events import Stage, StatusCallback
from .params import LEVELS, GenerationParams
from .projector import ZeroShotProjector, checkpoint_identity
from .separation import StemSeparator
from .sources import LevelSources, sources_for_params
from .trace import HeardLabel

# The params fields a listening depends on; the clip itself is keyed by its caller (the engine by
# content hash, the Spectrogram page by file), and every field not named here never re-runs CLAP.
LISTENING_FIELDS: tuple[str, ...] = (
    "window_start",
    "sources",
    "crossovers",
    "stem_map",
    "mode",
    "top_k",
    "temperature",
    "checkpoint",
)


@dataclass(frozen=True)
class ListeningKey:
    """LISTENING_FIELDS of one GenerationParams; a field that mode does not use is None."""

    window_start: float
    sources: str
    crossovers: tuple[float, float] | None  # bands only
    stem_map: tuple[tuple[str, str], ...] | None  # stems only
    mode: str
    top_k: int | None  # zero-shot only
    temperature: float | None  # zero-shot only
    checkpoint: str | None  # trained only


def listening_key(params: GenerationParams) -> ListeningKey:
    """What decides a listening, besides the clip: two params with the same key hear the same."""
    values = {name: getattr(params, name) for name in LISTENING_FIELDS}
    unused = {
        "crossovers": params.sources != "bands",
        "stem_map": params.sources != "stems",
        "top_k": params.mode != "zero-shot",
        "temperature": params.mode != "zero-shot",
        "checkpoint": params.mode != "trained",
    }
    return ListeningKey(**{name: None if unused.get(name) else value for name, value in values.items()})


@dataclass
class Listening:
    """What the engine heard in a clip, before any hierarchy knob is applied (cacheable)."""

    clip: AudioClip | None
    raw_tokens: dict[str, torch.Tensor]  # "mix" -> (1,77,D), or level -> (1,77,D) per source
    heard: dict[str, list[HeardLabel]] = field(default_factory=dict)
    sources: LevelSources | None = None  # every part the levels hear (mix mode too); None without audio
    skipped_levels: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def per_source(self) -> bool:
        return "mix" not in self.raw_tokens


# A listening's tokens are a few hundred kB; one with separated sources also holds their waveforms
# (Demucs stems of a 10 s window at 44.1 kHz: ~25 MB), so the cache counts bytes, not entries.
LISTENING_CACHE_BYTES = 256 * 2**20


def listening_nbytes(listening: Listening) -> int:
    """What a cached listening holds: its token tensors and its sources' waveforms."""
    tokens = sum(t.numel() * t.element_size() for t in listening.raw_tokens.values())
    s = listening.sources
    waves = [] if s is None else [*s.levels.values(), *s.parts.values(), *(s.stems_stereo or {}).values()]
    return tokens + sum(int(w.nbytes) for w in {id(w): w for w in waves}.values())  # a shared array once


class Listener:
    """Runs stages 1-4 and caches them by content. Not thread-safe: the engine's lock guards it."""

    def __init__(
        self,
        clap: ClapEncoder,
        zero_shot: ZeroShotProjector,
        projector: Callable[[str | None], torch.nn.Module],
        separator: Callable[[], StemSeparator],
        device: str,
        dtype: torch.dtype,
    ):
        self.clap = clap
        self.zero_shot = zero_shot
        self.projector = projector  # checkpoint folder -> the trained projector (the engine caches it)
        self.separator = separator  # Demucs, loaded on first use
        self.device = device
        self.dtype = dtype
        # kept without their clip (that lives in the clip cache only), bounded by what they hold
        self._listenings = ByteLRUCache(LISTENING_CACHE_BYTES, sizeof=listening_nbytes)

    def forget(self) -> None:
        """Drop every cached listening and CLAP audio embedding: the next listen runs stages 2-4
        again (bench/gpu.py measures a first listen's memory that way)."""
        self._listenings.clear()
        self.clap.forget_audio()

    def load_clip(self, path: str | Path, recorded_sha256: str | None = None) -> AudioClip:
        """Decoded once for the process, shared with the studio (core/clip_cache.py); refused when
        it is not the version a reproduced image recorded."""
        return load_clip_checked(path, recorded_sha256)

    def listen(self, params: GenerationParams, cancel: threading.Event | None, status: StatusCallback) -> Listening:
        if params.audio_path is None:
            return Listening(clip=None, raw_tokens={})
        timings: dict[str, float] = {}
        t = time.perf_counter()
        status(Stage("audio", "Reading the audio"))
        clip = self.load_clip(params.audio_path, params.audio_sha256)
        timings["audio"] = time.perf_counter() - t
        trained = params.mode == "trained"
        key = (clip.sha256, listening_key(params), checkpoint_identity(params.checkpoint) if trained else None)
        cached = self._listenings.get_or_none(key)
        if cached is not None:
            return dataclasses.replace(cached, clip=clip, timings=timings)

        # 2. sources (mix: the window itself, one part that feeds every level by token position)
        t = time.perf_counter()
        stems = params.sources == "stems"
        if params.sources != "mix":
            status(Stage("sources", "Separating stems (Demucs)" if stems else "Splitting frequency bands"))
        sources = sources_for_params(
            clip,
            params,
            separator=self.separator() if stems else None,
            progress=(lambda done, total: status(Stage("sources", "Separating stems", done, total))) if stems else None,
            cancel=cancel,
        )
        heard_by = sources.parts if params.sources == "mix" else sources.levels
        waves = {name: resample(wave, sources.sample_rate, CLAP_RATE) for name, wave in heard_by.items()}
        timings["sources"] = time.perf_counter() - t
        if cancel is not None and cancel.is_set():  # Demucs checks before each chunk, not after the last
            raise Cancelled("listening cancelled before CLAP")

        # 3. CLAP: every source (each alone: see ClapEncoder.embed_audio)
        t = time.perf_counter()
        status(Stage("clap", "Listening with CLAP"))
        names = [n for n in ("mix", *LEVELS) if n in waves]
        embeddings = self.clap.embed_audio([waves[n] for n in names]) if names else torch.zeros(0)
        timings["clap"] = time.perf_counter() - t

        # 4. tokens
        t = time.perf_counter()
        status(Stage("tokens", "Turning what was heard into tokens"))
        raw: dict[str, torch.Tensor] = {}
        heard: dict[str, list[HeardLabel]] = {}
        for name, embedding in zip(names, embeddings):
            if not trained:
                heard[name] = self.zero_shot.hear(embedding, params.top_k, params.temperature)
                raw[name] = self.zero_shot.tokens(heard[name])
            else:
                projector = self.projector(params.checkpoint)
                with torch.inference_mode():
                    raw[name] = projector(embedding[None].to(self.device)).to(self.dtype)
        timings["tokens"] = time.perf_counter() - t
        listening = Listening(clip, raw, heard, sources, list(sources.silent_levels), timings)
        self._listenings.put(key, dataclasses.replace(listening, clip=None, timings={}))
        return listening

    def hear_parts(self, params: GenerationParams, listening: Listening) -> dict[str, list[HeardLabel]]:
        """What CLAP hears in each named part of a listening (every stem or band before they are
        summed into levels; "mix" in mix mode)."""
        if listening.sources is None:
            return {}
        parts, rate = listening.sources.parts, listening.sources.sample_rate
        names = list(parts)
        embeddings = self.clap.embed_audio([resample(parts[n], rate, CLAP_RATE) for n in names])
        return {n: self.zero_shot.hear(e, params.top_k, params.temperature) for n, e in zip(names, embeddings)}


__all__ = [
    "LISTENING_CACHE_BYTES",
    "LISTENING_FIELDS",
    "Listener",
    "Listening",
    "ListeningKey",
    "listening_key",
    "listening_nbytes",
]
