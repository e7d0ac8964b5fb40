"""The sound-event vocabulary of zero-shot conditioning: what CLAP can "hear", what SD should draw.

Each `SoundEvent` pairs a `label` (short AudioSet-style text that CLAP's text encoder matches well)
with a `phrase` (a concrete visual description for SD's CLIP text encoder): CLAP is good at naming
sounds, SD is good at drawing scenes, and neither is good at the other's job. The `category` is one
of the seven AudioSet top-level categories (seed 000), so the studio can group and filter what was
heard.

The packaged vocabulary lives in `core/data/sound_events.csv` (header `label,category,phrase`).
This module is pure data: no torch, so the studio, CLI and tests can load it cheaply.
"""

from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .errors import UserError

# AudioSet's top-level categories, in the seed's order (seed 000, "Audio Set" ontology slide).
CATEGORIES: tuple[str, ...] = (
    "human",  # Human sounds
    "animal",  # Animal sounds
    "natural",  # Natural sounds
    "music",  # Music
    "things",  # Sounds of things
    "source-ambiguous",  # Source-ambiguous sounds
    "environment",  # Channel, environment and background
)

# LAION-CLAP's zero-shot classification prompt; labels are embedded through it, not bare.
CLAP_TEMPLATE = "This is a sound of {label}."

HEADER: tuple[str, ...] = ("label", "category", "phrase")
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "sound_events.csv"


class VocabularyError(UserError, ValueError):
    """A vocabulary file or event list is malformed; the message names the file and line."""


@dataclass(frozen=True)
class SoundEvent:
    """One thing CLAP can hear (`label`) and what SD should draw for it (`phrase`)."""

    label: str
    category: str
    phrase: str


def _key(label: str) -> str:
    """Labels are unique case-insensitively: "Thunder" and "thunder" embed almost identically."""
    return label.strip().casefold()


