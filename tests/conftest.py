"""Shared test set-up: offline, deterministic, tiny models.

Every test runs with the hub switched off (a miss would otherwise cost ~23 s of retries) and with
a numba cache, so librosa's JIT compiles once per machine rather than once per process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
os.environ.setdefault("CLAP2DIFF_MODELS", "tiny")
# One torch thread: the e2e server and CLI subprocesses run beside the test process on 2 cores,
# and oversubscribed torch threads made the tiny models ~40x slower there (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_engine():
    """One tiny engine for the whole session: models load once, as in the studio."""
    from core.engine import Engine

    return Engine("tiny")


@pytest.fixture(scope="session")
def samples() -> dict[str, Path]:
    from core.samples import sample_paths

    return sample_paths()


@pytest.fixture
def tiny_params(samples):
    """Small, fast generation parameters on a sample clip."""
    from core.params import GenerationParams

    return GenerationParams(
        prompt="a city", audio_path=str(samples["thunder"]), steps=10, width=64, height=64, models="tiny", seed=7
    )


@pytest.fixture(scope="session")
def train_bundle():
    """Tiny models for the training tests (their own: training installs adapters on the UNet)."""
    from core.models import load_models

    return load_models("tiny", "cpu")


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> Path:
    """A six-row synthetic dataset (real WAV, PNG and JPEG files); its feature cache fills on first use."""
    from tests.train_helpers import make_dataset

    return make_dataset(tmp_path_factory.mktemp("train-data"))
