"""One atomic write: `core.export.atomic.atomic_write` is the only place that renames a file into
place, and every writer of the project (PNGs, ZIPs, WAVs, checkpoints, uploads, samples) uses it."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import pytest

from core.export.atomic import TEMP_PATTERN, atomic_write, temp_path

ROOT = Path(__file__).resolve().parents[1]
ATOMIC = ROOT / "core" / "export" / "atomic.py"
SOURCE_DIRS = ("core", "studio", "pages", "bench", "assets", "scripts")
# A rename into place, or a write that is not atomic (temp files by hand, write_bytes/write_text).
FORBIDDEN = re.compile(r"\bos\.(replace|rename|renames)\(|\.rename\(|shutil\.move\(|\.write_(bytes|text)\(|mkstemp\(")
# Not output files: a scratch copy handed to a decoder and deleted right after.
ALLOWED = {("core/audio_decode.py", "mkstemp(")}


def _python_files() -> list[Path]:
    return [p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py")) if ".venv" not in p.parts]


def test_nothing_but_atomic_write_renames_or_writes_files():
    found = []
    for path in _python_files():
        if path == ATOMIC:
            continue
        rel = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = FORBIDDEN.search(line)
            if match and (rel, match.group(0)) not in ALLOWED and not line.lstrip().startswith("#"):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "write through core.export.atomic.atomic_write instead:\n" + "\n".join(found)


def test_atomic_write_replaces_whole_files_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    assert atomic_write(target, b"first") == target
    assert atomic_write(target, b"second") == target
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["out.bin"]  # no temp file left behind
    if os.name == "posix":
        umask = os.umask(0o022)
        os.umask(umask)
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_temp_names_are_unique_and_recognisable(tmp_path):
    names = {temp_path(tmp_path / "clip.wav").name for _ in range(100)}
    assert len(names) == 100
    assert all(TEMP_PATTERN.match(n) and n.startswith(".clip.wav.") for n in names)
    assert not TEMP_PATTERN.match("clip.wav") and not TEMP_PATTERN.match(".clip.wav.tmp")


def test_two_writers_of_one_file_never_share_a_temp_file(tmp_path):
    """Two studio sessions saving the same upload at once: both succeed, the file is whole."""
    from studio import uploads

    data = os.urandom(1 << 20)
    target = tmp_path / "same.wav"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(5):
                atomic_write(target, data)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and target.read_bytes() == data
    assert os.listdir(tmp_path) == ["same.wav"]
    assert uploads.save_upload  # uploads write through atomic_write (the grep above holds it to that)


@pytest.mark.parametrize("name", ["projector", "stems"])
def test_writers_leave_normal_files(tmp_path, name):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    if name == "projector":
        from core.projector import AudioProjector, ProjectorConfig, save_projector

        config = ProjectorConfig(input_dim=8, hidden_dim=8, expand_dim=16, output_dim=8, layers=1, heads=2)
        written = list(save_projector(AudioProjector(config), tmp_path).iterdir())
    else:
        import numpy as np

        from core.audio import AudioClip
        from core.sources import save_stems, split_sources

        wave = np.sin(np.linspace(0, 200, 16000, dtype=np.float32))[None]
        clip = AudioClip(wave, 16000, "0" * 64, "tone")
        written = save_stems(split_sources(clip, "bands"), tmp_path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert written and all(stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask for p in written)
    assert not [p for p in tmp_path.iterdir() if TEMP_PATTERN.match(p.name)]


def test_the_folder_is_synced_after_the_rename(tmp_path, monkeypatch):
    """The rename is durable only once the folder's entry is on disk: the file is synced before the
    rename, its folder after it."""
    synced: list[tuple[str, bool]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file", (tmp_path / "a.png").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", lambda *a: (synced.append(("replace", False)), real_replace(*a))[1])
    atomic_write(tmp_path / "a.png", b"png")
    assert synced == [("file", False), ("replace", False), ("folder", True)]


def test_a_folder_that_cannot_be_synced_still_gets_the_file(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def no_folder_sync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")  # what some file systems answer for a folder
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_folder_sync)
    assert atomic_write(tmp_path / "a.png", b"png").read_bytes() == b"png"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_a_finished_folder_is_published_whole_or_left_for_its_writer(tmp_path):
    """publish_folder: into an absent or empty target, all at once; a target another writer filled
    gives False and leaves the work folder (the caller removes it); anything else is an error."""
    from core.export.atomic import publish_folder

    def work(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        atomic_write(folder / "a.txt", name.encode())
        return folder

    assert publish_folder(work("w1"), tmp_path / "out") and (tmp_path / "out" / "a.txt").read_bytes() == b"w1"
    (tmp_path / "empty").mkdir()
    assert publish_folder(work("w2"), tmp_path / "empty") and (tmp_path / "empty" / "a.txt").read_bytes() == b"w2"
    assert not publish_folder(work("w3"), tmp_path / "out")  # filled by another writer first: kept as it is
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"w1" and (tmp_path / "w3" / "a.txt").is_file()
    atomic_write(tmp_path / "file", b"x")
    with pytest.raises(NotADirectoryError):
        publish_folder(tmp_path / "w3", tmp_path / "file")
