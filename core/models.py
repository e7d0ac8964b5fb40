"""Model specs and loading: which Stable Diffusion and which CLAP, on which device, in which dtype.

A spec is a short string the user types: "sd15", "tiny", any SD 1.x hub id, or a local folder in
diffusers layout. The real path goes through diffusers' and transformers' own `from_pretrained`; the
"tiny" spec builds the same classes with random weights (core/tiny.py). A real model that is not
available fails with a message naming the model and how to get it, never with a silently broken
tokenizer (offline, CLIPTokenizer.from_pretrained can return a 2-token vocabulary without error).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import UserError

SD15_HUB_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"
CLAP_HUB_ID = "laion/clap-htsat-unfused"
CLAP_ENV = "CLAP2DIFF_CLAP"  # overrides the CLAP checkpoint (hub id or folder)
TAESD_HUB_ID = "madebyollin/taesd"  # the tiny preview decoder (core/fastpaths.py), used when cached
TAESD_ENV = "CLAP2DIFF_TAESD"  # overrides it (hub id or folder)


class ModelUnavailable(UserError, RuntimeError):
    """A model could not be loaded; the message says which and what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what the user typed, recorded in GenerationParams.models
    sd_source: str | None  # hub id or folder; None for tiny
    clap_source: str | None  # hub id or folder; None for tiny
    label: str  # for people: "Stable Diffusion 1.5 (hub)", "tiny offline demo", ...

    @property
    def tiny(self) -> bool:
        return self.sd_source is None


def resolve_spec(name: str) -> ModelSpec:
    """Turn what the user typed into a spec. Raises ModelUnavailable for nonsense."""
    name = (name or "").strip()
    clap = os.environ.get(CLAP_ENV, CLAP_HUB_ID)
    if name == "tiny":
        return ModelSpec("tiny", None, None, "tiny offline demo (random weights)")
    if name in ("sd15", SD15_HUB_ID):
        return ModelSpec(name, SD15_HUB_ID, clap, "Stable Diffusion 1.5")
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelSpec(name, str(path.resolve()), clap, f"local folder {path}")
    if is_hub_id(name) and not names_a_folder(name):
        return ModelSpec(name, name, clap, f"hub model {name}")
    raise ModelUnavailable(
        f"Unknown model {name!r}: use 'sd15', 'tiny', a Hugging Face id like 'owner/model', "
        "or an existing folder in diffusers layout (a shared image names a local models folder by its "
        "own name only: give that folder's path)."
    )


def is_hub_id(name: str) -> bool:
    """An id like 'owner/model': one slash between two non-empty parts, no spaces. Anything else
    would end in a download command that cannot work (`hf download owner/`)."""
    owner, slash, repo = name.partition("/")
    return bool(slash and owner and repo) and "/" not in repo and not any(c.isspace() for c in name)


# The tiny demo has random weights: a large image only costs time (about a minute per 512² render on
# a 2-core CPU), so a session that starts on it gets a small image in few steps, seconds per render.
TINY_DEFAULTS: dict[str, int] = {"width": 256, "height": 256, "steps": 15}


def starting_params(spec: str):
    """A fresh session's settings for these models: GenerationParams' defaults, small for tiny."""
    from .params import GenerationParams

    return GenerationParams(models=spec, **(TINY_DEFAULTS if spec.strip() == "tiny" else {}))


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> torch.dtype:
    """fp16 on CUDA (SD 1.x is trained for it, half the memory), fp32 on CPU (fp16 is slow there)."""
    return torch.float16 if device.startswith("cuda") else torch.float32


@dataclass
class ModelBundle:
    """Everything the engine runs, loaded once."""

    spec: ModelSpec
    pipe: Any  # diffusers.StableDiffusionPipeline
    clap_model: Any  # transformers.ClapModel
    clap_features: Any  # transformers.ClapFeatureExtractor
    clap_tokenizer: Any
    device: str
    dtype: torch.dtype
    preview_vae: Any = None  # diffusers.AutoencoderTiny (TAESD) for previews, None when not cached
    preview_vae_note: str = ""  # why there is none, for the studio's sidebar


