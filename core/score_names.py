"""The CLIP scores by name (docs/SCORES.md): the CSV's columns, what people call each, what each says
and what it needs. Apart from core/scoring.py (torch, transformers) so that pages, charts and the
sweep's files name the scores without loading a model library."""

from __future__ import annotations

CLIP_REAL = "openai/clip-vit-large-patch14"  # the CLIP that scores, unless a spec names another (or tiny)

SCORE_LABELS: dict[str, str] = {  # what people call each score, in the CSV's column order; docs/SCORES.md defines each
    "prompt_match": "Prompt match",
    "heard_top1": "Heard in the image: same top event",
    "heard_similarity": "Heard in the image: similarity",
    "audio_effect_clip": "Audio effect (CLIP)",
    "audio_effect_pixels": "Audio effect (pixels)",
    "reference_match": "Reference match",
}
SCORE_NAMES = tuple(SCORE_LABELS)
SCORE_NEEDS: dict[str, str] = {  # what each score cannot be computed without: why its cell is empty
    "prompt_match": "a prompt",
    "heard_top1": "a clip (what CLAP heard)",
    "heard_similarity": "a clip (what CLAP heard)",
    "audio_effect_clip": "a clip (the image is compared with its no-audio twin)",
    "audio_effect_pixels": "a clip (the image is compared with its no-audio twin)",
    "reference_match": "a reference image (the CLI's --reference)",
}
SCORE_HELP: dict[str, str] = {  # what each score says, in a sentence a page can show beside it
    "prompt_match": "CLIP similarity of the image and the prompt",
    "heard_top1": "1 when CLIP's top sound event for the image is CLAP's top event for the clip",
    "heard_similarity": "how alike CLIP's events for the image and CLAP's for the clip are",
    "audio_effect_clip": "how far the image moved from its no-audio twin (CLIP)",
    "audio_effect_pixels": "how far the image moved from its no-audio twin (pixels)",
    "reference_match": "CLIP similarity to the reference image",
}


__all__ = ["CLIP_REAL", "SCORE_HELP", "SCORE_LABELS", "SCORE_NAMES", "SCORE_NEEDS"]
