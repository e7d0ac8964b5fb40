"""Compare: the same seed and prompt with the mixed clip, Demucs stems and frequency bands side by
side; each level alone; and, for every stem and band, a player, a spectrogram and what CLAP heard.
Exports the whole comparison as one captioned grid PNG (with every tile's params) and as a ZIP."""

from __future__ import annotations

import streamlit as st

from core import compare
from studio import charts, errors, jobs, nav, state, widgets
from studio import engine as engine_mod
from studio.state import PERSIST as PS

ss = st.session_state
engine = engine_mod.current()

st.markdown("## Compare")
st.caption(
    "Same seed, prompt and settings as the Generate page; only where each level's sound comes from "
    "changes. Does separating the sources change the picture, and what does each level add?"
)

if engine is None:
    st.info("Load models in the sidebar first.")
    st.stop()

params = state.current_params(models=engine.spec.name)
choice = state.audio_choice()
st.markdown(f"**Prompt:** {params.prompt or '(none)'} · **audio:** {choice.label or 'none'} · **seed** {params.seed}")

for key, value in (
    ("cmp_modes", list(compare.MODES)),
    ("cmp_without", True),
    ("cmp_alone", True),
    ("cmp_quality", "preview"),
    ("cmp_wavs", False),
):
    ss.setdefault(key, value)
job = ss.get("compare_job")
running = job is not None and job.running

with st.container(border=True, key="cmp_controls"):
    c1, c2, c3, c4 = st.columns([3.2, 1.6, 1.5, 1.3], vertical_alignment="bottom")
    c1.multiselect(
        "Source modes",
        list(compare.MODES),
        format_func=compare.mode_label,
        key="cmp_modes",
        persist_state=PS,
        help=" ".join(f"{compare.mode_label(m)}: {compare.mode_about(m)}." for m in compare.MODES),
    )
    with c2:
        st.toggle(
            "Without audio",
            key="cmp_without",
            persist_state=PS,
            help="Add the same image with audio strength 0 (plain Stable Diffusion) as a reference.",
        )
        st.toggle(
            "Each level alone",
            key="cmp_alone",
            persist_state=PS,
            help="One row per level: that level conditions every denoising step (switch points moved "
            "to the ends), in every source mode.",
        )
    c3.radio(
        "Quality",
        ["preview", "full"],
        key="cmp_quality",
        horizontal=True,
        persist_state=PS,
        format_func={"preview": "Preview", "full": "Full"}.get,
        help="Preview uses the preview steps and size from the sidebar; full uses the Generate settings.",
    )


def _start() -> None:
    p = state.current_params(models=engine.spec.name)
    if ss.get("cmp_quality", "preview") == "preview":
        p = state.preview_params(p)
    ss.pop("compare_error", None)
    ss.pop("compare_note", None)
    choice = state.audio_choice()
    if not choice.ok or not choice.path:
        ss["compare_error"] = f"**Audio missing**: {choice.problem or 'choose a clip on the Generate page.'}"
        return
    modes = compare.ordered_modes(ss.get("cmp_modes") or [])
    if not modes:
        ss["compare_error"] = "Choose at least one source mode."
        return
    for mode in modes:
        problem = state.check_params(p.replace(sources=mode))
        if problem is not None:
            ss["compare_error"] = errors.describe(problem)
            return
    ss["compare_job"] = jobs.compare_job(
        engine, p, modes, alone=bool(ss.get("cmp_alone")), without=bool(ss.get("cmp_without")), audio_label=choice.label
    )


def _cancel() -> None:
    if ss.get("compare_job") is not None:
        ss["compare_job"].request_cancel()


with c4:
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
    st.button(
        "Stop",
        on_click=_cancel,
        disabled=not running,
        key="cmp_cancel",
        icon=":material/stop:",
        width="stretch",
        help="Stop after the current step; what is done is kept.",
    )
if not choice.ok:
    st.info(choice.problem)
    nav.link("generate", "Choose audio on Generate", icon=":material/graphic_eq:")

if running:
    widgets.follow(job)
    widgets.collect_jobs()
    st.rerun()
if ss.get("compare_error"):
    st.error(ss["compare_error"], icon=":material/error:")
if ss.get("compare_note"):
    st.warning(ss["compare_note"])

run = ss.get("compare_run")
if not run:
    st.caption("Press **Run** to generate the source modes side by side.")
    st.stop()

plan: compare.Plan = run["plan"]
items: dict = run["items"]
views: dict = run["views"]
for note in run.get("notes", []):
    st.warning(note, icon=":material/info:")


