"""Showing what came back: job progress, charts, what CLAP heard, downloads, one card per audio part."""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import streamlit as st

from core import GenerationParams, Trace
from core.params import knobs
from core.parts import ModeView, PartView
from core.score_names import SCORE_HELP, SCORE_LABELS
from core.sources import level_origin, part_filename, part_wav_bytes
from core.trace import HeardLabel
from studio import charts
from studio.charts import LEVEL_COLORS, LEVEL_ICON
from studio.history import CompareAsked, HistoryItem
from studio.jobs import Job
from studio.markdown import code_md, escape_md

# The least time between two redraws of a followed job's progress bar. Each redraw is a message the
# browser renders; sent every poll (10 a second), React never had the pause it needs to mount an
# element whose code it loads lazily (a page's first toast: a reload's "The render started before
# the reload goes on here" showed 3-36 s late, at a gap in the messages, or once the render ended).
REDRAW_S = 0.5


def _progress_text(job: Job) -> str:
    return (":material/hourglass_top: " if job.waiting else "") + job.status


def follow(job: Job, where: Any = None, poll: float = 0.1, tiles: int = 0) -> None:
    """Redraw a progress bar until the job ends. A rerun (any click) stops the following, not the job.
    The job is looked at every `poll` s (its end is seen at once); the bar is redrawn when it changed,
    at most every REDRAW_S.
    `tiles` > 0: below the bar, the job's finished images (`job.partial`) in rows of that many."""
    slot = (where or st).empty()
    drawn = (job.fraction, _progress_text(job))
    bar = slot.progress(*drawn)
    drawn_at = time.monotonic()
    strip = st.empty() if tiles else None
    shown = 0
    while not job.wait(poll):
        now = (job.fraction, _progress_text(job))
        if now != drawn and time.monotonic() - drawn_at >= REDRAW_S:
            bar.progress(*now)
            drawn, drawn_at = now, time.monotonic()
        if strip is not None and len(job.partial) != shown:
            shown = len(job.partial)
            with strip.container(key=f"partial_{job.id}_{shown}"):
                for col, (caption, png) in zip(itertools.cycle(st.columns(tiles)), list(job.partial)[:shown]):
                    col.image(png, caption=caption, width="stretch", output_format="PNG")
    slot.empty()
    if strip is not None:
        strip.empty()


