"""Demucs stem separation behind a cache, and where its weights come from.

`StemSeparator` runs demucs' own `apply_model` (chunked, with overlap, progress and cancel) once
per (window, model spec); the "tiny" spec is a small random-weight HTDemucs built offline, and
pretrained names ("htdemucs", ...) are looked up in the local caches before any download.
Torch and demucs are imported lazily: bands and mix never pay for them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import AudioClip, file_sha256
from core.cancel import Cancelled
from core.params import STEMS

from .errors import UserError

ProgressFn = Callable[[int, int], None]


TINY_SPEC = "tiny"  # random weights, ~0.36 M parameters: tests and offline demos
RANDOM_HTDEMUCS_SPEC = "htdemucs-random"  # the released htdemucs architecture, random weights: benchmarks
DEFAULT_SPEC = "htdemucs"

# The released htdemucs as trained in demucs/grids/mmi.py (depth 4, dconv_mode 3, 5 transformer
# layers, 512 bottom channels) with its 7.8 s segment; HTDemucs defaults for the rest: 41.98 M
# parameters. For timing only: the weights are random.
HTDEMUCS_KWARGS: dict[str, Any] = dict(
    channels=48, depth=4, dconv_mode=3, t_layers=5, bottom_channels=512, segment=Fraction(39, 5)
)
# Small and fast, same topology. depth must stay 4 with nfft 4096: only then has the frequency
# branch collapsed to 8 bins before the transformer; at depth 2 it attends over 128 x T tokens
# (a 59 GB attention matrix for one 7.8 s chunk). A 2 s segment keeps test windows cheap and still
# exercises chunking: 10 s take 7 chunks (stride 1.5 s at 25 % overlap).
TINY_KWARGS: dict[str, Any] = dict(channels=8, depth=4, t_layers=1, t_heads=2, segment=Fraction(2))


class SeparationError(UserError, RuntimeError):
    """Stem separation cannot run. The message says why and what to do, in one sentence."""


# -- stems -----------------------------------------------------------------------------------------
class StemSeparator:
    """Demucs behind a cache: one real separation per (window, model spec), then dictionary hits.

    ``spec`` is a demucs pretrained name ("htdemucs", "htdemucs_ft", ...), ``"tiny"`` (random
    weights, offline) or ``"htdemucs-random"`` (the real architecture, random weights). The model
    loads on first use. Pretrained weights are looked up in the local Hugging Face and torch hub
    caches first; with HF_HUB_OFFLINE=1 (or allow_download=False) a miss fails at once with a
    SeparationError instead of waiting on a network that is not there.

    Runs demucs' own ``apply_model`` (chunks of the model's segment, 25 % overlap, triangular
    cross-fade) without random shifts, so the same window always gives the same stems.
    ``calls`` counts real separations (tests assert cache hits with it).
    """

    def __init__(
        self,
        spec: str = DEFAULT_SPEC,
        *,
        device: str | None = None,
        repo: str | os.PathLike | None = None,
        cache_size: int = 8,
        overlap: float = 0.25,
        allow_download: bool | None = None,
        seed: int = 0,
    ):
        self.spec = spec
        self.repo = Path(repo) if repo is not None else None
        self.cache_size = int(cache_size)
        self.overlap = float(overlap)
        self.allow_download = allow_download
        self.seed = seed
        self._device = device
        self._model: Any = None
        self._cache: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._run_lock = threading.RLock()  # guards loading and running the model
        self.calls = 0

    # -- model --------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    @property
    def model(self) -> Any:
        if self._model is None:
            self.load()
        return self._model

    @property
    def samplerate(self) -> int:
        return int(self.model.samplerate)

    @property
    def sources(self) -> list[str]:
        return list(self.model.sources)

    def load(self) -> StemSeparator:
        """Build or load the model now (otherwise it happens on the first separation)."""
        with self._run_lock:
            if self._model is None:
                if self.spec == TINY_SPEC:
                    model = build_random_htdemucs(TINY_KWARGS, seed=self.seed)
                elif self.spec == RANDOM_HTDEMUCS_SPEC:
                    model = build_random_htdemucs(HTDEMUCS_KWARGS, seed=self.seed)
                else:
                    model = load_pretrained(self.spec, repo=self.repo, allow_download=self.allow_download)
                model.eval()
                model.to(self.device)
                self._model = model
        return self

    # -- separation ---------------------------------------------------------------------------
    def cache_key(self, clip: AudioClip) -> tuple:
        return (clip.key, self.spec, self.overlap)

    def cached(self, clip: AudioClip) -> dict[str, np.ndarray] | None:
        with self._cache_lock:
            hit = self._cache.get(self.cache_key(clip))
            if hit is not None:
                self._cache.move_to_end(self.cache_key(clip))
            return hit

    def separate(
        self,
        clip: AudioClip,
        *,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, np.ndarray]:
        """stem -> stereo float32 (channels, n) at the model's rate, for the whole clip (cut it first).

        ``progress(done, total)`` is called after every chunk; ``cancel`` is checked before every
        chunk and raises Cancelled. The returned arrays are shared with the cache: read-only.
        """
        hit = self.cached(clip)
        if hit is not None:
            if progress is not None:
                progress(1, 1)
            return hit
        with self._run_lock:  # one separation at a time; a waiter usually finds the result cached
            hit = self.cached(clip)
            if hit is not None:
                if progress is not None:
                    progress(1, 1)
                return hit
            stems = self._run(clip, progress, cancel)
            self.calls += 1
            with self._cache_lock:
                self._cache[self.cache_key(clip)] = stems
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return stems

    def _run(
        self, clip: AudioClip, progress: ProgressFn | None, cancel: threading.Event | None
    ) -> dict[str, np.ndarray]:
        import torch
        from demucs.apply import apply_model

        if cancel is not None and cancel.is_set():
            raise Cancelled("separation cancelled before it started")
        model = self.model
        wav = clip.resampled(model.samplerate).to_channels(model.audio_channels)
        mix = torch.from_numpy(np.array(wav, dtype=np.float32))
        # As demucs.api.Separator: normalise by the mono reference, undo afterwards. The mean goes
        # back split evenly over the stems so that they still sum to the mix.
        ref = mix.mean(0)
        mean, std = ref.mean(), ref.std() + 1e-8
        total = _chunk_count(model, mix.shape[-1], self.overlap)
        done = 0

        def on_chunk(info: dict) -> None:
            nonlocal done
            if info.get("state") == "start":
                if cancel is not None and cancel.is_set():
                    raise Cancelled("separation cancelled")
            elif info.get("state") == "end":
                done += 1
                if progress is not None:
                    progress(min(done, total), total)

        try:
            out = apply_model(
                model,
                ((mix - mean) / std)[None],
                shifts=0,
                split=True,
                overlap=self.overlap,
                progress=False,
                device=self.device,
                callback=on_chunk,
            )
        except Cancelled:
            raise
        except torch.cuda.OutOfMemoryError as exc:
            raise SeparationError(
                f"Demucs ran out of GPU memory on {clip.name}: use a shorter window or the CPU."
            ) from exc
        except RuntimeError as exc:
            raise SeparationError(f"Demucs failed on {clip.name} ({_short(exc)}): try sources='bands'.") from exc
        out = (out[0] * std + mean / len(model.sources)).to("cpu", torch.float32).numpy()
        stems = {}
        for i, name in enumerate(model.sources):
            arr = np.ascontiguousarray(out[i])
            arr.flags.writeable = False
            stems[name] = arr
        if progress is not None and done < total:
            progress(total, total)
        return stems


def _chunk_count(model: Any, length: int, overlap: float) -> int:
    """How many chunks apply_model(split=True, shifts=0) will run: for the progress bar's total."""
    members = getattr(model, "models", None) or [model]
    total = 0
    for member in members:
        segment = int(member.samplerate * member.segment)
        stride = max(1, int((1 - overlap) * segment))
        total += len(range(0, length, stride))
    return max(1, total)


