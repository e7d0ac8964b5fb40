"""Scores that say whether an image shows its prompt and its sound (docs/SCORES.md).

A CLIP image–text model, loaded like the other models (transformers' `CLIPModel`; the real spec is
`openai/clip-vit-large-patch14`, the tiny spec the same classes with random weights built in code):

- prompt match: cosine similarity of the image's and the prompt's CLIP embeddings;
- heard in the image: CLIP's zero-shot distribution over the sound-event vocabulary's visual
  phrases (the zero-shot projector's vocabulary), against what CLAP heard in the clip: whether
  the two top events agree, and the cosine similarity of the two distributions;
- audio effect: how far the image moved from its strength-0 twin (same seed and prompt): one minus
  the CLIP image cosine, and the mean absolute pixel difference (0–1); exactly 0 for the same pixels;
- reference match: cosine similarity of the image and a reference image (a dataset row's frame).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .cache import LRUCache
from .models import ModelUnavailable, _first_sentence, hf_command, names_a_folder
from .score_names import CLIP_REAL, SCORE_LABELS, SCORE_NAMES, SCORE_NEEDS
from .trace import HeardLabel
from .vocabulary import Vocabulary


@dataclass(frozen=True)
class Scores:
    """One image's scores; None where the score does not apply (no audio, no twin, no reference)."""

    prompt_match: float | None = None
    heard_top1: float | None = None  # 1.0 when CLIP's top event is CLAP's top event, else 0.0
    heard_similarity: float | None = None
    audio_effect_clip: float | None = None
    audio_effect_pixels: float | None = None
    reference_match: float | None = None
    clip_top_event: str | None = None  # what CLIP sees, for people

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def tiny_clip():
    """CLIPModel + CLIPProcessor with tiny random weights (fixed seed): the offline spec."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from .tiny import TINY_SEED, tiny_clip_tokenizer

    tokenizer = tiny_clip_tokenizer()
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8,
        ),
        projection_dim=32,
    )  # fmt: skip
    torch.manual_seed(TINY_SEED)
    model = CLIPModel(config).eval()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, CLIPProcessor(image_processor=images, tokenizer=tokenizer)


def clip_source(spec: str) -> str:
    """Where a CLIP spec other than 'tiny' loads from: '', 'real' and 'clip' name CLIP_REAL."""
    return CLIP_REAL if spec in ("", "real", "clip") else spec


def load_clip(spec: str = "tiny", device: str = "cpu"):
    """(model, processor) for `spec`: 'tiny', or a Hub id / folder (default CLIP_REAL)."""
    if spec == "tiny":
        model, processor = tiny_clip()
        return model.to(device), processor
    from transformers import CLIPModel, CLIPProcessor

    source = clip_source(spec)
    try:
        model = CLIPModel.from_pretrained(source).eval().to(device)
        processor = CLIPProcessor.from_pretrained(source)
    except Exception as exc:  # noqa: BLE001 - hub/IO errors come in many types; all mean "not here"
        how = (
            "give a folder holding a CLIP model in transformers' layout (config.json, the weights, the processor files)"
            if names_a_folder(source)
            else f"run once with network: `{hf_command()} download {source}`"
        )
        raise ModelUnavailable(
            f"The CLIP model for scores could not be loaded from '{source}' ({how}). "
            f"Details: {type(exc).__name__}: {_first_sentence(str(exc))}"
        ) from exc
    return model, processor


class Scorer:
    """CLIP embeddings of images and texts (texts cached: the vocabulary's phrases once)."""

    def __init__(self, spec: str = "tiny", device: str = "cpu"):
        self.spec = spec
        self.name = scorer_name(spec)
        self.device = device
        self.model, self.processor = load_clip(spec, device)
        self._texts: dict[str, torch.Tensor] = {}
        self._references = LRUCache(32)  # twins and reference images recur across tiles, rows and seeds
        self.image_calls = 0  # forward passes, for the tests

    @torch.inference_mode()
    def embed_images(self, images: list[Image.Image]) -> torch.Tensor:
        """(N, D) unit-norm CLIP image embeddings."""
        inputs = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt")
        self.image_calls += 1
        out = self.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.device))
        out = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1).cpu()

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """(N, D) unit-norm CLIP text embeddings, each text computed once."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._texts]
        if todo:
            inputs = self.processor(text=todo, return_tensors="pt", padding=True, truncation=True, max_length=77)
            out = self.model.get_text_features(**{k: v.to(self.device) for k, v in inputs.items()})
            out = out if isinstance(out, torch.Tensor) else out.pooler_output
            for text, row in zip(todo, torch.nn.functional.normalize(out.float(), dim=-1).cpu(), strict=True):
                self._texts[text] = row
        return torch.stack([self._texts[t] for t in texts])

    @torch.inference_mode()
    def event_probabilities(self, image_embedding: torch.Tensor, vocabulary: Vocabulary) -> torch.Tensor:
        """CLIP's zero-shot distribution over the vocabulary's visual phrases (softmax of the
        scaled cosines, CLIP's own logit scale)."""
        phrases = self.embed_texts([e.phrase for e in vocabulary.events])
        logits = self.model.logit_scale.detach().exp().float().cpu() * (phrases @ image_embedding)
        return torch.softmax(logits, dim=0)

    def score(
        self,
        image: Image.Image,
        prompt: str | None = None,
        heard: list[HeardLabel] | None = None,
        vocabulary: Vocabulary | None = None,
        twin: Image.Image | None = None,
        reference: Image.Image | None = None,
    ) -> Scores:
        """Every score that applies to `image` (see the module docstring for the definitions)."""
        emb = self.embed_images([image])[0]
        values: dict[str, Any] = {}
        if prompt:
            values["prompt_match"] = float(self.embed_texts([prompt])[0] @ emb)
        if heard and vocabulary is not None:
            values.update(heard_scores(self.event_probabilities(emb, vocabulary), heard, vocabulary))
        if twin is not None:
            twin_emb = self._reference_embedding(twin)
            a, b = np.asarray(image.convert("RGB"), np.float32), np.asarray(twin.convert("RGB"), np.float32)
            same = a.shape == b.shape and np.array_equal(a, b)
            # a cosine of two near-equal embeddings may round above 1: no effect is 0, never -1e-7
            values["audio_effect_clip"] = 0.0 if same else max(0.0, float(1.0 - twin_emb @ emb))
            values["audio_effect_pixels"] = 0.0 if same else float(np.abs(a - b).mean() / 255.0)
        if reference is not None:
            values["reference_match"] = float(self._reference_embedding(reference) @ emb)
        return Scores(**values)

    def _reference_embedding(self, image: Image.Image) -> torch.Tensor:
        """A twin's or reference's embedding, computed once per distinct image (by its pixels): a
        sweep shares one twin between tiles, an evaluation one reference between seeds."""
        rgb = image.convert("RGB")
        key = (rgb.size, hashlib.sha1(rgb.tobytes()).hexdigest())
        cached = self._references.get_or_none(key)
        if cached is None:
            cached = self.embed_images([rgb])[0]
            self._references.put(key, cached)
        return cached


def scorer_name(spec: str) -> str:
    """The CLIP that scores, as a results file names it: the Hub id, or a local folder by its name
    only (files others see name no folder of this machine). Scores of two CLIPs do not compare."""
    if spec == "tiny":
        return "tiny"
    source = clip_source(spec)
    return Path(source).name if names_a_folder(source) else source


def heard_scores(clip_probs: torch.Tensor, heard: list[HeardLabel], vocabulary: Vocabulary) -> dict[str, Any]:
    """CLIP's event distribution against CLAP's (its heard labels' weights, zero elsewhere)."""
    index = {e.label: i for i, e in enumerate(vocabulary.events)}
    clap = torch.zeros_like(clip_probs)
    for h in heard:
        if h.label in index:
            clap[index[h.label]] = float(h.weight)
    top = int(torch.argmax(clip_probs))
    clap_top = max(heard, key=lambda h: h.weight).label
    similarity = float(torch.nn.functional.cosine_similarity(clip_probs, clap, dim=0))
    return {
        "heard_top1": 1.0 if vocabulary.events[top].label == clap_top else 0.0,
        "heard_similarity": similarity,
        "clip_top_event": vocabulary.events[top].label,
    }


__all__ = [
    "CLIP_REAL",
    "SCORE_LABELS",
    "SCORE_NAMES",
    "SCORE_NEEDS",
    "Scorer",
    "Scores",
    "heard_scores",
    "load_clip",
    "tiny_clip",
]
