"""CLAP2Diff core engine: audio + text -> image with Stable Diffusion 1.x. Knows nothing of the UI."""

from .params import GenerationParams, ParamsError

__all__ = ["GenerationParams", "ParamsError"]