def build_random_htdemucs(kwargs: Mapping[str, Any], seed: int = 0, sources: Iterable[str] = STEMS) -> Any:
    """An HTDemucs with random weights from a fixed seed (global torch RNG left untouched)."""
    import torch
    from demucs.htdemucs import HTDemucs

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(sources=list(sources), samplerate=44100, audio_channels=2, **kwargs)
    return model.eval()


# -- pretrained loading ----------------------------------------------------------------------------
def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def _torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _load_from_hf_cache(name: str) -> Any | None:
    """demucs.hf.get_hf_model without the network: the bag yaml and its safetensors, if all cached."""
    import yaml
    from demucs.apply import BagOfModels
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
    from huggingface_hub import try_to_load_from_cache

    namespace, base = name.split("/", 1) if "/" in name else (DEFAULT_NAMESPACE, name)
    repo_id = f"{namespace}/{hf_repo_name(base)}"
    cache = _hf_cache_dir()
    bag_file = try_to_load_from_cache(repo_id, f"{base}.yaml", cache_dir=cache)
    if not isinstance(bag_file, str):
        return None
    bag = yaml.safe_load(Path(bag_file).read_text())
    files = [try_to_load_from_cache(repo_id, f"{sig}.safetensors", cache_dir=cache) for sig in bag["models"]]
    if not all(isinstance(f, str) for f in files):
        return None
    models = [load_safetensors_model(f) for f in files]
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