def rerun_fragment() -> None:
    """Rerun just the current fragment when this is a fragment rerun, else the whole page
    (Streamlit allows scope="fragment" only in fragment reruns)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def chart(fig: Any, key: str, toolbar: bool = True) -> None:
    """A plotly chart drawn as built (our own template, not Streamlit's theme, which recolours
    heatmaps)."""
    st.plotly_chart(fig, key=key, theme=None, config={"displayModeBar": toolbar, "displaylogo": False})


def heard(trace: Trace, compact: bool = False, key: str | None = None, top_k: int | None = None) -> None:
    """What CLAP heard: one bar chart for the mix, or one per level source, one per row. `key` (e.g.
    a hash of the labels) lets an unchanged chart keep its identity across reruns; `top_k` (the
    events asked for) explains a shorter list."""
    if not trace.heard:
        st.caption("No audio heard (text only, or trained mode, which has no labels).")
        return
    # One level per row, full width: side by side in a preview column the labels were cut off.
    for level, labels in trace.heard.items():
        title = None if level == "mix" else level
        chart(
            heard_figure(labels, title, LEVEL_COLORS.get(level, "#3A6EA5")),
            key=f"heard_{key or id(trace)}_{level}_{compact}",
            toolbar=False,
        )
    if trace.skipped_levels:
        st.caption("Near-silent, not conditioned: " + ", ".join(trace.skipped_levels))
    if top_k is not None:
        fewer = heard_fewer_note(trace, top_k)
        if fewer:
            st.caption(fewer)


def heard_figure(labels: Sequence[HeardLabel], title: str | None, color: str) -> Any:
    """`charts.heard_figure`, built once per distinct labels: every live-preview rerun redraws this
    panel, and building the plotly figure (not sending it) was most of that rerun's own time
    (about 80 ms on a loaded 2-core machine, beside a 100 ms preview). Streamlit only reads it."""
    return _heard_figure(tuple(labels), title, color)


@functools.lru_cache(maxsize=64)
def _heard_figure(labels: tuple[HeardLabel, ...], title: str | None, color: str) -> Any:
    return charts.heard_figure(labels, title=title, color=color)


def heard_fewer_note(trace: Trace, top_k: int) -> str | None:
    """Why fewer events are shown than 'Sound events heard' asks for: the zero-shot projector keeps
    only the events whose phrases fit Stable Diffusion's 75 prompt tokens (core/projector.py), so
    every label shown really reaches the picture."""
    shown = [len(labels) for labels in trace.heard.values() if labels]
    if not shown or min(shown) >= top_k:
        return None
    return (
        (
            f"Showing {min(shown)}–{max(shown)} of the {top_k} events asked for"
            if min(shown) != max(shown)
            else f"Showing {shown[0]} of the {top_k} events asked for"
        )
        + ": the others' phrases would not fit in the 75 CLIP tokens the sound is written in, so they could not reach the picture."
    )


def download_png(item: HistoryItem, key: str, label: str = "Download PNG", width: str = "content") -> None:
    st.download_button(
        label,
        item.png,
        file_name=item.file_name,
        mime="image/png",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        help="The PNG carries every parameter: load it in the Gallery (or the CLI) to reproduce it.",
        width=width,
    )


def audio_used(params: GenerationParams) -> bool:
    """Whether the image heard a clip: a text-only image's audio settings (strength, weights,
    sources...) did nothing, and captions say "no audio" instead of them."""
    return bool(params.audio_path)


def audio_setup(params: GenerationParams, switch: bool = False) -> str:
    """'stems · weights 0.70/0.50/0.30' (with `switch`: ' · switch 0.4/0.7 (hard)'), or 'no audio'."""
    if not audio_used(params):
        return "no audio"
    weights = "/".join(f"{w:.2f}" for w in params.level_weights)
    (a, b), style = params.switch_points, params.switch_style
    return f"{params.sources} · weights {weights}" + (f" · switch {a:g}/{b:g} ({style})" if switch else "")


def trace_filename(item: HistoryItem) -> str:
    """'clap2diff_5_a_harbour_1a2b3c_render-3_trace.json': named like its image's PNG, plus the kind
    and id, so the traces of several images (two renders of one seed, a preview) stay apart."""
    tag = item.kind.replace(" ", "-") + (f"-{item.id}" if item.id else "")
    return f"{item.file_name.removesuffix('.png')}_{tag}_trace.json"


def scores_rows_table(rows: list[tuple[str, Any]]) -> None:
    """Several images' CLIP scores, one row each (the Compare page's tiles), by their labels."""
    table = [
        {"image": caption}
        | {
            SCORE_LABELS[n]: (None if v is None else round(float(v), 4))
            for n, v in s.as_row().items()
            if n in SCORE_HELP
        }
        for caption, s in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(" · ".join(f"**{SCORE_LABELS[n]}**: {h}" for n, h in SCORE_HELP.items() if n != "reference_match"))


def scores_table(scores: Any) -> None:
    """A render's CLIP scores, then what each means (docs/SCORES.md) as text that wraps, folded so
    the sticky Render column stays short."""
    shown = [(n, v) for n, v in scores.as_row().items() if v is not None and n in SCORE_HELP]
    # One line a score, the value first: it wraps in the Render column, 120 px wide at 1024 px (a
    # dataframe's, and then a table's, value column ran off its edge).
    st.markdown("  \n".join(f"**{float(v):.4f}** · {SCORE_LABELS[n]}" for n, v in shown))
    with st.expander("What each score says"):
        st.caption(" · ".join(f"**{SCORE_LABELS[n]}**: {SCORE_HELP[n]}" for n, _ in shown))
    if scores.clip_top_event:
        st.caption(f"CLIP sees mostly **{scores.clip_top_event}**.")


def generate_settings(engine: Any) -> tuple[GenerationParams, Any]:
    """For pages that work on the Generate page's settings (Compare, Sweep, Edit): stop with the way
    out when no models are loaded; else show the prompt, clip and seed in use and return
    (params, audio choice)."""
    from studio import bindings, loader
    from studio.widgets.audio import checked_choice

    if engine is None:
        st.info(loader.NO_MODELS)
        st.stop()
    params = bindings.current_params(models=engine.spec.name)
    choice = checked_choice()
    audio = escape_md(choice.label) or ("a clip" if choice.given else "none")
    if not choice.ok and choice.given:  # a refused upload, a text file named .wav: not "none"
        audio += " (cannot be used)"
    prompt = escape_md(params.prompt) or "(none)"
    st.markdown(f"**Prompt:** {prompt} · **audio:** {audio} · **seed** {params.seed}")
    return params, choice


QUALITY_FIELDS = ("steps", "width", "height")  # what a Compare's or Sweep's Quality draws down


def older_settings_note(
    made: CompareAsked | None, now: CompareAsked, at_other_quality: CompareAsked | None = None
) -> str | None:
    """For a comparison shown after what it was asked changed (a seed or a weight on Generate, a
    source mode here): 'Older settings: ... Seed, Level weights ...', naming what changed by the
    knobs' and the page's labels, or None when `made` is what the page asks now (or nothing was
    made). `at_other_quality` is `now` at the page's other Quality: work made at that quality names
    "Quality", not the steps and size that Quality draws down."""
    if made is None or made == now:
        return None
    base, changed = now.params, []
    if at_other_quality is not None and _quality_of(made.params) == _quality_of(at_other_quality.params) != _quality_of(
        base
    ):
        base, changed = at_other_quality.params, ["Quality"]
    labels = knobs()
    changed += [labels[f.name].label for f in fields(base) if getattr(made.params, f.name) != getattr(base, f.name)]
    changed += made.page_changes(now)
    return (
        "**Older settings**: made before " + ", ".join(dict.fromkeys(changed)) + " changed (here or on Generate); "
        "the images and downloads below are of the older settings. Press **Run** for the current ones."
    )


def _quality_of(params: GenerationParams) -> tuple:
    return tuple(getattr(params, f) for f in QUALITY_FIELDS)


def seed_line(params: GenerationParams, seconds: float | None = None) -> str:
    """'seed **7** · 512×512 · 25 steps · 3.1 s', and which trained checkpoint made it, by its run."""
    from core.train.layout import checkpoint_name

    took = f" · {seconds:.1f} s" if seconds is not None else ""
    trained = (
        f" · trained {code_md(checkpoint_name(params.checkpoint))}"
        if params.mode == "trained" and params.checkpoint
        else ""
    )
    return f"seed **{params.seed}** · {params.width}×{params.height} · {params.steps} steps{took}{trained}"


def db_text(db: float | None) -> str:
    """' · -23.9 dB' (a part's level relative to the window's mix), or '' when unknown or silent."""
    if db is None or not math.isfinite(db):
        return " · silent" if db is not None else ""
    return f" · {round(db, 1) + 0.0:+.1f} dB"


def skipped_note(trace: Trace, params: GenerationParams | None = None, where: Any = None) -> None:
    """Say plainly which levels were near-silent (so not conditioned) in a generation."""
    if not trace.skipped_levels:
        return
    names = []
    for level in trace.skipped_levels:
        origin = f" ({level_origin(params, level)})" if params is not None and params.sources != "mix" else ""
        names.append(f"**{level}**{origin}")
    one = len(names) == 1
    (where or st).warning(
        f"{' and '.join(names)} {'is' if one else 'are'} near-silent in this window: not conditioned, "
        f"{'its' if one else 'their'} steps get no audio.",
        icon=":material/volume_off:",
    )


def part_card(
    view: ModeView,
    part: PartView,
    prefix: str,
    height: int = 220,
    heard_title: str | None = None,
    heard_top: int | None = None,
    download: bool = False,
) -> None:
    """One part of a source mode: its name, band and level, a spectrogram on the mode's dB scale, a
    player, what CLAP heard in it and (optionally) its WAV. Keys: `<prefix>_part_<mode>_<name>`."""
    level, name, sources = part.level, part.name, view.sources
    origin = f" ({part.origin})" if part.origin else ""
    where = f" → {LEVEL_ICON[level]} {level}" if level else " → every level, by token position"
    suffix = f"{view.mode}_{name}"
    with st.container(key=f"{prefix}_part_{suffix}"):
        st.markdown(f"**{name}**{origin}{where}{db_text(part.db)}")
        chart(
            charts.source_figure(part.mel, None, height=height, offset=view.start),
            key=f"{prefix}_fig_{suffix}",
            toolbar=False,
        )
        st.audio(part.player, format="audio/wav")
        if part.heard:
            chart(
                charts.heard_figure(
                    part.heard[:heard_top],
                    title=heard_title or f"CLAP hears in {name}",
                    color=LEVEL_COLORS.get(level or "", "#3A6EA5"),
                ),
                key=f"{prefix}_heard_{suffix}",
                toolbar=False,
            )
        if download:
            st.download_button(
                "Save as WAV",
                lambda: part_wav_bytes(sources, name),
                file_name=part_filename(sources, name, view.wav_prefix()),
                mime="audio/wav",
                on_click="ignore",
                key=f"{prefix}_wav_{suffix}",
                icon=":material/download:",
                help="This part as a 32-bit float WAV (stereo for a Demucs stem).",
            )
