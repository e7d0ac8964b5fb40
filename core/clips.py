"""Finding the clip (and the trained checkpoint) a PNG was made from on this machine.

A shared PNG names its clip by file name and content hash only (GenerationParams.shareable), so
no folder of the machine that made it leaks. Reproducing looks for a file of that name whose
content has that hash in the places the caller knows (the PNG's folder, the working folder, the
bundled samples; the studio adds its uploads, which are stored under the hash's first 16 hex
digits, and the folders of the operator's audio library that hold a file of that name), and
otherwise asks for the clip. A trained checkpoint is named by its run
('city/final', core/train/layout.py): it is looked for in those places and one folder down
(`runs/city/final`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from .audio import AudioError, file_sha256
from .params import GenerationParams, clip_name
from .train.layout import checkpoint_name

UPLOAD_DIGITS = 16  # studio uploads live in <uploads>/<first 16 hex of sha256>/<name>


def _candidates(name: str, sha256: str | None, places: Iterable[Path]) -> Iterable[Path]:
    from .export import sanitize_filename

    for place in places:
        yield place / name
        try:  # the studio stores an upload under a safe name ('my clip (1).wav' as 'my_clip_1_.wav')
            yield from sorted(p for p in place.iterdir() if p.name != name and sanitize_filename(p.name, "") == name)
        except OSError:
            pass
        if sha256:
            folder = place / sha256[:UPLOAD_DIGITS]
            yield folder / name
            if folder.is_dir():  # the same content uploaded under another name
                yield from sorted(p for p in folder.iterdir() if p.name != name)


def find_clip(name: str, sha256: str | None, places: Iterable[Path]) -> Path | None:
    """The first file in `places` named `name` (or stored under its hash) with that content."""
    for path in _candidates(clip_name(name), sha256, places):
        try:
            if path.is_file() and (sha256 is None or file_sha256(path) == sha256):
                return path.resolve()
        except OSError:
            continue
    return None


def namesake(name: str, places: Iterable[Path]) -> Path | None:
    """A file in `places` (or one folder down, where uploads are kept by hash) with the clip's name,
    whatever its content: when `find_clip` found none with the recorded sound, this says that a
    file of that name is here, with other sound."""
    name = clip_name(name)
    for place in places:
        for path in [place / name, *sorted(place.glob(f"*/{glob.escape(name)}"))]:
            if path.is_file():
                return path
    return None


WALK_LIMIT = 20_000  # entries `folders_holding` looks at per search: a bounded wait in a large library


def folders_holding(name: str, roots: Iterable[Path], limit: int = WALK_LIMIT) -> list[Path]:
    """The folders at any depth under `roots` that hold a file named like the clip `name`, for
    `find_clip` to check by hash: an audio library is a tree, and the PNG names no folder. The
    walk looks at `limit` entries at most (symlinked folders are not followed), so a recall in a
    huge library costs a bounded time; a clip beyond it is then asked for, as one not here."""
    name, seen, found = clip_name(name), 0, []
    for root in roots:
        for folder, dirs, files in os.walk(root, onerror=lambda _err: None):
            dirs.sort()
            seen += len(dirs) + len(files)
            if name in files:
                found.append(Path(folder))
            if seen >= limit:
                return found
    return found


CLI_HINT = "pass it with --audio FILE (or put it next to the PNG)"


def locate_clip(params: GenerationParams, places: Iterable[Path], hint: str = CLI_HINT) -> GenerationParams:
    """`params` with its clip resolved to a file here. A path that exists with the recorded sound
    is kept; otherwise (a bare name, or a namesake in the working folder with other sound) the clip
    is looked for by name and hash in `places`. Not found: an existing path is kept (the engine
    then says its sound differs), else an AudioError says which clip (name and hash) to pass."""
    path = params.audio_path
    if path is None:
        return params
    here = Path(path).expanduser()
    if here.is_file() and _has_sound(here, params.audio_sha256):
        return params
    found = find_clip(path, params.audio_sha256, places)
    if found is not None:
        return params.replace(audio_path=str(found))
    if here.is_file():
        return params
    digest = f" (sha256 {params.audio_sha256[:12]}…)" if params.audio_sha256 else ""
    raise AudioError(f"the clip this image was made from, {clip_name(path)}{digest}, is not here: {hint}.")


def _has_sound(path: Path, sha256: str | None) -> bool:
    try:
        return sha256 is None or file_sha256(path) == sha256
    except OSError:
        return False


CHECKPOINT_HINT = "pass it with --checkpoint FOLDER"


def find_checkpoint(name: str, places: Iterable[Path], sha256: str | None = None) -> Path | None:
    """The first checkpoint folder `<place>/<name>` or `<place>/<folder>/<name>` (one level down)
    whose weights have the hash `sha256`; with no such copy, the first of that name (the engine
    then says its weights changed)."""
    from .projector import CONFIG_FILE  # torch loads here, not at import

    name = checkpoint_name(name)
    if not name or ".." in name.split("/"):  # a PNG's name never leads above the places searched
        return None
    first = None
    for place in places:
        try:
            below = sorted(p for p in place.iterdir() if p.is_dir()) if place.is_dir() else []
        except OSError:
            continue
        for folder in (place, *below):
            if not (folder / name / CONFIG_FILE).is_file():
                continue
            found = (folder / name).resolve()
            if _holds(found, sha256):
                return found
            first = first or found
    return first


def _holds(folder: Path, sha256: str | None) -> bool:
    """The checkpoint in `folder` has the recorded weights (any, when none were recorded)."""
    from .projector import ProjectorError, checkpoint_sha256

    try:
        return sha256 is None or checkpoint_sha256(folder) == sha256
    except ProjectorError:  # a file that cannot be read: loading it says so
        return False


def locate_checkpoint(
    params: GenerationParams, places: Iterable[Path], hint: str = CHECKPOINT_HINT
) -> GenerationParams:
    """`params` with its trained checkpoint resolved to a folder here (a folder that exists is
    kept unless its weights are not the recorded ones and a copy among `places` is); not found, a
    ProjectorError says which run to pass."""
    from .projector import ProjectorError

    folder, sha = params.checkpoint, params.checkpoint_sha256
    if params.mode != "trained" or not folder:
        return params
    here = Path(folder).expanduser()
    if here.is_dir():  # e.g. city/final from the folder holding the run: kept unless a copy has the weights
        if _holds(here, sha):
            return params
        found = find_checkpoint(folder, places, sha)
        return params.replace(checkpoint=str(found)) if found is not None and _holds(found, sha) else params
    found = find_checkpoint(folder, places, sha)
    if found is None:
        raise ProjectorError(f"the checkpoint this image was made with, {checkpoint_name(folder)}, is not here: {hint}")
    return params.replace(checkpoint=str(found))
