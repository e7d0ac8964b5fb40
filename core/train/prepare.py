"""Videos + an AudioCaps/VGGSound-style CSV -> a dataset folder (`python -m core prepare`).

For each CSV row: find the local video, cut the 10 s clip from `start_time` (48 kHz mono WAV) and
take the frame at start + 5 s (the clip's middle, as the original method did), then list the pair
in metadata.jsonl with its caption. Decoding is PyAV's (FFmpeg libraries in the wheel), so no
system ffmpeg is needed; nothing is downloaded.

CSV forms understood (header names are matched case-insensitively):
- AudioCaps: `audiocap_id, youtube_id, start_time, caption`
- with a file column: `file` (or `filename`, `video`) instead of `youtube_id`
- VGGSound (no header): `youtube_id, start_seconds, label, split`

A video is found by exact relative path, by its name without extension (`<id>.mp4`, `.mkv`, ...),
or VGGSound's `<id>_<start:06d>.*`. `trimmed=True` says the files are already cut to their clips
(the clip then starts at 0 s). Resumable: a row whose WAV and JPEG exist is not cut again (both
are written atomically, so existing means complete); metadata.jsonl is rewritten atomically every
few rows and at the end. A failing row is reported with its reason and never stops the others.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import CLAP_RATE, CLAP_SECONDS, SILENCE_PEAK
from ..export.atomic import atomic_write
from ..export.wav import write_wav
from .dataset import METADATA, DatasetError, SkippedRow, skipped_text

FRAME_OFFSET = 5.0  # seconds after the clip start: the middle of a 10 s clip (seed 000)
MIN_SECONDS = 1.0  # a shorter clip is not worth a training row
FLUSH_EVERY = 25
REPORT = "prepare_report.json"
_ID_COLUMNS = ("youtube_id", "ytid", "file", "filename", "video", "video_id")
_START_COLUMNS = ("start_time", "start_seconds", "start", "start_s")
_CAPTION_COLUMNS = ("caption", "label", "text")


class PrepareError(DatasetError):
    """The CSV or the videos folder cannot be used at all."""


@dataclass(frozen=True)
class ClipRequest:
    line: int  # CSV line (1-based)
    name: str  # output file stem
    video: str  # youtube id or file name, as in the CSV
    start: float
    caption: str


@dataclass
class PrepareReport:
    written: int = 0  # rows cut now
    existing: int = 0  # rows found done from an earlier run
    failed: list[SkippedRow] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.written + self.existing} rows ready ({self.written} new, {self.existing} already there)"
        if self.failed:
            text += f"; {len(self.failed)} failed"
        return text


def read_csv(path: Path) -> tuple[list[ClipRequest], list[SkippedRow]]:
    """Rows to cut, and CSV rows that cannot be used (with reasons)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PrepareError(f"cannot read the CSV {Path(path).name}: {exc}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise PrepareError(f"the CSV {Path(path).name} is empty")
    header = [h.strip().lower() for h in rows[0]]
    if any(h in _ID_COLUMNS + _START_COLUMNS + _CAPTION_COLUMNS for h in header):
        columns = {name: i for i, name in enumerate(header)}
        id_col, start_col, cap_col, key_col = (
            next((columns[n] for n in names if n in columns), None)
            for names in (_ID_COLUMNS, _START_COLUMNS, _CAPTION_COLUMNS, ("audiocap_id", "id"))
        )
        if id_col is None or cap_col is None:
            raise PrepareError(
                f"the CSV {Path(path).name} needs a video column ({', '.join(_ID_COLUMNS)}) and a caption column "
                f"({', '.join(_CAPTION_COLUMNS)}); its columns are {', '.join(rows[0])}: rename them"
            )
        body, first = rows[1:], 2
    else:  # VGGSound: youtube_id, start_seconds, label, split
        if len(rows[0]) < 3 or not _is_number(rows[0][1]):
            raise PrepareError(
                f"the CSV {Path(path).name} has no column names prepare knows (youtube_id or file, start_time, "
                "caption) and is not VGGSound's form (youtube_id, start_seconds, label, split): name its columns."
            )
        id_col, start_col, cap_col, key_col, body, first = 0, 1, 2, None, rows, 1
    requests, bad = [], []
    width = len(rows[0])  # the header's columns (VGGSound: its first row's)
    for line, row in enumerate(body, start=first):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > width:  # an unquoted comma: the caption would be cut at it, the rest read as columns
            bad.append(SkippedRow(line, f"{len(row)} columns where the header has {width}: put a caption with a "
                                  'comma in double quotes ("a dog, barking")', "too many columns"))  # fmt: skip
            continue
        video, caption = _cell(row, id_col), _cell(row, cap_col)
        try:
            start = float(_cell(row, start_col) or 0.0)
        except ValueError:
            bad.append(SkippedRow(line, f"start time {_cell(row, start_col)!r} is not a number"))
            continue
        if not video:
            bad.append(SkippedRow(line, "no video name"))
        elif not caption:
            bad.append(SkippedRow(line, "empty caption"))
        elif start < 0:
            bad.append(SkippedRow(line, f"negative start time {start:g}"))
        else:
            stem = Path(video).stem
            default = f"{stem}_{int(start):06d}" if start == int(start) else f"{stem}_{start:.3f}"
            requests.append(ClipRequest(line, _safe(_cell(row, key_col) or default), video, start, caption))
    return requests, bad


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell(row: list[str], column: int | None) -> str:
    return row[column].strip() if column is not None and column < len(row) else ""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "clip"


def _index_videos(folder: Path) -> dict[str, Path]:
    """Every file under the folder by its name and by its name without extension."""
    index: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            index.setdefault(path.name, path)
            index.setdefault(path.stem, path)
    return index


def find_video(index: dict[str, Path], folder: Path, request: ClipRequest) -> Path | None:
    exact = folder / request.video
    if exact.is_file():
        return exact
    stem = Path(request.video).stem
    return index.get(request.video) or index.get(stem) or index.get(f"{stem}_{request.start:06.0f}")


def cut_clip(video: Path, start: float, seconds: float = CLAP_SECONDS, rate: int = CLAP_RATE) -> np.ndarray:
    """Mono float32 at `rate`: the audio of [start, start + seconds) (shorter at the end of the file)."""
    import av

    with av.open(str(video)) as container:
        if not container.streams.audio:
            raise ValueError("the video has no audio track")
        stream = container.streams.audio[0]
        if start > 0:
            container.seek(int(start * av.time_base), any_frame=False, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks, first_time = [], None
        for frame in container.decode(stream):
            if first_time is None:
                first_time = float(frame.time) if frame.time is not None else 0.0
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            if frame.time is not None and frame.time > start + seconds + 0.5:
                break
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    begin = max(0, int(round((start - (first_time or 0.0)) * rate)))
    return np.ascontiguousarray(samples[begin : begin + int(round(seconds * rate))], dtype=np.float32)


def grab_frame(video: Path, at: float):
    """The frame shown at `at` seconds (the last one when the video ends up to 1 s before), as PIL."""
    import av

    with av.open(str(video)) as container:
        if not container.streams.video:
            raise ValueError("the video has no picture track")
        stream = container.streams.video[0]
        container.seek(int(max(0.0, at - 1.0) * av.time_base), any_frame=False, backward=True)
        last = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > at + 1e-6 and last is not None:
                return last.to_image()
            last = frame
        if last is not None and (last.time is None or at - last.time <= 1.0):
            return last.to_image()
    raise ValueError(f"the video ends before {at:.1f} s")


def _jpeg_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def prepare_dataset(
    videos: str | Path,
    csv_path: str | Path,
    out: str | Path,
    trimmed: bool = False,
    limit: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> PrepareReport:
    """Cut every CSV row into DATASET/clips/<name>.wav + frames/<name>.jpg and list it in metadata.jsonl."""
    videos, out = Path(videos).expanduser(), Path(out).expanduser()
    if not videos.is_dir():
        raise PrepareError(f"--videos {videos} is not a folder: give the folder holding the downloaded videos.")
    requests, bad = read_csv(Path(csv_path).expanduser())
    if limit is not None:  # the first `limit` rows of the CSV, the bad ones among them counted
        last = max(sorted(r.line for r in [*requests, *bad])[:limit], default=0)
        requests, bad = [r for r in requests if r.line <= last], [b for b in bad if b.line <= last]
    index = _index_videos(videos)
    report = PrepareReport(failed=list(bad))
    ready: dict[str, dict] = {}
    for n, request in enumerate(requests, start=1):
        clip, frame = out / "clips" / f"{request.name}.wav", out / "frames" / f"{request.name}.jpg"
        entry = {"audio": f"clips/{clip.name}", "image": f"frames/{frame.name}", "caption": request.caption}
        if clip.is_file() and frame.is_file():
            report.existing += 1
            ready[entry["audio"]] = entry
        else:
            reason = _cut(index, videos, request, clip, frame, trimmed)
            if reason:
                report.failed.append(SkippedRow(request.line, f"{request.video}: {reason}"))
            else:
                report.written += 1
                ready[entry["audio"]] = entry
        if progress is not None:
            progress(n, len(requests), request.name)
        if n % FLUSH_EVERY == 0:
            _write_metadata(out, ready)
    _write_metadata(out, ready)
    report.failed.sort(key=lambda s: s.line)  # the CSV's own problems among the videos' ones
    failures = [{"line": s.line, "reason": s.reason} for s in report.failed]
    atomic_write(out / REPORT, json.dumps({"summary": report.summary(), "failed": failures}, indent=2).encode())
    if not ready:
        raise PrepareError(
            f"no row of {Path(csv_path).name} could be prepared ({skipped_text(report.failed)}); "
            f"every reason is in {out.name}/{REPORT}."
        )
    return report


def _cut(index, videos: Path, request: ClipRequest, clip: Path, frame: Path, trimmed: bool) -> str:
    video = find_video(index, videos, request)
    if video is None:
        return "no such video in the videos folder"
    start = 0.0 if trimmed else request.start
    try:
        samples = cut_clip(video, start)
        if samples.size < MIN_SECONDS * CLAP_RATE:
            hint = "" if trimmed else " (if the files are already cut to their clips, pass --trimmed)"
            return f"the video has {samples.size / CLAP_RATE:.1f} s of audio after {start:g} s{hint}"
        if float(np.max(np.abs(samples))) < SILENCE_PEAK:
            return "the clip is silent"
        image = grab_frame(video, start + min(FRAME_OFFSET, samples.size / CLAP_RATE / 2))
    except Exception as exc:  # noqa: BLE001 - PyAV raises many error types; each is one row's failure
        said = str(exc)  # FFmpeg names the file it read, as it was given or resolved: by its name only
        for form in sorted({str(video), str(video.resolve()), str(video.absolute())}, key=len, reverse=True):
            said = said.replace(form, video.name)
        return f"cannot be decoded ({type(exc).__name__}: {said[:120]})"
    atomic_write(frame, _jpeg_bytes(image))
    write_wav(clip, samples, CLAP_RATE, "PCM_16")  # last: a row counts as done once its WAV exists
    return ""


def _write_metadata(out: Path, ready: dict[str, dict]) -> None:
    """Keep lines the folder already had for other clips (one that is not JSON too, as written: a
    row typed by hand with a slip is the user's to mend, not ours to drop), then this CSV's rows."""
    path = out / METADATA
    kept = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                kept.append(line)
                continue
            if not isinstance(entry, dict) or entry.get("audio") not in ready:
                kept.append(line)
    lines = [line + "\n" for line in kept if line.strip()]
    lines += [json.dumps(e, ensure_ascii=False) + "\n" for e in ready.values()]
    atomic_write(path, "".join(lines).encode())


__all__ = ["ClipRequest", "PrepareError", "PrepareReport", "cut_clip", "grab_frame", "prepare_dataset", "read_csv"]
