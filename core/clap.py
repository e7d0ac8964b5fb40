"""CLAP audio and text embeddings (transformers' ClapModel, LAION-CLAP weights), cached by content.

Both sides land in CLAP's joint space, L2-normalised, so a dot product is a cosine similarity.
The caches are keyed by content (a hash of the samples, or the text), so moving a slider in the
studio never runs CLAP again; `audio_calls` / `text_calls` count real forward passes for the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from .audio import CLAP_RATE
from .cache import LRUCache


def waveform_key(samples: np.ndarray) -> str:
    """Content hash of a waveform (what CLAP would hear), independent of file names."""
    data = np.ascontiguousarray(samples, dtype=np.float32)
    return hashlib.sha256(data.tobytes()).hexdigest()


class ClapEncoder:
    """Embeds 48 kHz mono waveforms (one at a time) and texts (batched) into CLAP's joint space, cached."""

    def __init__(self, model, feature_extractor, tokenizer, device: str, cache_size: int = 512):
        self.model = model
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.device = device
        self._audio_cache = LRUCache(cache_size)
        self._text_cache = LRUCache(cache_size * 8)  # vocabularies are a few hundred labels
        self.audio_calls = 0
        self.text_calls = 0

    def forget_audio(self) -> None:
        """Drop the cached audio embeddings: the next clip is embedded again (a bench's first listen)."""
        self._audio_cache.clear()

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def logit_scale(self) -> float:
        """CLAP's learned audio-text temperature (about 1/0.07 at init)."""
        return float(self.model.logit_scale_a.detach().exp())

    @torch.inference_mode()
    def embed_audio(self, waveforms: Sequence[np.ndarray]) -> torch.Tensor:
        """(B, dim) float32 on CPU; each waveform mono 48 kHz, at most 10 s (shorter is repeat-padded).

        Each missing waveform gets its own forward pass: CLAP's output for a waveform differs in the
        last bits with the batch it runs in, and the cache is keyed by the waveform alone, so a
        batched pass would make a level's tokens (and an image's pixels) depend on what was heard
        before. Reproducing a PNG exactly needs them to depend on the waveform only."""
        keys = [waveform_key(w) for w in waveforms]
        for key, wave in zip(keys, waveforms):
            if self._audio_cache.get_or_none(key) is None:
                self._audio_cache.put(key, self._embed_one(wave))
        return torch.stack([self._audio_cache.get_or_none(k) for k in keys])

    def _embed_one(self, wave: np.ndarray) -> torch.Tensor:
        # "rand_trunc" is the unfused checkpoints' mode; at <= 10 s nothing is cut, so it is
        # deterministic. The extractor's default, "fusion", is for the fused checkpoints.
        features = self.feature_extractor(
            [np.asarray(wave, dtype=np.float32)],
            sampling_rate=CLAP_RATE,
            return_tensors="pt",
            truncation="rand_trunc",
            padding="repeatpad",
        )
        features = {k: v.to(self.device) for k, v in features.items()}
        out = self.model.get_audio_features(**features)
        self.audio_calls += 1
        return torch.nn.functional.normalize(_pooled(out).float(), dim=-1).cpu()[0]

    @torch.inference_mode()
    def embed_text(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """(B, dim) float32 on CPU."""
        missing = [t for t in dict.fromkeys(texts) if self._text_cache.get_or_none(t) is None]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            tokens = self.tokenizer(chunk, padding=True, truncation=True, return_tensors="pt")
            tokens = {k: v.to(self.device) for k, v in tokens.items()}
            out = self.model.get_text_features(**tokens)
            emb = torch.nn.functional.normalize(_pooled(out).float(), dim=-1).cpu()
            self.text_calls += 1
            for text, row in zip(chunk, emb):
                self._text_cache.put(text, row)
        return torch.stack([self._text_cache.get_or_none(t) for t in texts])


def _pooled(output) -> torch.Tensor:
    """transformers 5 returns an output object (the embedding is `.pooler_output`); 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output
