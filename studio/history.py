"""What a session keeps of finished work: each image as a `HistoryItem` (the Gallery's, a render's,
a comparison's cells) and a comparison as a `CompareResult`. Plain data without Streamlit, so that
the gallery on disk (studio/gallery_store.py), the widgets and the benchmarks use it without a session.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.params import GenerationParams

if TYPE_CHECKING:
    from PIL import Image

    from core.compare import CompareRun, Plan
    from core.edit.run import EditResult
    from core.parts import ModeView
    from core.trace import GenerationResult, Trace

HISTORY_LIMIT = 60  # renders kept per session (PNG bytes in memory); the oldest go first


@dataclass
class HistoryItem:
    """One finished generation kept in this session, with everything the gallery and export need."""

    id: int
    kind: str  # "render" | "preview" | "compare"
    params: GenerationParams  # complete (audio hash filled in): reproduces the image
    png: bytes  # the PNG file with embedded params, exactly what "Download" gives
    image: Image.Image
    trace: Trace
    timings: dict[str, float]
    device: str = "cpu"
    dtype: str = "float32"
    caption: str = ""
    created: float = field(default_factory=time.time)
    stem: str = ""  # its files' name in the gallery folder, once kept or read there (gallery_store)

    @property
    def title(self) -> str:
        head = self.caption or (self.params.prompt.strip() or "(no prompt)")
        return f"#{self.id} · {head}"

    @functools.cached_property
    def file_name(self) -> str:
        """Its download name: an edit's as the Edit page names it (`core.edit.export.edit_filename`:
        "clap2diff_edit_<seed>_<photo>_<hash>.png", read from its PNG), any other's as a generation's."""
        from core.export import ExportError, default_filename

        if self.kind.startswith("edit"):  # a kept edit, an edit's preview (its trace's name)
            from core.edit.export import edit_filename, read_edit

            try:
                return edit_filename(read_edit(self.png))
            except ExportError:  # a PNG without its edit settings: named as what it holds
                pass
        return default_filename(self.params)

    @property
    def summary(self) -> str:
        p = self.params
        audio = Path(p.audio_path).name if p.audio_path else "no audio"
        w = "/".join(f"{x:g}" for x in p.level_weights)
        return (
            f"seed {p.seed} · {p.width}×{p.height} · {p.steps} steps · {audio} · weights {w} · "
            f"norm {p.norm_target:g} · switch {p.switch_points[0]:g}/{p.switch_points[1]:g}"
        )

    @classmethod
    def of(
        cls,
        result: GenerationResult | EditResult,
        png: bytes,
        kind: str,
        item_id: int,
        caption: str = "",
        params: GenerationParams | None = None,
    ) -> HistoryItem:
        """From a GenerationResult, or an EditResult with its generation settings as `params`."""
        return cls(
            id=item_id,
            kind=kind,
            params=result.params if params is None else params,
            png=png,
            image=result.image,
            trace=result.trace,
            timings=dict(result.timings),
            device=str(result.device),
            dtype=str(result.dtype),
            caption=caption,
        )


@dataclass
class CompareResult:
    """A comparison as this session keeps it: core's run, and each generated cell as a history item
    (the Gates page and the Gallery take them from here)."""

    id: int
    run: CompareRun
    items: dict[str, HistoryItem]  # cell key -> item (numbered 0: Gallery numbers are given when kept)
    kept_ids: dict[str, int] = field(default_factory=dict)  # cell key -> its Gallery number once kept

    @property
    def plan(self) -> Plan:
        return self.run.plan

    @property
    def views(self) -> dict[str, ModeView]:
        return self.run.views


@dataclass(frozen=True)
class CompareAsked:
    """What a comparison was asked (its slot's key): Generate's settings at the page's Quality, the
    source modes and the two toggles. Every chosen mode runs, so Generate's Level sources is no part
    of it, nor the crossovers without Frequency bands or the stem map without Demucs stems: changing
    them changes no image of the comparison, and the page's "Older settings" must not name them."""

    params: GenerationParams
    modes: tuple[str, ...]
    without: bool = True
    alone: bool = True

    LABELS: ClassVar[dict[str, str]] = {
        "modes": "Source modes",
        "without": "Without audio",
        "alone": "Each level alone",
    }

    @classmethod
    def of(
        cls, params: GenerationParams, modes: Sequence[str], without: bool = True, alone: bool = True
    ) -> CompareAsked:
        from core.compare import ordered_modes

        chosen, default = tuple(ordered_modes(modes)), GenerationParams()
        unused: dict[str, Any] = {"sources": default.sources}
        if "bands" not in chosen:
            unused["crossovers"] = default.crossovers
        if "stems" not in chosen:
            unused["stem_map"] = default.stem_map
        return cls(params.replace(**unused), chosen, bool(without), bool(alone))

    def page_changes(self, other: CompareAsked) -> list[str]:
        """The page's own settings (by their labels) that differ in `other`."""
        return [label for name, label in self.LABELS.items() if getattr(self, name) != getattr(other, name)]


__all__ = ["HISTORY_LIMIT", "CompareAsked", "CompareResult", "HistoryItem"]