def _legacy_files(name: str) -> dict[str, Path] | None:
    """sig -> expected torch hub cache file for a demucs name from its bundled remote list."""
    import yaml
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

    urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
    if name in urls:
        sigs = [name]
    elif (REMOTE_ROOT / f"{name}.yaml").is_file():
        sigs = list(yaml.safe_load((REMOTE_ROOT / f"{name}.yaml").read_text())["models"])
    else:
        return None
    hub = _torch_hub_checkpoints()
    return {sig: hub / urls[sig].rsplit("/", 1)[-1] for sig in sigs if sig in urls}


def _load_from_torch_hub_cache(name: str) -> Any | None:
    """demucs' legacy (AWS) checkpoints, if all are already in the torch hub cache.

    These are pickles that carry their model class, so demucs must torch.load them with
    weights_only=False; we verify the sha256 prefix in each file name before letting it.
    """
    files = _legacy_files(name)
    if not files or not all(p.is_file() for p in files.values()):
        return None
    for path in files.values():
        expected = path.stem.rsplit("-", 1)[-1]
        if file_sha256(path)[: len(expected)] != expected:
            raise SeparationError(
                f"The cached Demucs checkpoint {path} is damaged (checksum mismatch): delete it and download it again."
            )
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files
    from demucs.repo import AnyModelRepo, BagOnlyRepo, RemoteRepo

    model_repo = RemoteRepo(_parse_remote_files(REMOTE_ROOT / "files.txt"))
    return AnyModelRepo(model_repo, BagOnlyRepo(REMOTE_ROOT, model_repo)).get_model(name)


def load_pretrained(name: str, repo: Path | None = None, allow_download: bool | None = None) -> Any:
    """A demucs pretrained model (or bag), local caches first; SeparationError when unavailable."""
    from demucs import pretrained

    try:
        if repo is not None:
            return pretrained.get_model(name, repo=repo)
        model = _load_from_hf_cache(name)
        if model is None:
            model = _load_from_torch_hub_cache(name)
        if model is not None:
            return model
    except SeparationError:
        raise
    except (Exception, SystemExit) as exc:  # demucs' fatal() exits; a bad file raises anything
        where = f"in {repo}" if repo is not None else "in the local caches"
        raise SeparationError(
            f"The Demucs model {name!r} {where} could not be loaded ({_short(exc)}): delete its files "
            "and download it again, or use sources='bands'."
        ) from exc

    download = (not _offline()) if allow_download is None else allow_download
    if not download:
        hint = ""
        files = _legacy_files(name)
        if files:
            hint = f", or copy {', '.join(p.name for p in files.values())} into {_torch_hub_checkpoints()}"
        raise SeparationError(
            f"The Demucs model {name!r} is not available offline: run once with network access "
            f"(HF_HUB_OFFLINE unset) to download it{hint}; meanwhile use sources='bands'."
        )
    try:
        return pretrained.get_model(name)
    except (Exception, SystemExit) as exc:
        raise SeparationError(
            f"The Demucs model {name!r} could not be downloaded ({_short(exc)}): check the network "
            "or the model name, or use sources='bands'."
        ) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


_SEPARATORS: dict[tuple[str, str | None], StemSeparator] = {}
_SEPARATORS_LOCK = threading.Lock()


def get_separator(spec: str = DEFAULT_SPEC, device: str | None = None) -> StemSeparator:
    """The process-wide separator for ``spec``: one model in memory, one cache, shared by sessions."""
    with _SEPARATORS_LOCK:
        key = (spec, device)
        if key not in _SEPARATORS:
            _SEPARATORS[key] = StemSeparator(spec, device=device)
        return _SEPARATORS[key]
