"""Compare: the same seed and prompt with the mixed clip, Demucs stems and frequency bands side by
side; each level alone; and, for every stem and band, a player, a spectrogram and what CLAP heard.
Exports the whole comparison as one captioned grid PNG (with every tile's params) and as a ZIP."""

from __future__ import annotations

import streamlit as st

from core import COMPARE_MODES, Cell, ExportError, GenerationParams, compare_files, mode_about, mode_label
from studio import bindings, errors, jobs, loader, scoring, widgets
from studio.bindings import PERSIST as PS
from studio.history import CompareAsked, CompareResult
from studio.session import session

s = session()
engine = loader.current()

st.markdown("## Compare")
st.caption(
    "Same seed, prompt and settings as the Generate page; only where each level's sound comes from "
    "changes. Does separating the sources change the picture, and what does each level add?"
)

params, choice = widgets.generate_settings(engine)
running = s.compare.running

with st.container(border=True, key="cmp_controls"):  # every label whole down to 1024 px
    st.multiselect(  # a row of its own: beside Quality, "Frequency bands" ran under the clear icon at 1024 px
        CompareAsked.LABELS["modes"],
        list(COMPARE_MODES),
        format_func=mode_label,
        key="cmp_modes",
        persist_state=PS,
        help=" ".join(f"{mode_label(m)}: {mode_about(m)}." for m in COMPARE_MODES),
    )
    c1, run_column, stop_column = st.columns([1.7, 1, 1], vertical_alignment="center")
    widgets.quality_choice("cmp_quality", c1)
    c1.toggle(
        CompareAsked.LABELS["without"],
        key="cmp_without",
        persist_state=PS,
        help="Add the same image with audio strength 0 (plain Stable Diffusion) as a reference.",
    )
    c1.toggle(
        CompareAsked.LABELS["alone"],
        key="cmp_alone",
        persist_state=PS,
        help="One row per level: that level conditions every denoising step (switch points moved "
        "to the ends), in every source mode.",
    )


def _run_params(quality: str | None = None) -> GenerationParams:
    """The Generate page's settings at the quality chosen here (or at `quality`)."""
    p = bindings.current_params(models=engine.spec.name)
    quality = quality or bindings.value("cmp_quality", "preview")
    return bindings.preview_params(p) if quality == "preview" else p


def _other_quality() -> str:
    return next(q for q in bindings.QUALITIES if q != bindings.value("cmp_quality", "preview"))


def _modes() -> list[str]:
    return [m for m in COMPARE_MODES if m in (bindings.value("cmp_modes") or [])]


def _asked(quality: str | None = None) -> CompareAsked:
    """What Run would ask now (at `quality`): the key a shown comparison is compared with."""
    without, alone = bool(bindings.value("cmp_without")), bool(bindings.value("cmp_alone"))
    return CompareAsked.of(_run_params(quality), _modes(), without, alone)


def _input_problem(p: GenerationParams) -> str | None:
    """What stops a run before it starts (the clip, the modes, a setting), for people; None when it can run."""
    if problem := widgets.unusable_clip(widgets.checked_choice(), "compare", needs_clip=True):
        return problem  # the clip's own problem is said under Run: here where to look
    modes = _modes()
    if not modes:
        return "Choose at least one source mode."
    for mode in modes:
        problem = errors.check_params(p.replace(sources=mode))
        if problem is not None:
            return errors.describe(problem)
    return None


def _start() -> None:
    if s.compare.running or widgets.refused_for_clip("compare"):  # one run a double click; the box says why
        return
    p = _run_params()
    problem = _input_problem(p)
    if problem is not None:
        s.compare.fail(problem)
        return
    alone, without = bool(bindings.value("cmp_alone")), bool(bindings.value("cmp_without"))
    label = widgets.checked_choice().label
    s.compare.start(jobs.compare_job(engine, p, _modes(), alone=alone, without=without, audio_label=label))


