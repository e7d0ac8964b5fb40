"""The packaged sound-event vocabulary and its loader: content quality, lookup, validation."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from core.vocabulary import (
    CATEGORIES,
    CLAP_TEMPLATE,
    DEFAULT_PATH,
    SoundEvent,
    Vocabulary,
    VocabularyError,
    clap_prompt,
    load_vocabulary,
)

# Words that describe hearing rather than seeing. SD cannot draw them, and CLIP would turn them into
# speakers, waveforms or headphones, so a visual phrase must not contain them.
SOUND_WORDS = frozenset(
    {
        "sound", "sounds", "noise", "noises", "noisy", "audio", "audible",
        "hear", "hears", "hearing", "heard", "listen", "listens", "listening", "listener",
        "loud", "loudly", "quiet", "quietly", "silent", "silence",
        "acoustic", "acoustics", "sonic", "decibel", "decibels",
    }
)  # fmt: skip

EXPECTED_LABELS = (
    "thunder",
    "rain",
    "dog barking",
    "baby laughter",
    "car horn",
    "engine",
    "siren",
    "applause",
    "speech",
)


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return load_vocabulary()


def _write(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header or ["label", "category", "phrase"])
        w.writerows(rows)
    return path


GOOD_ROWS = [
    ["thunder", "natural", "dark storm clouds split by lightning"],
    ["dog barking", "animal", "a dog with its mouth open, barking"],
    ["speech", "human", "a person talking mid-sentence"],
]


# -- packaged content ------------------------------------------------------------------------
def test_size_and_categories(vocab: Vocabulary) -> None:
    assert len(vocab) >= 300
    assert CATEGORIES == (
        "human", "animal", "natural", "music", "things", "source-ambiguous", "environment"
    )  # fmt: skip
    counts = Counter(e.category for e in vocab)
    assert set(counts) == set(CATEGORIES)
    for category in CATEGORIES:
        assert counts[category] >= 20, (category, counts[category])
        assert len(vocab.in_category(category)) == counts[category]


def test_labels_unique_case_insensitive(vocab: Vocabulary) -> None:
    keys = [label.casefold() for label in vocab.labels]
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes
    assert all(label == label.strip() and label for label in vocab.labels)


def test_phrases_are_visual(vocab: Vocabulary) -> None:
    bad_length = [(e.label, e.phrase) for e in vocab if not 3 <= len(e.phrase.split()) <= 12]
    assert not bad_length
    bad_words = []
    for e in vocab:
        words = set(re.findall(r"[a-z]+", e.phrase.lower()))
        if words & SOUND_WORDS:
            bad_words.append((e.label, e.phrase, sorted(words & SOUND_WORDS)))
    assert not bad_words


def test_phrases_distinct(vocab: Vocabulary) -> None:
    # Two labels may draw alike, but identical phrases would mean a copy-paste slip.
    dupes = [p for p, n in Counter(p.casefold() for p in vocab.phrases).items() if n > 1]
    assert not dupes


def test_expected_labels_present(vocab: Vocabulary) -> None:
    for label in EXPECTED_LABELS:
        assert label in vocab, label
    assert "birdsong" in vocab or "bird chirping" in vocab
    assert vocab.by_label("thunder").category == "natural"
    assert vocab.by_label("dog barking").category == "animal"
    assert vocab.by_label("baby laughter").phrase == "a laughing baby"
    assert vocab.by_label("car horn").category == "things"
    assert vocab.by_label("applause").category == "human"


def test_default_is_cached_and_packaged(vocab: Vocabulary) -> None:
    assert load_vocabulary() is vocab
    assert load_vocabulary(DEFAULT_PATH) is vocab
    assert DEFAULT_PATH.name == "sound_events.csv" and DEFAULT_PATH.is_file()


def test_views_align(vocab: Vocabulary) -> None:
    assert len(vocab.labels) == len(vocab.phrases) == len(vocab.clap_prompts) == len(vocab)
    first = next(iter(vocab))
    assert isinstance(first, SoundEvent)
    assert (vocab.labels[0], vocab.phrases[0]) == (first.label, first.phrase)


# -- lookup ----------------------------------------------------------------------------------
def test_by_label_case_insensitive(vocab: Vocabulary) -> None:
    assert vocab.by_label("Thunder") is vocab.by_label("thunder")
    assert vocab.by_label("  dog barking ").label == "dog barking"


def test_by_label_error_is_helpful(vocab: Vocabulary) -> None:
    with pytest.raises(KeyError) as info:
        vocab.by_label("dog barkng")
    message = str(info.value)
    assert "dog barkng" in message and "dog barking" in message  # names the typo and a fix
    with pytest.raises(KeyError) as info:
        vocab.by_label("zzzzqqq")
    assert "zzzzqqq" in str(info.value) and "labels" in str(info.value)


def test_subset_and_in_category(vocab: Vocabulary) -> None:
    sub = vocab.subset(["rain", "thunder", "rain"])
    assert sub.labels == ("rain", "thunder")  # caller order, repeats dropped
    assert isinstance(sub, Vocabulary)
    with pytest.raises(KeyError):
        vocab.subset(["thunder", "not a real label"])
    music = vocab.in_category("music")
    assert music.labels and all(e.category == "music" for e in music)
    with pytest.raises(VocabularyError, match="unknown category"):
        vocab.in_category("weather")


def test_clap_prompt() -> None:
    event = SoundEvent("dog barking", "animal", "a dog with its mouth open, barking")
    assert CLAP_TEMPLATE == "This is a sound of {label}."
    assert clap_prompt(event) == "This is a sound of dog barking."
    assert clap_prompt("rain") == "This is a sound of rain."
    assert Vocabulary((event,)).clap_prompts == ("This is a sound of dog barking.",)


# -- fingerprint -----------------------------------------------------------------------------
def test_fingerprint(tmp_path: Path) -> None:
    a = load_vocabulary(_write(tmp_path / "a.csv", GOOD_ROWS))
    b = load_vocabulary(_write(tmp_path / "b.csv", [r[:] for r in GOOD_ROWS]))
    assert re.fullmatch(r"[0-9a-f]{64}", a.fingerprint)
    assert a.fingerprint == b.fingerprint  # content, not path
    changed = [r[:] for r in GOOD_ROWS]
    changed[0][2] = "a lightning bolt over a dark city"
    c = load_vocabulary(_write(tmp_path / "c.csv", changed))
    assert c.fingerprint != a.fingerprint
    reordered = load_vocabulary(_write(tmp_path / "d.csv", GOOD_ROWS[::-1]))
    assert reordered.fingerprint != a.fingerprint  # row order = embedding row order
    assert a.subset(a.labels).fingerprint == a.fingerprint


# -- malformed files -------------------------------------------------------------------------
def test_custom_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.csv", GOOD_ROWS + [["", "", ""]])  # blank-ish row is skipped
    v = load_vocabulary(path)
    assert v.labels == ("thunder", "dog barking", "speech")
    assert v.by_label("dog barking").phrase == "a dog with its mouth open, barking"  # quoted comma
    assert load_vocabulary(str(path)) == v


def test_unknown_category_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", GOOD_ROWS + [["wind", "weather", "trees bending in wind"]])
    with pytest.raises(VocabularyError, match=r"bad\.csv:5: unknown category 'weather'"):
        load_vocabulary(path)


def test_duplicate_label_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.csv", GOOD_ROWS + [["Thunder", "natural", "lightning at sea"]])
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(path)
    message = str(info.value)
    assert "dup.csv:5" in message and "duplicate label 'Thunder'" in message and "line 2" in message


def test_missing_column_names_line(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("label,category,phrase\nthunder,natural,dark storm clouds\nrain,natural\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"short\.csv:3: expected 3 columns"):
        load_vocabulary(path)


def test_unquoted_comma_names_line(tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    path.write_text("label,category,phrase\ndog barking,animal,a dog, barking\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"comma\.csv:2: expected 3 columns"):
        load_vocabulary(path)


def test_empty_field_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.csv", [GOOD_ROWS[0], ["rain", "natural", "  "]])
    with pytest.raises(VocabularyError, match=r"empty\.csv:3: empty phrase"):
        load_vocabulary(path)


def test_bad_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "hdr.csv", GOOD_ROWS, header=["label", "category"])
    with pytest.raises(VocabularyError, match=r"hdr\.csv:1: header"):
        load_vocabulary(path)
    empty = tmp_path / "nothing.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(VocabularyError, match="nothing.csv"):
        load_vocabulary(empty)
    only_header = _write(tmp_path / "header_only.csv", [])
    with pytest.raises(VocabularyError, match="no sound events"):
        load_vocabulary(only_header)


def test_vocabulary_constructor_validates() -> None:
    e = SoundEvent("rain", "natural", "rain on a street")
    with pytest.raises(VocabularyError, match="duplicate"):
        Vocabulary((e, SoundEvent("RAIN", "natural", "rain again")))
    with pytest.raises(VocabularyError, match="unknown category"):
        Vocabulary((SoundEvent("rain", "weather", "rain on a street"),))
    assert Vocabulary([e]).events == (e,)  # type: ignore[arg-type]  # lists are normalised
