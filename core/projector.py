"""CLAP embedding -> audio tokens in SD's text-token space.

ZeroShotProjector (training-free, the default): CLAP ranks a vocabulary of sound events against the
clip; the top-k events' visual phrases, most confident first, go through SD's own CLIP text
encoder. The tokens of each phrase are weighted by its confidence relative to the top one, so the
temperature matters: a low temperature keeps only the dominant sound, a high one lets the others in.
Most-confident-first ordering makes the seed's positional split (35/21/21) put the dominant sound
in the foreground slice; the padding tokens after the last phrase (CLIP's summary of the whole
sentence) fall in the ambience slice.

AudioProjector (trained, the seed's architecture): Conv1D(in->768), Deconv1D(-> 77 x expand),
Conv1D(-> 768), 4 transformer blocks with self-attention. Saved as safetensors + JSON config.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .export.atomic import atomic_write
from .params import TOKENS, GenerationParams
from .trace import HeardLabel
from .train.layout import checkpoint_name
from .vocabulary import Vocabulary, clap_prompt

EncodeText = Callable[[str], torch.Tensor]  # prompt -> (1, 77, D) SD text tokens
CountTokens = Callable[[str], int]  # prompt -> number of tokens without BOS/EOS


class ProjectorError(UserError, ValueError):
    """A projector checkpoint is missing, malformed or does not fit the models; says which."""


# --------------------------------------------------------------------------------------------
# Zero-shot
# --------------------------------------------------------------------------------------------
class ZeroShotProjector:
    """What CLAP hears, drawn with the SD text encoder. Needs no training, only public weights."""

    def __init__(self, clap, vocabulary: Vocabulary, encode_text: EncodeText, count_tokens: CountTokens):
        self.clap = clap
        self.vocabulary = vocabulary
        self.encode_text = encode_text
        self.count_tokens = count_tokens
        self._label_matrix: torch.Tensor | None = None

    def label_embeddings(self) -> torch.Tensor:
        """(V, dim) CLAP text embeddings of every vocabulary label, computed once."""
        if self._label_matrix is None:
            self._label_matrix = self.clap.embed_text([clap_prompt(e) for e in self.vocabulary.events])
        return self._label_matrix

    def hear(self, audio_embedding: torch.Tensor, top_k: int, temperature: float) -> list[HeardLabel]:
        """Top-k sound events, most confident first; weights = softmax(logit_scale * cos / T) over them.

        Only events whose phrases fit SD's 75 text tokens are kept (the most confident always is):
        a label reported as heard always reaches the UNet."""
        sims = self.label_embeddings() @ audio_embedding.float().reshape(-1)
        top = torch.topk(sims, min(top_k, sims.numel()))
        events = [self.vocabulary.events[i] for i in top.indices.tolist()]
        kept = 1
        while kept < len(events) and self.count_tokens(", ".join(e.phrase for e in events[: kept + 1])) <= TOKENS - 2:
            kept += 1
        values = top.values[:kept]
        weights = torch.softmax(values * self.clap.logit_scale / temperature, dim=0)
        return [
            HeardLabel(e.label, e.phrase, e.category, float(w), float(sim))
            for e, w, sim in zip(events, weights.tolist(), values.tolist())
        ]

    @staticmethod
    def phrase_prompt(heard: list[HeardLabel]) -> str:
        return ", ".join(h.phrase for h in heard)

    def tokens(self, heard: list[HeardLabel]) -> torch.Tensor:
        """(1, 77, D): the phrases as one prompt, each phrase's tokens x (its weight / top weight)."""
        prompt = self.phrase_prompt(heard)
        tokens = self.encode_text(prompt).clone()
        top = max(h.weight for h in heard)
        start = 0
        for j, h in enumerate(heard):
            end = min(self.count_tokens(self.phrase_prompt(heard[: j + 1])), TOKENS - 2)
            if end > start:  # +1: position 0 is the BOS token
                tokens[:, 1 + start : 1 + end] *= h.weight / top
            start = end
        return tokens


