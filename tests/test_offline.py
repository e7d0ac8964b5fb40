"""No test can reach a model hub: conftest switches offline mode on whatever the shell says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_hub_call_is_refused_without_touching_the_network():
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE is True
    with pytest.raises(OfflineModeIsEnabled):
        HfApi().model_info("stable-diffusion-v1-5/stable-diffusion-v1-5")


def test_conftest_overrides_a_shell_that_turned_offline_mode_off():
    """A shell with HF_HUB_OFFLINE=0 (or TRANSFORMERS_OFFLINE=0) still gets an offline test session."""
    code = (
        "import os, sys; sys.path.insert(0, 'tests'); import conftest; "
        "import huggingface_hub.constants as c; "
        "print(os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'], c.HF_HUB_OFFLINE)"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "True"]