def _first_sentence(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line.split(" (", 1)[0].split(". ", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def names_a_folder(source: str) -> bool:
    """`source` is a path on this machine (absolute, ./, ~, or there), not a Hub id: what a failed
    load then asks for is a readable folder, not a download."""
    return Path(source).expanduser().is_absolute() or source.startswith((".", "~")) or Path(source).exists()


def hf_command() -> str:
    """The Hub CLI as this install can run it: `hf` on PATH, else the one beside this Python
    (a virtual environment that was not activated has it only as .venv/bin/hf)."""
    if shutil.which("hf"):
        return "hf"
    beside = Path(sys.executable).parent / "hf"
    if beside.exists():
        try:
            return str(beside.relative_to(Path.cwd()))
        except ValueError:
            return str(beside)
    return "hf"


# What StableDiffusionPipeline.from_pretrained reads of SD 1.5 in diffusers layout (no safety
# checker: it is not loaded): every config, the tokenizer, and one fp32 safetensors file per model,
# about 4.3 GB. The whole repository also holds the original checkpoints and fp16 / non-EMA
# variants, tens of GB that nothing here reads.
SD15_FILES = (
    "*.json",
    "*.txt",
    "text_encoder/model.safetensors",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
)


def download_command(source: str) -> str:
    """The Hub CLI command that fetches what loading `source` reads: only the files above for SD
    1.5, the whole repository for another id (its layout is not known here)."""
    files = " ".join(f'"{pattern}"' for pattern in SD15_FILES) if source == SD15_HUB_ID else ""
    return f"{hf_command()} download {source}" + (f" --include {files}" if files else "")


def _unavailable(what: str, source: str, exc: Exception) -> ModelUnavailable:
    where = (
        f"the folder {source}"
        if Path(source).exists()
        else f"'{source}' from the Hugging Face Hub (run once with network: "
        f"`{download_command(source)}`, or pass a local folder)"
    )
    detail = _first_sentence(str(exc)).rstrip(".")
    return ModelUnavailable(f"{what} could not be loaded from {where}. Details: {type(exc).__name__}: {detail}.")


def _all_unavailable(problems: list[ModelUnavailable]) -> ModelUnavailable:
    """One message naming every model that is missing, each with its own command."""
    lines = " ".join(str(p) for p in problems)
    return ModelUnavailable(f"{lines} Offline? Use the tiny offline demo models ('tiny').")


def _load_sd(source: str, dtype: torch.dtype):
    from diffusers import StableDiffusionPipeline

    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            source, dtype=dtype, safety_checker=None, requires_safety_checker=False
        )
    except Exception as exc:  # noqa: BLE001 - hub/IO errors come in many types; all mean "not here"
        raise _unavailable("Stable Diffusion", source, exc) from exc
    expected = pipe.text_encoder.config.vocab_size  # 49408 for SD 1.x
    if len(pipe.tokenizer) != expected:
        raise ModelUnavailable(
            f"The CLIP tokenizer of {source} has {len(pipe.tokenizer)} tokens instead of "
            f"{expected}: its tokenizer files are missing (a partial download?). "
            f"Download the model again: `{download_command(source)}`."
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _load_clap(source: str):
    from transformers import ClapModel, ClapProcessor

    try:
        model = ClapModel.from_pretrained(source).eval()
        processor = ClapProcessor.from_pretrained(source)
    except Exception as exc:  # noqa: BLE001
        raise _unavailable("CLAP", source, exc) from exc
    tokenizer = processor.tokenizer
    if len(tokenizer) != model.config.text_config.vocab_size:  # 50265 for LAION-CLAP
        raise ModelUnavailable(
            f"The CLAP tokenizer of {source} has only {len(tokenizer)} tokens: its tokenizer files "
            f"are missing. Download it again: `{hf_command()} download {source}`."
        )
    return model, processor.feature_extractor, tokenizer


def load_models(spec: ModelSpec | str, device: str | None = None, dtype: torch.dtype | None = None) -> ModelBundle:
    """Load SD + CLAP for a spec onto a device. CLAP stays fp32 (small, and its ranking is what matters)."""
    from .tiny import tiny_clap, tiny_sd_pipeline

    spec = resolve_spec(spec) if isinstance(spec, str) else spec
    device = device or default_device()
    dtype = dtype or default_dtype(device)
    if spec.tiny:
        pipe = tiny_sd_pipeline()
        if dtype != torch.float32:
            pipe.to(dtype=dtype)
        clap_model, clap_features, clap_tokenizer = tiny_clap()
    else:
        assert spec.sd_source and spec.clap_source
        problems: list[ModelUnavailable] = []
        pipe = clap = None
        try:
            pipe = _load_sd(spec.sd_source, dtype)
        except ModelUnavailable as exc:  # still try CLAP: a user should learn of both in one go
            problems.append(exc)
        try:
            clap = _load_clap(spec.clap_source)
        except ModelUnavailable as exc:
            problems.append(exc)
        if problems:
            raise _all_unavailable(problems)
        clap_model, clap_features, clap_tokenizer = clap
    pipe.to(device)
    clap_model.to(device)
    preview_vae, note = load_preview_vae(spec, device, dtype)
    return ModelBundle(spec, pipe, clap_model, clap_features, clap_tokenizer, device, dtype, preview_vae, note)


def _taesd_missing(source: str, exc: Exception) -> str:
    """Why TAESD did not load, and what to do: a folder named by TAESD_ENV is not the Hub's cache."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return f"TAESD in {source} cannot be read ({type(exc).__name__}): check the folder {TAESD_ENV} names"
    if names_a_folder(source):
        return f"{TAESD_ENV} names {source}, which is not a folder"
    return f"TAESD not in the cache: `{hf_command()} download {source}` to use it"


def load_preview_vae(spec: ModelSpec, device: str, dtype: torch.dtype, cache_dir: str | None = None) -> tuple[Any, str]:
    """(TAESD as diffusers' AutoencoderTiny, "") from the local Hugging Face cache (never a download:
    it is an optional speed-up), or (None, why not). The tiny spec has a tiny random-weight one."""
    from .tiny import tiny_preview_vae

    if spec.tiny:
        vae = tiny_preview_vae()
    else:
        from diffusers import AutoencoderTiny

        source = os.environ.get(TAESD_ENV, TAESD_HUB_ID)
        try:
            vae = AutoencoderTiny.from_pretrained(source, torch_dtype=dtype, local_files_only=True, cache_dir=cache_dir)
        except Exception as exc:  # noqa: BLE001 - not cached / unreadable: previews keep the full VAE
            return None, _taesd_missing(source, exc)
    vae = vae.to(device)
    return (vae if vae.dtype == dtype else vae.to(dtype=dtype)).eval(), ""