with run_column:
    st.button(
        "Run",
        type="primary",
        on_click=_start,
        disabled=running,
        key="cmp_run",
        icon=":material/play_arrow:",
        width="stretch",
        help="Generate every image of the comparison (same seed and prompt).",
    )
with stop_column:
    st.button(
        "Stop",
        on_click=s.compare.cancel,
        disabled=not running,
        key="cmp_cancel",
        icon=":material/stop:",
        width="stretch",
        help="Stop after the current step; what is done is kept.",
    )
widgets.clip_problem_box(choice)  # a clip that cannot be used is an error, as on Generate; none yet, a hint

if running and s.compare.job is not None:
    widgets.follow(s.compare.job, tiles=4)  # each image appears as it finishes
    s.collect_jobs()
    st.rerun()
if s.compare.input_problem:  # fixed since Run (or wrong another way): the message follows, as on Generate
    s.compare.refresh_input_problem(_input_problem(_run_params()))
if s.compare.error:
    errors.show(s.compare.error)
if s.compare.note:
    st.warning(s.compare.note)

result = s.compare.result
if result is None:
    if choice.ok:  # else the clip's message above is what to do first: "Press Run" would contradict it
        st.caption("Press **Run** to generate the source modes side by side.")
    st.stop()
for note in result.run.notes:
    st.warning(note, icon=":material/info:")


# ================================================================================================
# Images
# ================================================================================================
def _tile(cell: Cell) -> None:
    item = result.items.get(cell.key)
    with st.container(key=f"cmp_cell_{cell.key}"):
        if item is not None:
            st.image(item.png, width="stretch", output_format="PNG")
            st.markdown(f"**{cell.caption}**")
            p = item.params
            skipped = item.trace.skipped_levels if cell.level is None else []  # alone: one level anyway
            st.caption(
                f"seed {p.seed} · {p.width}×{p.height} · {p.steps} steps"
                + (f" · near-silent, not conditioned: {', '.join(skipped)}" if skipped else "")
            )
        elif cell.params is None and cell.mode is not None:  # a caption: in a box, a tile's width broke words
            st.caption(f":material/volume_off: {cell.caption}")
        elif cell.params is not None:
            st.caption(f"{cell.caption}: not generated ({'stopped by an error' if result.run.error else 'cancelled'})")


st.markdown(f"#### {widgets.escape_md(result.plan.title)}")  # the prompt and clip, as typed
if older := widgets.older_settings_note(
    s.compare.key, _asked(), _asked(_other_quality())
):  # as the live preview's "older settings"
    st.info(older, icon=":material/history:")
explained = False
for title, cells in result.plan.rows:
    corner = cells[0].params is None and cells[0].mode is None  # the empty cell under "without audio"
    if not corner:
        st.markdown(f"**{title}**")
    for i, (col, cell) in enumerate(zip(st.columns(result.plan.columns, gap="small"), cells, strict=False)):
        with col:
            if i == 0 and corner:  # the row's title goes there
                st.markdown(f"**{title}**")
                if not explained:
                    st.caption(
                        "This level conditions every denoising step (the switch points moved to the "
                        "ends); the others stay silent."
                    )
                    explained = True
            else:
                _tile(cell)


# ================================================================================================
# Export: one captioned grid with every tile's params, and a ZIP (core.compare.compare_files)
# ================================================================================================
def _exports(with_wavs: bool) -> tuple[bytes, bytes]:
    key = (result.id, with_wavs)
    if s.compare_files is None or s.compare_files[0] != key:
        s.compare_files = (key, *compare_files(result.run, with_wavs))
    return s.compare_files[1], s.compare_files[2]


def _keep(kept: CompareResult) -> None:
    added = s.keep_compare(kept)
    st.toast(f"Added {added} image{'s' * (added != 1)} to the Gallery")