# --------------------------------------------------------------------------------------------
# Trained (seed architecture)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectorConfig:
    input_dim: int = 512  # LAION-CLAP joint embedding (the seed used the 1024-d audio branch)
    hidden_dim: int = 768  # seed: Conv1D(1024 -> 768)
    expand_dim: int = 3072  # seed: Deconv1D(768 -> 77 x 3072)
    output_dim: int = 768  # SD 1.x cross-attention width
    tokens: int = TOKENS
    layers: int = 4  # seed: 4x TransformerBlock with self-attention
    heads: int = 8

    @classmethod
    def from_dict(cls, data: dict) -> ProjectorConfig:
        if not isinstance(data, dict):
            raise ProjectorError("projector config must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProjectorError(f"projector config has unknown keys: {', '.join(unknown)}")
        try:
            config = cls(**{k: int(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ProjectorError(f"projector config is malformed: {exc}") from None
        return config.check()

    def check(self) -> ProjectorConfig:
        """Reject shapes the architecture cannot build, with the field named."""
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise ProjectorError(f"projector config: {name} must be at least 1 (got {getattr(self, name)})")
        if self.tokens != TOKENS:
            raise ProjectorError(f"projector config: tokens must be {TOKENS} (SD's context length), got {self.tokens}")
        if self.expand_dim % self.hidden_dim:
            raise ProjectorError(
                f"projector config: expand_dim {self.expand_dim} is not a multiple of hidden_dim {self.hidden_dim}"
            )
        if self.output_dim % self.heads:
            raise ProjectorError(
                f"projector config: output_dim {self.output_dim} is not divisible by heads {self.heads}"
            )
        return self


class AudioProjector(nn.Module):
    """(B, input_dim) CLAP embedding -> (B, 77, output_dim) audio tokens."""

    def __init__(self, config: ProjectorConfig = ProjectorConfig()):
        super().__init__()
        self.config = config
        c = config
        self.conv_in = nn.Conv1d(c.input_dim, c.hidden_dim, kernel_size=1)
        # Depthwise-grouped transposed conv: 1 position -> `tokens` positions. The seed's dense
        # 768 -> 77x3072 deconvolution would hold 180 M weights; grouping keeps its shape at 0.2 M.
        self.deconv = nn.ConvTranspose1d(c.hidden_dim, c.expand_dim, kernel_size=c.tokens, groups=c.hidden_dim)
        self.conv_out = nn.Conv1d(c.expand_dim, c.output_dim, kernel_size=1)
        layer = nn.TransformerEncoderLayer(
            d_model=c.output_dim, nhead=c.heads, dim_feedforward=4 * c.output_dim, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers=c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.output_dim)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(embedding.unsqueeze(-1))  # (B, hidden, 1)
        x = self.deconv(x)  # (B, expand, tokens)
        x = self.conv_out(x).transpose(1, 2)  # (B, tokens, output)
        return self.norm(self.blocks(x))


WEIGHTS_FILE = "projector.safetensors"
CONFIG_FILE = "config.json"
ADAPTERS_FILE = "adapters.safetensors"


def checkpoint_identity(folder: str | Path | None) -> tuple | None:
    """What makes a checkpoint the same one: its folder and each file's size and mtime. Caches key
    on this rather than the path, so a checkpoint re-saved in place is loaded again."""
    if not folder:
        return None
    folder = Path(folder).expanduser().resolve()
    files = []
    for name in (CONFIG_FILE, WEIGHTS_FILE, ADAPTERS_FILE):
        try:
            stat = (folder / name).stat()
            files.append((name, stat.st_size, stat.st_mtime_ns))
        except OSError:
            files.append((name, None, None))
    return (str(folder), *files)


def checkpoint_sha256(folder: str | Path | None) -> str | None:
    """SHA-256 over a checkpoint's files (config, projector, adapters when present), each by name,
    size and content: what a PNG records, so that reproducing refuses other weights under the same
    run name (a run trained again). Hashed once per saved version (keyed on checkpoint_identity).
    None when the folder holds no projector: loading it says what is missing."""
    identity = checkpoint_identity(folder)
    if identity is None or any(size is None for name, size, _ in identity[1:] if name != ADAPTERS_FILE):
        return None
    return _files_sha256(identity)


@functools.lru_cache(maxsize=32)
def _files_sha256(identity: tuple) -> str:
    folder, sha = Path(identity[0]), hashlib.sha256()
    for name, size, _ in identity[1:]:
        if size is None:
            continue
        sha.update(f"{name}\0{size}\0".encode())
        try:
            with open(folder / name, "rb") as f:
                while block := f.read(1 << 20):
                    sha.update(block)
        except OSError as exc:
            raise ProjectorError(f"{folder / name} cannot be read ({exc})") from None
    return sha.hexdigest()


def verified_checkpoint(params: GenerationParams) -> GenerationParams:
    """`params` with its checkpoint's hash recorded (trained mode; no checkpoint at all otherwise:
    a zero-shot image's PNG names no run it did not use), or a ProjectorError when the hash it
    carries names other weights than the folder holds now."""
    if params.mode != "trained":
        return params.replace(checkpoint=None, checkpoint_sha256=None)
    if not params.checkpoint:
        return params.replace(checkpoint_sha256=None)
    digest = checkpoint_sha256(params.checkpoint)
    if digest is None:
        return params  # loading the projector says what the folder lacks
    if params.checkpoint_sha256 and params.checkpoint_sha256 != digest:
        raise ProjectorError(
            f"{checkpoint_name(params.checkpoint)} is not the checkpoint this image was made with (its weights "
            "changed since, e.g. the run was trained again): reproduce with the original run, or choose the "
            "checkpoint again to make a new image with these weights"
        )
    return params.replace(checkpoint_sha256=digest)


def save_projector(projector: AudioProjector, folder: str | Path) -> Path:
    """Write config.json + projector.safetensors into `folder`, each atomically."""
    from safetensors.torch import save

    folder = Path(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in projector.state_dict().items()}
    atomic_write(folder / CONFIG_FILE, json.dumps(asdict(projector.config), indent=2).encode("utf-8"))
    atomic_write(folder / WEIGHTS_FILE, save(state))
    return folder


def load_projector(folder: str | Path, input_dim: int | None = None, output_dim: int | None = None) -> AudioProjector:
    """Load and check a checkpoint folder; every failure is a ProjectorError that says what is wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not folder.is_dir():
        raise ProjectorError(
            f"projector checkpoint folder {folder} does not exist (a trained run's final/ holds {CONFIG_FILE} + "
            f"{WEIGHTS_FILE})"
        )
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ProjectorError(
                f"projector checkpoint {folder} has no {path.name} (expected {CONFIG_FILE} + {WEIGHTS_FILE})"
            )
    try:
        config = ProjectorConfig.from_dict(json.loads(config_path.read_text()))
    except json.JSONDecodeError as exc:
        raise ProjectorError(f"{config_path} is not valid JSON ({exc})") from None
    if input_dim is not None and config.input_dim != input_dim:
        raise ProjectorError(f"projector expects {config.input_dim}-d CLAP embeddings, this CLAP gives {input_dim}-d")
    if output_dim is not None and config.output_dim != output_dim:
        raise ProjectorError(f"projector makes {config.output_dim}-d tokens, this UNet wants {output_dim}-d")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ProjectorError(f"{weights_path} is not a readable safetensors file ({exc})") from None
    try:
        projector = AudioProjector(config)
    except (ValueError, RuntimeError) as exc:
        raise ProjectorError(f"projector config {config_path} cannot be built: {exc}") from None
    expected = projector.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ProjectorError(
            f"{weights_path} does not match the projector architecture: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    wrong = [
        f"{k}: {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape
    ]
    if wrong:
        raise ProjectorError(f"{weights_path} has tensors of the wrong shape: {'; '.join(wrong[:3])}")
    projector.load_state_dict(state)
    return projector.eval()
