"""File names and ZIPs: readable, safe names, and archives whose manifest lists every file's params."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.params import GenerationParams

from .atomic import atomic_write
from .formats import FORMAT_VERSION, MANIFEST_FORMAT, MANIFEST_NAME, PNG_SIGNATURE, ExportError
from .metadata import read_metadata

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}


def ascii_slug(text: str, max_len: int, sep: str = "-") -> str:
    """`text` as lower-case ASCII words joined by `sep`, cut at a word within `max_len`: for file names."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", sep, text).strip(sep)
    if len(slug) > max_len:
        cut = slug[:max_len]
        slug = cut.rsplit(sep, 1)[0] if sep in cut[max_len // 2 :] else cut
    return slug.strip(sep)


def default_filename(params: GenerationParams) -> str:
    """`clap2diff_<seed>_<prompt slug>_<params hash>.png`: readable, and distinct per parameter set.

    The slug falls back to the audio file name (then "image") when the prompt has no ASCII words;
    the 6-hex hash keeps two images of one seed and prompt but different sliders apart.
    """
    slug = ascii_slug(params.prompt, 40)
    if not slug and params.audio_path:
        slug = ascii_slug(Path(re.split(r"[\\/]", params.audio_path)[-1]).stem, 40)
    digest = hashlib.sha256(params.to_json().encode("utf-8")).hexdigest()[:6]
    return f"clap2diff_{params.seed}_{slug or 'image'}_{digest}.png"


def sanitize_filename(name: str, default: str = "image.png") -> str:
    """A safe flat file name: no folders, no '..', ASCII letters/digits/._- only, ≤ 100 chars."""
    name = re.split(r"[\\/]", str(name))[-1]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._ ")
    if not name:
        return default
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10]
    stem = stem[: 100 - len(ext) - 1] if ext else name[:100]
    if stem.lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return f"{stem}.{ext}" if ext else stem


def _unique(name: str, taken: set[str]) -> str:
    if name.lower() not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    i = 2
    while True:
        candidate = f"{stem}_{i}.{ext}" if ext else f"{stem}_{i}"
        if candidate.lower() not in taken:
            return candidate
        i += 1


def zip_bytes(items: Sequence[tuple[str, bytes]]) -> bytes:
    """A ZIP of (file name, PNG bytes) plus a `params.json` manifest of every file's metadata.

    Names are sanitised and de-duplicated (the manifest lists the names as stored). A PNG without
    readable CLAP2Diff metadata is still stored, with `metadata: null` and the reason in `error`;
    other files (not PNG, not named .png: e.g. stems as WAV) are stored with `metadata: null` and no error.
    """
    taken = {MANIFEST_NAME}
    entries: list[dict[str, Any]] = []
    buf = io.BytesIO()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for raw_name, data in items:
            name = _unique(sanitize_filename(raw_name), taken)
            taken.add(name.lower())
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED  # PNG data is already deflated
            info.external_attr = 0o644 << 16
            zf.writestr(info, bytes(data))
            entry: dict[str, Any] = {"file": name}
            if bytes(data[:8]) != PNG_SIGNATURE and not name.lower().endswith(".png"):
                entry["metadata"] = None  # not meant as an image (e.g. a stem's WAV): nothing to read back
            else:
                try:
                    entry["metadata"] = read_metadata(bytes(data))
                except ExportError as exc:
                    entry["metadata"] = None
                    entry["error"] = str(exc)
            entries.append(entry)
        manifest = {"format": MANIFEST_FORMAT, "version": FORMAT_VERSION, "files": entries}
        info = zipfile.ZipInfo(MANIFEST_NAME, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return buf.getvalue()


def write_zip(items: Sequence[tuple[str, bytes]], path: str | Path) -> Path:
    """zip_bytes written atomically to `path` (parent folders created)."""
    return atomic_write(path, zip_bytes(items))


__all__ = ["ascii_slug", "default_filename", "sanitize_filename", "write_zip", "zip_bytes"]
