"""scripts/studio.sh starts Streamlit so that the operator's settings hold: Streamlit refuses an
upload over its own server.maxUploadSize (.streamlit/config.toml, 200 MB) before the studio sees
it, so a CLAP2DIFF_MAX_UPLOAD_MB above that has to reach Streamlit too (docs/OPERATIONS.md)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _streamlit_args(tmp_path: Path, **env: str) -> list[str]:
    """The arguments studio.sh hands to `.venv/bin/python` in a copy of the repository whose set-up
    is already done and whose python only writes down what it was given."""
    repo = tmp_path / "repo"
    for name in ("scripts/studio.sh", "scripts/setup.sh", "requirements.txt", ".streamlit/config.toml"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n')
    python.chmod(0o755)
    requirements = (repo / "requirements.txt").read_bytes()
    stamp = hashlib.sha256(requirements + requirements).hexdigest()[:16]  # setup.sh's: requirements.txt twice
    (repo / ".venv" / f".installed-{stamp}").touch()
    numba = tmp_path / "numba"
    numba.mkdir()
    (numba / f".warm-{stamp}").touch()
    out = tmp_path / "args.txt"
    run_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHON": sys.executable}
    run_env |= {"NUMBA_CACHE_DIR": str(numba), "ARGS_OUT": str(out), **env}
    subprocess.run(["bash", str(repo / "scripts" / "studio.sh")], env=run_env, check=True, timeout=60)
    return out.read_text().splitlines()


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("sha256sum") is None, reason="needs bash")
def test_an_upload_limit_above_streamlits_own_reaches_streamlit_and_others_do_not(tmp_path):
    plain = _streamlit_args(tmp_path / "a")
    assert plain[:3] == ["-m", "streamlit", "run"] and "--server.maxUploadSize" not in plain
    raised = _streamlit_args(tmp_path / "b", CLAP2DIFF_MAX_UPLOAD_MB=" 500 ")
    assert raised[raised.index("--server.maxUploadSize") + 1] == "500"
    for value in ("50", "200", "lots", ""):  # the config's 200 holds; the studio says the rest itself
        assert "--server.maxUploadSize" not in _streamlit_args(tmp_path / f"c{value}", CLAP2DIFF_MAX_UPLOAD_MB=value)