# One wrapping row, each control as wide as its label: in four columns "Comparison grid (PNG)" read
# "Compari…" at 1024 px.
with st.container(border=True, horizontal=True, vertical_alignment="center", key="cmp_export"):
    try:
        grid, archive = _exports(bool(bindings.value("cmp_wavs")))
        st.download_button(
            "Comparison grid (PNG)",
            grid,
            file_name="clap2diff_compare.png",
            mime="image/png",
            on_click="ignore",
            key="cmp_grid",
            icon=":material/grid_view:",
            help="One captioned image of the whole comparison; it carries every tile's parameters "
            "(load it in the Gallery to recall any of them).",
        )
        st.download_button(
            "ZIP",
            archive,
            file_name="clap2diff_compare.zip",
            mime="application/zip",
            on_click="ignore",
            key="cmp_zip",
            icon=":material/folder_zip:",
            help="Every image as a PNG with its parameters, the grid, and params.json.",
        )
    except (ExportError, ValueError) as exc:
        errors.show(exc)
    st.toggle(  # its value was read above (the session's): the ZIP it shapes comes first
        "Add the stems and bands as WAV",
        key="cmp_wavs",
        persist_state=PS,
        width="content",
        help="Put every separated part in the ZIP as a 32-bit float WAV (stereo for Demucs stems).",
    )
    kept = s.compare_kept(result)
    st.button("Keep in the Gallery", key="cmp_keep", icon=":material/photo_library:", on_click=_keep,
              args=(result,), disabled=kept)  # fmt: skip
    if kept:
        st.caption("In the Gallery.", width="content")


def _start_scores() -> None:
    asked = ("compare", result.id)
    if not (s.compare_scores.running and s.compare_scores.asked == asked):  # a double click scores once
        s.compare_scores.start(scoring.compare_scores_job(engine, None, result.items, key=asked))


with st.container(key="cmp_scores"):  # this comparison's scores, or its scoring's progress or error
    scored, asked = s.compare_scores, ("compare", result.id)
    if scored.key == asked and scored.result is not None:
        widgets.scores_rows_table(scored.result)
    elif not (scored.running and scored.asked == asked):
        st.button("Score the images (CLIP)", on_click=_start_scores, key="cmp_score", icon=":material/analytics:",
                  help="Prompt match, heard in the image, and the audio effect against the no-audio tile.")  # fmt: skip
    if scored.error and scored.asked == asked:
        errors.show(scored.error)
    if scored.running and scored.job is not None:
        widgets.follow(scored.job)
        s.collect_jobs()
        st.rerun()


# ================================================================================================
# What each source hears
# ================================================================================================
if not result.views:
    st.stop()
st.markdown("### What each source hears")
st.caption(
    "Every part of each source mode: listen to it, see it (one dB scale per mode: 0 dB is the loudest "
    "bin of the window's mix, so a quiet part looks quiet), and read what CLAP heard in it."
)
tabs = st.tabs([mode_label(m) for m in result.views])
for tab, view in zip(tabs, result.views.values(), strict=True):
    with tab:
        st.caption(f"{mode_about(view.mode)}. The window CLAP hears: {view.start:.1f}–{view.end:.1f} s.")
        if view.skipped:
            st.warning(
                f"Near-silent here, so not conditioned: **{', '.join(view.skipped)}**.", icon=":material/volume_off:"
            )
        if view.unfed:
            st.warning(
                f"No part feeds the **{', '.join(view.unfed)}**: its steps get no audio.", icon=":material/info:"
            )
        # At most 3 cards a row (4 stems: 2 × 2): narrower, a card's player loses its seek bar.
        per_row = 2 if len(view.parts) == 4 else 3
        for start in range(0, len(view.parts), per_row):
            row = view.parts[start : start + per_row]
            for col, part in zip(st.columns(per_row, gap="medium"), row, strict=False):
                with col:
                    widgets.part_card(
                        view, part, "cmp", height=200, heard_title="CLAP hears", heard_top=5, download=True
                    )
        if view.heard_levels:
            lines = []
            for level, labels in view.heard_levels.items():
                top = ", ".join(f"{h.label} {h.weight:.0%}" for h in labels[:3])
                lines.append(f"{widgets.LEVEL_ICON.get(level, '')} **{level}** hears {top}")
            st.caption("What conditions each level (its parts summed): " + " · ".join(lines))
