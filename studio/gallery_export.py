"""The Gallery's downloads of a selection: a ZIP of its PNGs and one captioned comparison grid.

Both are built once per selection and kept in the session (`Session.gallery_files`): a download
button needs its bytes on every run of the page, and a grid of 60 images took seconds to draw. A new
selection replaces them (one selection's files are kept, not every selection's); deleting images or a
listing that changes the history empties the cache (`Session.forget`, `gallery_store.sync`)."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from core.export import grid_png_bytes, zip_bytes
from core.params import LEVELS, GenerationParams
from studio.binding_table import LEVEL_SHORT
from studio.history import HistoryItem

GRID_TITLE = "CLAP2Diff comparison"
ZIP_NAME = "clap2diff_selection.zip"
GRID_NAME = "clap2diff_grid.png"


@dataclass(frozen=True)
class SelectionFiles:
    """The downloads of one selection, by its images' ids (in the Gallery's order)."""

    ids: tuple[int, ...]
    zip: bytes  # every selected PNG under its download name, and core's params.json manifest
    grid: bytes  # one PNG of the images with their captions; each image's params in its metadata


def weights_text(params: GenerationParams) -> str:
    """'fg 0.7 · bg 0.5 · amb 0.3': the hierarchy weights named, for captions a reader meets cold."""
    return " · ".join(f"{LEVEL_SHORT[lv]} {w:g}" for lv, w in zip(LEVELS, params.level_weights, strict=True))


def grid_caption(item: HistoryItem) -> str:
    """'#3 a harbour · seed 7 · fg 0.7 · bg 0.5 · amb 0.3': an image in the grid, by the number the
    Gallery shows, what it is (its caption or prompt), its seed and its weights."""
    head = item.caption or item.params.prompt or "(no prompt)"
    return f"#{item.id} {head} · seed {item.params.seed} · {weights_text(item.params)}"


def selection_files(
    items: Sequence[HistoryItem], cache: MutableMapping[tuple[int, ...], SelectionFiles]
) -> SelectionFiles:
    """The ZIP and grid of `items`, from `cache` when this selection's are there, else built and
    kept in it in place of any other selection's. Raises core's ExportError or ValueError (an image
    the grid cannot take): the page says it, and nothing is kept."""
    ids = tuple(item.id for item in items)
    if not ids:
        raise ValueError("select at least one image")
    if (kept := cache.get(ids)) is not None:
        return kept
    files = SelectionFiles(
        ids,
        zip=zip_bytes([(item.file_name, item.png) for item in items]),
        grid=grid_png_bytes(
            [item.image for item in items],
            [grid_caption(item) for item in items],
            [item.params for item in items],
            title=GRID_TITLE,
        ),
    )
    cache.clear()
    cache[ids] = files
    return files


__all__ = ["GRID_NAME", "GRID_TITLE", "SelectionFiles", "ZIP_NAME", "grid_caption", "selection_files", "weights_text"]