# ================================================================================================
# Images
# ================================================================================================
def _tile(cell: compare.Cell) -> None:
    item = items.get(cell.key)
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
        elif cell.params is None and cell.mode is not None:
            st.info(cell.caption, icon=":material/volume_off:")
        elif cell.params is not None:
            st.caption(f"{cell.caption}: not generated (cancelled)")


st.markdown(f"#### {plan.title}")
explained = False
for title, cells in plan.rows:
    corner = cells[0].params is None and cells[0].mode is None  # the empty cell under "without audio"
    if not corner:
        st.markdown(f"**{title}**")
    for i, (col, cell) in enumerate(zip(st.columns(plan.columns, gap="small"), cells, strict=False)):
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
# Export: one captioned grid with every tile's params, and a ZIP
# ================================================================================================
def _exports(with_wavs: bool) -> tuple[bytes, bytes]:
    key = (run["id"], with_wavs)
    cached = ss.get("compare_exports")
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    grid, archive = compare.compare_files(run["run"], with_wavs)
    ss["compare_exports"] = (key, grid, archive)
    return grid, archive


with st.container(border=True, key="cmp_export"):
    c1, c2, c3, c4 = st.columns([1.3, 1.1, 1.6, 1.3], vertical_alignment="center")
    c3.toggle(
        "Add the stems and bands as WAV",
        key="cmp_wavs",
        persist_state=PS,
        help="Put every separated part in the ZIP as a 32-bit float WAV (stereo for Demucs stems).",
    )
    from core.export import ExportError

    try:
        grid, archive = _exports(bool(ss.get("cmp_wavs")))
        c1.download_button(
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
        c2.download_button(
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
    if c4.button("Keep in the Gallery", key="cmp_keep", icon=":material/photo_library:"):
        for item in items.values():
            state.add_history(item)
        st.toast("Added to the Gallery")


# ================================================================================================
# What each source hears
# ================================================================================================
if not views:
    st.stop()
st.markdown("### What each source hears")
st.caption(
    "Every part of each source mode: listen to it, see it (one dB scale per mode: 0 dB is the loudest "
    "bin of the window's mix, so a quiet part looks quiet), and read what CLAP heard in it."
)


def _part(view, part) -> None:
    from core.sources import part_filename, part_wav_bytes

    level = part.level
    color = charts.LEVEL_COLORS.get(level or "", "#3A6EA5")
    where = f"→ {widgets.LEVEL_ICON[level]} {level}" if level else "→ every level, by token position"
    db = widgets.db_text(part.db)
    with st.container(key=f"cmp_part_{view.mode}_{part.name}"):
        st.markdown(f"**{part.name}** {where}{db}")
        widgets.chart(
            charts.source_figure(part.mel, None, height=200, offset=view.start),
            key=f"cmp_fig_{view.mode}_{part.name}",
            toolbar=False,
        )
        st.audio(part.player, format="audio/wav")
        if part.heard:
            widgets.chart(
                charts.heard_figure(part.heard[:5], title="CLAP hears", color=color),
                key=f"cmp_heard_{view.mode}_{part.name}",
                toolbar=False,
            )
        sources, name = view.sources, part.name
        st.download_button(
            "Save as WAV",
            lambda: part_wav_bytes(sources, name),
            file_name=part_filename(sources, name, view.wav_prefix()),
            mime="audio/wav",
            on_click="ignore",
            key=f"cmp_wav_{view.mode}_{part.name}",
            icon=":material/download:",
            help="This part as a 32-bit float WAV (stereo for a Demucs stem).",
        )


tabs = st.tabs([compare.mode_label(m) for m in views])
for tab, view in zip(tabs, views.values(), strict=True):
    with tab:
        st.caption(f"{compare.mode_about(view.mode)}. The window CLAP hears: {view.start:.1f}–{view.end:.1f} s.")
        if view.skipped:
            st.warning(
                f"Near-silent here, so not conditioned: **{', '.join(view.skipped)}**.", icon=":material/volume_off:"
            )
        if view.unfed:
            st.warning(
                f"No part feeds the **{', '.join(view.unfed)}**: its steps get no audio.", icon=":material/info:"
            )
        cols = st.columns(max(3, len(view.parts)), gap="medium")
        for col, part in zip(cols, view.parts, strict=False):
            with col:
                _part(view, part)
        if view.heard_levels:
            lines = []
            for level, labels in view.heard_levels.items():
                top = ", ".join(f"{h.label} {h.weight:.0%}" for h in labels[:3])
                lines.append(f"{widgets.LEVEL_ICON.get(level, '')} **{level}** hears {top}")
            st.caption("What conditions each level (its parts summed): " + " · ".join(lines))