@dataclass(frozen=True)
class Vocabulary:
    """An ordered, validated set of sound events. The order is the row order of the CLAP text
    embedding matrix, so it is part of the identity (and of `fingerprint`)."""

    events: tuple[SoundEvent, ...]

    def __post_init__(self) -> None:
        # Accept any iterable but store a tuple, so the vocabulary stays hashable and immutable.
        if not isinstance(self.events, tuple):
            object.__setattr__(self, "events", tuple(self.events))
        seen: dict[str, str] = {}
        for event in self.events:
            if not isinstance(event, SoundEvent):
                raise VocabularyError(f"expected SoundEvent, got {type(event).__name__}")
            for name in HEADER:
                if not getattr(event, name).strip():
                    raise VocabularyError(f"event {event!r}: empty {name}")
            if event.category not in CATEGORIES:
                raise VocabularyError(
                    f"event {event.label!r}: unknown category {event.category!r} "
                    f"(expected one of: {', '.join(CATEGORIES)})"
                )
            key = _key(event.label)
            if key in seen:
                raise VocabularyError(f"duplicate label {event.label!r} (same as {seen[key]!r}, case-insensitive)")
            seen[key] = event.label

    # -- views --------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        """What CLAP's text encoder sees (through `CLAP_TEMPLATE`), in row order."""
        return tuple(e.label for e in self.events)

    @property
    def phrases(self) -> tuple[str, ...]:
        """What SD's text encoder sees, in the same order as `labels`."""
        return tuple(e.phrase for e in self.events)

    @property
    def categories(self) -> tuple[str, ...]:
        """Each event's category, in the same order as `labels`."""
        return tuple(e.category for e in self.events)

    @property
    def clap_prompts(self) -> tuple[str, ...]:
        """The exact texts to embed with CLAP, in the same order as `labels`."""
        return tuple(clap_prompt(e) for e in self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[SoundEvent]:
        return iter(self.events)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and _key(label) in self._index

    # -- lookup -------------------------------------------------------------------------------
    @cached_property
    def _index(self) -> dict[str, SoundEvent]:
        return {_key(e.label): e for e in self.events}

    def by_label(self, label: str) -> SoundEvent:
        """The event for `label` (case-insensitive). KeyError suggests close labels, since a typo
        in a user-picked label should be fixable from the message alone."""
        event = self._index.get(_key(label))
        if event is not None:
            return event
        close = difflib.get_close_matches(_key(label), list(self._index), n=3, cutoff=0.6)
        hint = (
            f"; did you mean {', '.join(repr(self._index[c].label) for c in close)}?"
            if close
            else "; see Vocabulary.labels for the full list"
        )
        raise KeyError(f"no sound event labelled {label!r} among {len(self)} events{hint}")

    def in_category(self, category: str) -> Vocabulary:
        """The events of one category, in vocabulary order (e.g. to restrict what CLAP may hear)."""
        if category not in CATEGORIES:
            raise VocabularyError(f"unknown category {category!r} (expected one of: {', '.join(CATEGORIES)})")
        return Vocabulary(tuple(e for e in self.events if e.category == category))

    def subset(self, labels: Iterable[str]) -> Vocabulary:
        """The events for `labels`, in the caller's order (repeats dropped). Unknown labels raise
        KeyError, as `by_label` does: a silently shrunken vocabulary would hide a typo."""
        picked: dict[str, SoundEvent] = {}
        for label in labels:
            event = self.by_label(label)
            picked.setdefault(_key(event.label), event)
        return Vocabulary(tuple(picked.values()))

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over the events (in order) and `CLAP_TEMPLATE`: the cache key for the CLAP text
        embeddings of the labels. Phrases are included too, so any edit to the file invalidates."""
        payload = json.dumps(
            {
                "template": CLAP_TEMPLATE,
                "events": [[e.label, e.category, e.phrase] for e in self.events],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def clap_prompt(event: SoundEvent | str) -> str:
    """The text CLAP's text encoder embeds for a label (LAION-CLAP's zero-shot template)."""
    label = event.label if isinstance(event, SoundEvent) else event
    return CLAP_TEMPLATE.format(label=label)


# -- loading ---------------------------------------------------------------------------------
def _parse(path: Path) -> Vocabulary:
    """Read and validate a CSV; every error names `path:line` so the file can be fixed directly."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheet exports
    except UnicodeDecodeError as exc:
        raise VocabularyError(f"{path}: not valid UTF-8 ({exc})") from exc

    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise VocabularyError(f"{path}: empty file, expected header {','.join(HEADER)}") from None
    except csv.Error as exc:
        raise VocabularyError(f"{path}:1: {exc}") from exc
    if tuple(h.strip() for h in header) != HEADER:
        raise VocabularyError(f"{path}:1: header is {','.join(header)!r}, expected {','.join(HEADER)!r}")

    events: list[SoundEvent] = []
    first_line: dict[str, tuple[int, str]] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise VocabularyError(f"{path}:{reader.line_num}: {exc}") from exc
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines are harmless
        if len(row) != len(HEADER):
            raise VocabularyError(
                f"{path}:{line}: expected {len(HEADER)} columns ({','.join(HEADER)}), "
                f"got {len(row)}: {row!r} (quote phrases that contain commas)"
            )
        label, category, phrase = (cell.strip() for cell in row)
        for name, value in zip(HEADER, (label, category, phrase)):
            if not value:
                raise VocabularyError(f"{path}:{line}: empty {name} in {row!r}")
        if category not in CATEGORIES:
            raise VocabularyError(
                f"{path}:{line}: unknown category {category!r} for label {label!r} "
                f"(expected one of: {', '.join(CATEGORIES)})"
            )
        key = _key(label)
        if key in first_line:
            prev_line, prev_label = first_line[key]
            raise VocabularyError(
                f"{path}:{line}: duplicate label {label!r} "
                f"(already defined as {prev_label!r} on line {prev_line}; labels are case-insensitive)"
            )
        first_line[key] = (line, label)
        events.append(SoundEvent(label=label, category=category, phrase=phrase))

    if not events:
        raise VocabularyError(f"{path}: no sound events after the header")
    try:
        return Vocabulary(tuple(events))
    except VocabularyError as exc:  # should not happen after the checks above; keep the file name
        raise VocabularyError(f"{path}: {exc}") from exc


@functools.lru_cache(maxsize=1)
def _load_default() -> Vocabulary:
    return _parse(DEFAULT_PATH)


def load_vocabulary(path: Path | str | None = None) -> Vocabulary:
    """Load a vocabulary CSV (default: the packaged one, parsed once per process).

    Custom files are re-read on every call, so an edited file is picked up without a restart.
    Raises VocabularyError for a malformed file, FileNotFoundError for a missing one.
    """
    if path is None or Path(path).resolve() == DEFAULT_PATH:
        return _load_default()
    return _parse(Path(path))
