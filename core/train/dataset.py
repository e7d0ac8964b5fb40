"""A training dataset: a folder with `metadata.jsonl`, one audio-image-caption pair per line.

    {"audio": "clips/0001.wav", "image": "frames/0001.jpg", "caption": "thunder over a city"}

Paths are relative to the folder (absolute ones are taken as they are); `"labels"` (a list of
strings) is optional. This is the form of the original method's data (AudioCaps: a 10 s clip,
the video's middle frame and a human caption); `python -m core prepare` writes it from videos.

Reading a dataset never fails on a bad row: the row is skipped with its reason (a line that is not
JSON, a missing field or file, an empty caption, a file that is not an image). Decoding the audio
(unreadable, silent) happens once, when its features are computed (core/train/features.py), and
adds its own skipped rows. Only a dataset with no usable row at all is an error.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

METADATA = "metadata.jsonl"


class DatasetError(UserError, ValueError):
    """The dataset cannot be used at all (no metadata file, no usable row); says what to do."""


@dataclass(frozen=True)
class Row:
    """One usable pair. `line` is its 1-based line in metadata.jsonl (how a person finds it)."""

    line: int
    audio: Path
    image: Path
    caption: str
    labels: tuple[str, ...] = ()
    audio_name: str = ""  # as written in metadata.jsonl, or the file name if absolute (never a server path in a report)


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str
    kind: str = ""  # what the reason says without its file ('audio file missing'): how a summary counts them

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"

    @classmethod
    def parse(cls, text: str) -> SkippedRow | None:
        """A row written as `str()` writes it (a run's skipped_rows.txt); None for any other text."""
        number, sep, reason = text.removeprefix("line ").partition(": ")
        return cls(int(number), reason) if text.startswith("line ") and sep and number.isdigit() else None

    @property
    def group(self) -> str:
        """The kind, else the reason up to its first detail ('not valid JSON (...)' -> 'not valid JSON')."""
        return self.kind or self.reason.split(":", 1)[0].split(" (", 1)[0]


@dataclass
class DatasetReport:
    """What a dataset folder holds: the usable rows, the skipped ones with reasons, durations."""

    folder: Path
    rows: list[Row]
    skipped: list[SkippedRow] = field(default_factory=list)
    durations: dict[int, float] = field(default_factory=dict)  # line -> seconds, from the file header

    @property
    def total_seconds(self) -> float:
        return float(sum(self.durations.get(r.line, 0.0) for r in self.rows))

    def summary(self) -> str:
        """'8 of 10 rows usable; 2 skipped: ...' (the first reasons, then counts by kind)."""
        total = len(self.rows) + len(self.skipped)
        text = f"{len(self.rows)} of {total} rows usable"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped: {skipped_text(self.skipped)}"
        return text

    def require_rows(self) -> DatasetReport:
        if not self.rows:
            total = len(self.skipped)
            detail = f": {skipped_text(self.skipped)}" if self.skipped else ""
            raise DatasetError(
                f"{self.folder.name}/{METADATA} has no usable rows ({total} skipped{detail}); "
                "fix the rows listed, or use another dataset."
            )
        return self


def skipped_text(skipped: list[SkippedRow], limit: int = 3) -> str:
    """The first `limit` skipped rows with their reasons, then how many more."""
    shown = "; ".join(str(s).rstrip(".") for s in skipped[:limit])  # a reason may end a sentence: not '.;'
    if len(skipped) > limit:
        kinds = Counter(s.group for s in skipped[limit:])
        shown += f"; and {len(skipped) - limit} more ({', '.join(f'{n}x {k}' for k, n in kinds.most_common(3))})"
    return shown


def load_dataset(folder: str | Path, check_media: bool = True) -> DatasetReport:
    """Read metadata.jsonl; every bad line becomes a SkippedRow. Raises DatasetError only when the
    folder or its metadata file is missing, or the file is not lines of JSON at all (not UTF-8, one
    JSON list). `check_media` also opens each image's header and reads each audio file's duration
    (cheap; full decoding is left to the feature pass)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder} does not exist: give a folder with {METADATA}.")
    meta = folder / METADATA
    if not meta.is_file():
        raise DatasetError(
            f"{folder.name} has no {METADATA}: write one JSON object per line with audio, image and caption "
            "(or make it from videos with `python -m core prepare`)."
        )
    try:
        lines = meta.read_text(encoding="utf-8-sig").splitlines()  # a BOM (Windows Notepad) is no part of line 1
    except UnicodeDecodeError:
        raise DatasetError(f"{folder.name}/{METADATA} is not UTF-8 text: save it as UTF-8.") from None
    _refuse_one_document(lines, f"{folder.name}/{METADATA}")
    report = DatasetReport(folder=folder, rows=[])
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        row, skipped = _parse(folder, number, text)
        if row is not None and check_media:
            skipped = _check_media(row, report)
        if skipped is not None:
            report.skipped.append(skipped)
        else:
            report.rows.append(row)
    return report


FIELDS = ("audio", "image", "caption")  # what a row needs; "labels" is optional


def _refuse_one_document(lines: list[str], name: str) -> None:
    """A JSON list (or one object over several lines) instead of an object per line: said as such,
    not as every line 'not valid JSON'."""
    filled = [line for line in lines if line.strip()]
    if not filled or (len(filled) == 1 and not filled[0].lstrip().startswith("[")):
        return
    try:
        whole = json.loads("\n".join(filled))
    except json.JSONDecodeError:
        return  # JSON Lines (or lines each judged on their own)
    kind = "list" if isinstance(whole, list) else "document"
    raise DatasetError(
        f"{name} is one JSON {kind} over {len(filled)} line(s), not one object per line: write each row on a line "
        'of its own, {"audio": ..., "image": ..., "caption": ...} (JSON Lines).'
    )


def _quoted(keys) -> str:
    return ", ".join(f'"{k}"' for k in keys)


def _parse(folder: Path, number: int, text: str) -> tuple[Row | None, SkippedRow | None]:
    def skip(reason: str, kind: str = "") -> tuple[None, SkippedRow]:
        return None, SkippedRow(number, reason, kind)

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return skip(f"not valid JSON ({exc.msg} at column {exc.colno})", "not valid JSON")
    if not isinstance(data, dict):
        return skip("not a JSON object", "not a JSON object")
    if missing := [key for key in FIELDS if key not in data]:  # a field named otherwise ("img", "text")
        has = _quoted(data) or "no fields"
        field = "field" if len(missing) == 1 else "fields"
        return skip(f"no {_quoted(missing)} {field} (the line has {has}; each line needs {_quoted(FIELDS)})",
                    "missing field")  # fmt: skip
    paths = {}
    for key in ("audio", "image"):
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            return skip(f'no "{key}" path', f"no {key} path")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else folder / path
        if not path.is_file():  # named as written, or by file name when absolute (reports are shared)
            written = Path(value).name if Path(value).is_absolute() else value
            return skip(f"{key} {written} does not exist", f"{key} file missing")
        paths[key] = path
    caption = data["caption"]
    if not isinstance(caption, str):
        shown = json.dumps(caption)[:40]
        return skip(f"the caption is not text (got {shown}): write it in double quotes", "caption not text")
    if not caption.strip():
        return skip("empty caption", "empty caption")
    labels = data.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        return skip('"labels" must be a list of strings')
    written = Path(data["audio"])  # a name for reports: as written, or the file's name when absolute
    audio_name = written.name if written.is_absolute() else data["audio"]
    return Row(number, paths["audio"], paths["image"], caption.strip(), tuple(labels), audio_name), None


def _check_media(row: Row, report: DatasetReport) -> SkippedRow | None:
    def skip(reason: str, kind: str) -> SkippedRow:
        return SkippedRow(row.line, reason, kind)

    from PIL import Image, UnidentifiedImageError

    inside = row.image.is_relative_to(report.folder)
    image_name = row.image.relative_to(report.folder).as_posix() if inside else row.image.name  # as the audio's
    try:
        im = Image.open(row.image)
    except (UnidentifiedImageError, OSError):
        reason = f"image {image_name} is not an image file (JPEG, PNG, WebP, BMP or TIFF) that can be read"
        return skip(reason, "not an image")
    except Image.DecompressionBombError:  # a row, not the run: another may be fine
        return skip(f"image {image_name} is too large to decode safely (over {2 * Image.MAX_IMAGE_PIXELS:,} pixels)",
                    "image too large")  # fmt: skip
    with im:
        if im.width < 1 or im.height < 1:
            return skip(f"image {image_name} is empty", "empty image")
        try:  # the header alone passes a file cut off after it: decode (a JPEG at 1/8 scale, cheap)
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
        except (OSError, SyntaxError, ValueError):
            reason = f"image {image_name} is damaged or incomplete (it stops before its last pixel)"
            return skip(reason, "damaged image")
    from ..audio_decode import SNDFILE_TYPES, fallback_seconds

    seconds = audio_seconds(row.audio)
    if seconds is None and row.audio.suffix.lower().lstrip(".") in SNDFILE_TYPES:  # m4a...: the feature pass decodes
        seconds = fallback_seconds(row.audio)  # what decoding falls back to (ffmpeg): only for these few
        if seconds is None:
            audio_name = row.audio.relative_to(report.folder).as_posix() if inside else row.audio.name
            suffix = row.audio.suffix.lower()
            return skip(
                f"audio {audio_name} is damaged or not audio (its {suffix} header cannot be read)", "unreadable audio"
            )
    if seconds is not None:
        report.durations[row.line] = seconds
    return None


def audio_seconds(path: Path) -> float | None:
    """Duration from the file header (no decoding); None when libsndfile cannot read the header."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - any unreadable header: the feature pass decodes and decides
        return None
    return float(info.frames) / info.samplerate if info.samplerate else None


__all__ = ["METADATA", "DatasetError", "DatasetReport", "Row", "SkippedRow", "load_dataset", "skipped_text"]
