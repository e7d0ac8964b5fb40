"""Which of the server's files a studio user may name: none, unless the operator opts in.

The File-path audio source reads a file on the *server*. On a shared studio that would let any user
fetch any readable audio file, or probe whether a path exists. So it is off unless
`CLAP2DIFF_AUDIO_DIRS` names folders (separated by the OS path separator, ':' on Linux); a path is
resolved (symlinks and '..' too) before it is checked against them, and a refusal reads the same
whether or not the path exists. The CLI, run by users on their own machine, keeps full access.
"""

from __future__ import annotations

import os
from pathlib import Path

AUDIO_DIRS_ENV = "CLAP2DIFF_AUDIO_DIRS"
OFF = (
    "Reading audio files from this server is off: upload the clip instead (the operator can allow "
    f"folders with `{AUDIO_DIRS_ENV}`)."
)


def audio_dirs() -> list[Path]:
    """The folders the operator allows, resolved; empty when the File-path source is off."""
    raw = os.environ.get(AUDIO_DIRS_ENV, "")
    return [Path(d).expanduser().resolve() for d in raw.split(os.pathsep) if d.strip()]


def allowed_audio_path(raw: str) -> tuple[str | None, str | None]:
    """(the resolved path, None) when `raw` lies in an allowed folder, else (None, why not);
    (None, None) for an empty path while the source is on.

    Nothing is stat'ed before the check: the message for a path outside the folders never depends
    on whether it exists."""
    dirs = audio_dirs()
    if not dirs:
        return None, OFF
    if not raw:
        return None, None
    path = Path(os.path.expanduser(raw))
    resolved = (path if path.is_absolute() else dirs[0] / path).resolve()
    if any(resolved == d or d in resolved.parents for d in dirs):
        return str(resolved), None
    names = ", ".join(str(d) for d in dirs)
    return None, f"This studio reads audio files only inside {names}: give a path there, or upload the clip."


__all__ = ["AUDIO_DIRS_ENV", "OFF", "allowed_audio_path", "audio_dirs"]
