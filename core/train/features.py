"""The frozen encoders' outputs, computed once per sample and kept on disk by content.

Training never runs CLAP, the SD text encoder or the VAE encoder inside its loop: each row's CLAP
embedding, its caption's SD text tokens and its image's VAE latent are computed once and stored
in a content-addressed cache, so a second run, a resumed run or the next stage reads them back.

    CACHE/<kind>/<key[:2]>/<key>.safetensors      kind: clap | text | latent
    CACHE/failed/<key[:2]>/<key>.json             a file that could not be decoded, with the reason

A key is the SHA-256 of the model's identity (class, config, source, dtype) and the input's
content (the audio or image file's bytes, the caption's text, the image resolution), never of a
path: renaming a file or moving the dataset keeps its features. File hashes are remembered per
(path, size, mtime) in CACHE/file_hashes.json, so an unchanged dataset is not re-read.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio import AudioError, clap_input, file_sha256, load_audio
from ..export.atomic import atomic_write
from .dataset import Row, SkippedRow

KINDS = ("clap", "text", "latent")
FAILED_KINDS = {"clap": "audio that does not decode or is silent", "latent": "image that does not decode"}
CLAP_WINDOW = "0+10s@48000"  # what CLAP hears of each clip: the first 10 s, as the engine's default window


def content_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def model_identity(model, source: str, dtype: torch.dtype | None = None) -> str:
    """What makes two encoders give the same features: class, config, where the weights come from."""
    config = model.config
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    config = {k: v for k, v in config.items() if not k.startswith("_") and k != "transformers_version"}
    return content_key(type(model).__name__, json.dumps(config, sort_keys=True, default=str), source, dtype)


class FeatureStore:
    """Safetensors files keyed by content, with a small in-memory LRU in front."""

    def __init__(self, root: str | Path, memory: int = 2048):
        self.root = Path(root)
        self._memory: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self._memory_size = memory
        self._hashes: dict[str, str] | None = None
        self._hashes_changed = False

    def _path(self, kind: str, key: str, suffix: str = ".safetensors") -> Path:
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def has(self, kind: str, key: str) -> bool:
        return (kind, key) in self._memory or self._path(kind, key).is_file()

    def get(self, kind: str, key: str) -> torch.Tensor:
        item = self._memory.get((kind, key))
        if item is None:
            from safetensors.torch import load_file

            item = load_file(str(self._path(kind, key)))["value"]
            self._remember(kind, key, item)
        else:
            self._memory.move_to_end((kind, key))
        return item

    def put(self, kind: str, key: str, value: torch.Tensor) -> None:
        from safetensors.torch import save

        value = value.detach().contiguous().cpu()
        atomic_write(self._path(kind, key), save({"value": value}))
        self._remember(kind, key, value)

    def _remember(self, kind: str, key: str, value: torch.Tensor) -> None:
        self._memory[(kind, key)] = value
        while len(self._memory) > self._memory_size:
            self._memory.popitem(last=False)

    def failure(self, key: str) -> str | None:
        path = self._path("failed", key, ".json")
        return json.loads(path.read_text())["reason"] if path.is_file() else None

    def put_failure(self, key: str, reason: str) -> None:
        atomic_write(self._path("failed", key, ".json"), json.dumps({"reason": reason}).encode())

    def file_hash(self, path: Path) -> str:
        """SHA-256 of a file's bytes, remembered per (path, size, mtime)."""
        if self._hashes is None:
            index = self.root / "file_hashes.json"
            self._hashes = json.loads(index.read_text()) if index.is_file() else {}
        stat = path.stat()
        token = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        sha = self._hashes.get(token)
        if sha is None:
            sha = self._hashes[token] = file_sha256(path)
            self._hashes_changed = True
        return sha

    def flush(self) -> None:
        """Write the file-hash index (once per pass, not per file)."""
        if self._hashes_changed and self._hashes is not None:
            atomic_write(self.root / "file_hashes.json", json.dumps(self._hashes).encode())
            self._hashes_changed = False


@dataclass(frozen=True)
class Sample:
    """A usable row and the cache keys of its features."""

    row: Row
    clap: str
    text: str
    latent: str | None  # None when the stage needs no latents (stage 1)


class Encoders:
    """The frozen encoders of a loaded ModelBundle, with their identities for the cache keys."""

    def __init__(self, bundle, resolution: int, batch_size: int = 8):
        from ..clap import ClapEncoder

        self.bundle = bundle
        self.pipe = bundle.pipe
        self.resolution = resolution
        self.batch_size = batch_size
        self.clap = ClapEncoder(bundle.clap_model, bundle.clap_features, bundle.clap_tokenizer, bundle.device)
        spec = bundle.spec
        sd_source, clap_source = spec.sd_source or "tiny", spec.clap_source or "tiny"
        self.clap_id = model_identity(bundle.clap_model, clap_source)
        tokenizer = f"{type(self.pipe.tokenizer).__name__}:{len(self.pipe.tokenizer)}"
        self.text_id = model_identity(self.pipe.text_encoder, f"{sd_source}|{tokenizer}", self.pipe.text_encoder.dtype)
        self.vae_id = model_identity(self.pipe.vae, sd_source, self.pipe.vae.dtype)

    @property
    def clap_dim(self) -> int:
        return self.clap.dim

    @property
    def token_dim(self) -> int:
        return int(self.pipe.text_encoder.config.hidden_size)

    @torch.inference_mode()
    def text_tokens(self, captions: Sequence[str]) -> torch.Tensor:
        """(n, 77, D) SD text tokens, exactly what the pipeline's `encode_prompt` gives a prompt."""
        out = [
            self.pipe.encode_prompt(list(captions[i : i + self.batch_size]), self.bundle.device, 1, False)[0]
            for i in range(0, len(captions), self.batch_size)
        ]
        return torch.cat(out)

    @torch.inference_mode()
    def latents(self, images: list) -> torch.Tensor:
        """(n, 4, r/8, r/8): centre-cropped to the training resolution, the VAE posterior's mean,
        scaled by the VAE's scaling factor (what the UNet denoises)."""
        vae = self.pipe.vae
        pixels = self.pipe.image_processor.preprocess(
            images, height=self.resolution, width=self.resolution, resize_mode="crop"
        ).to(self.bundle.device, vae.dtype)
        return vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor


def prepare_features(
    rows: Sequence[Row],
    store: FeatureStore,
    encoders: Encoders,
    latents: bool,
    compute: bool = True,
    shard: tuple[int, int] = (0, 1),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Sample], list[SkippedRow]]:
    """Cache keys for every row, computing what the cache lacks (rows of this shard only).

    Returns the usable samples in row order and the rows skipped with their reasons (audio that
    cannot be decoded or is silent, an image that cannot be decoded). With `compute=False` nothing
    is computed: used by every process after the shards were filled, so all agree on the rows."""
    rank, world = shard
    keyed: list[tuple[Row, dict[str, str], dict[str, str]]] = []
    for row in rows:
        audio_sha, image_sha = store.file_hash(row.audio), store.file_hash(row.image)
        keys = {
            "clap": content_key("clap", encoders.clap_id, audio_sha, CLAP_WINDOW),
            "text": content_key("text", encoders.text_id, row.caption),
        }
        if latents:
            keys["latent"] = content_key("latent", encoders.vae_id, image_sha, encoders.resolution)
        fails = {"clap": content_key("audio", audio_sha), "latent": content_key("image", image_sha)}
        keyed.append((row, keys, fails))
    store.flush()

    if compute:
        todo = [k for i, k in enumerate(keyed) if i % world == rank]
        _compute(todo, store, encoders, progress)

    samples, skipped = [], []
    for row, keys, fails in keyed:
        reasons = [(store.failure(fails[kind]), FAILED_KINDS[kind]) for kind in keys if kind in fails]
        reason, group = next(((r, g) for r, g in reasons if r), (None, ""))
        if reason is None and not all(store.has(kind, key) for kind, key in keys.items()):
            reason, group = "features missing from the cache (another process failed to compute them)", "no features"
        if reason:
            skipped.append(SkippedRow(row.line, reason, group))
        else:
            samples.append(Sample(row, keys["clap"], keys["text"], keys.get("latent")))
    return samples, skipped


def _compute(todo, store: FeatureStore, encoders: Encoders, progress) -> None:
    from PIL import Image, UnidentifiedImageError

    missing = [(row, keys, fails) for row, keys, fails in todo if not all(store.has(k, v) for k, v in keys.items())]
    for start in range(0, len(missing), encoders.batch_size):
        chunk = missing[start : start + encoders.batch_size]
        waves, images = [], []
        for row, keys, fails in chunk:
            if not store.has("clap", keys["clap"]) and store.failure(fails["clap"]) is None:
                try:
                    waves.append((keys["clap"], clap_input(load_audio(row.audio, name=row.audio_name), 0.0)))
                except AudioError as exc:
                    store.put_failure(fails["clap"], f"audio {exc}")
            if "latent" in keys and not store.has("latent", keys["latent"]) and store.failure(fails["latent"]) is None:
                try:
                    with Image.open(row.image) as im:
                        images.append((keys["latent"], im.convert("RGB")))
                except (UnidentifiedImageError, OSError) as exc:
                    store.put_failure(fails["latent"], f"image {row.image.name} cannot be decoded ({exc})")
        if waves:
            for (key, _), embedding in zip(waves, encoders.clap.embed_audio([w for _, w in waves])):
                store.put("clap", key, embedding)
        captions = {keys["text"]: row.caption for row, keys, _ in chunk if not store.has("text", keys["text"])}
        if captions:
            for key, tokens in zip(captions, encoders.text_tokens(list(captions.values()))):
                store.put("text", key, tokens)
        if images:
            for (key, _), latent in zip(images, encoders.latents([im for _, im in images])):
                store.put("latent", key, latent)
        if progress is not None:
            progress(min(start + len(chunk), len(missing)), len(missing))


__all__ = ["KINDS", "Encoders", "FeatureStore", "Sample", "content_key", "model_identity", "prepare_features"]
