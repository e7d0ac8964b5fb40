"""Sweep: up to three knobs over a grid of values (X columns, Y rows, Z one grid each), every tile
with its settings and scores, a heatmap of a score over X and Y, and any tile back into Generate."""

from __future__ import annotations

import streamlit as st

from core import SweepError
from studio import bindings, errors, loader, nav, sweep_charts, sweeping, widgets
from studio.bindings import PERSIST as PS
from studio.session import session

s = session()
engine = loader.current()

st.markdown("## Sweep")
st.caption(
    "Same clip, prompt and settings as the Generate page; up to three knobs take each of their values. "
    "Every tile carries its settings, and the scores say how well each image shows its prompt and its sound."
)
params, choice = widgets.generate_settings(engine)
sweeping.ensure_defaults()
running = s.sweep.running


def _start() -> None:
    if s.sweep.running or widgets.refused_for_clip("sweep"):  # one sweep a double click; the box says why
        return
    base = full = bindings.current_params(models=engine.spec.name)
    preview = bindings.value("sweep_quality", "preview") == "preview"
    if preview:
        base = bindings.preview_params(full)
    try:
        plan = sweeping.plan_from_page(base)
    except SweepError as exc:
        s.sweep.fail(f"**Sweep settings**: {sweeping.worded(exc)}")
        return
    if not plan.axes:
        s.sweep.fail("Choose at least one axis (a knob and its values).")
        return
    problem = errors.check_params(base)
    if problem is not None:
        s.sweep.fail(errors.describe(problem))
        return
    if over := sweeping.over_limits_problem(plan):  # an axis of steps or sizes, tile by tile
        s.sweep.fail(over)
        return
    scores = bool(bindings.value("sweep_scores", True))  # CLIP loads in the job, with its progress (studio/scoring.py)
    s.sweep.start(sweeping.sweep_job(engine, plan, None, drawn_from=full if preview else None, scores=scores))


with st.container(border=True, key="sweep_controls"):
    cols = st.columns(3)
    for col, axis in zip(cols, sweeping.AXES, strict=True):
        with col:
            st.selectbox(
                f"{axis.upper()} axis" + {"x": " (columns)", "y": " (rows)", "z": " (one grid each)"}[axis],
                [sweeping.NONE, *sweeping.SWEEPABLE],
                format_func=sweeping.label,
                key=sweeping.field_key(axis),
                on_change=sweeping.on_field_change,
                args=(axis,),
                persist_state=PS,
            )
            if bindings.value(sweeping.field_key(axis), sweeping.NONE) != sweeping.NONE:
                st.text_input(
                    "Values",
                    key=sweeping.values_key(axis),
                    persist_state=PS,
                    help="Comma-separated; for switch points, pairs separated by ';' (0.2,0.5;0.4,0.7).",
                )
                if note := sweeping.beyond_slider_note(axis, params):
                    st.caption(note)
    # One wrapping row, each control as wide as its label: in fixed columns "Scores (CLIP)" read
    # "Scores (CL…" at 1024 px.
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium", key="sweep_actions"):
        widgets.quality_choice("sweep_quality")
        st.toggle("Scores (CLIP)", key="sweep_scores", persist_state=PS, help="Score every tile (docs/SCORES.md).",
                  width="content")  # fmt: skip
        st.button("Run", type="primary", on_click=_start, disabled=running, key="sweep_run",
                  icon=":material/play_arrow:", help="Generate every tile (the same seed unless the seed is an axis).")  # fmt: skip
        st.button("Stop", on_click=s.sweep.cancel, disabled=not running, key="sweep_cancel", icon=":material/stop:",
                  help="Stop after the current step; the tiles done are kept.")  # fmt: skip

widgets.clip_problem_box(choice)  # a clip that cannot be used is an error, as on Generate; none yet, a hint

if running and s.sweep.job is not None:
    widgets.follow(s.sweep.job, tiles=4)  # each tile appears as it finishes
    s.collect_jobs()
    st.rerun()
if s.sweep.error:
    errors.show(s.sweep.error)
if s.sweep.note:
    st.warning(s.sweep.note, icon=":material/info:")

run = s.sweep.result
if run is None:
    if choice.ok:  # else the clip's message above is what to do first: "Press Run" would contradict it
        st.caption(sweeping.start_hint())
    st.stop()

nz, ny, nx = run.plan.shape()
z = 0
if nz > 1:
    z_axis = run.plan.axis("z")
    z = st.select_slider(z_axis.named, list(range(nz)), format_func=z_axis.shown, key=sweeping.Z_KEY)
try:
    grid_pngs, archive, csv_bytes = sweeping.files(run)  # built once per sweep
except ValueError as exc:
    errors.show(exc)
    st.stop()

tiles = sweeping.tiles_at(run, z)
score = sweeping.scores_offered()[0]
if tiles:  # one wrapping row of pickers as wide as their values: in the heatmap's column they were cut
    tile_names = [" · ".join(t.labels.values()) for t in tiles]
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key="sweep_pickers"):
        score = st.selectbox("Score", sweeping.scores_offered(), format_func=sweeping.score_label, key="sweep_score",
                             persist_state=PS, width=sweeping.picker_px(map(sweeping.score_label, sweeping.scores_offered())))  # fmt: skip
        st.selectbox("Tile", range(len(tiles)), format_func=tile_names.__getitem__, key=sweeping.TILE_KEY,
                     width=sweeping.picker_px(tile_names))  # fmt: skip
        st.button(
            "Open in Generate",
            key="sweep_recall",
            on_click=sweeping.recall_tile,
            args=(run, z, s.sweep.key.drawn_from if s.sweep.key else None),
            icon=":material/settings_backup_restore:",
            help="Put this tile's settings into the Generate page's sliders (a preview tile keeps Generate's steps and size).",
        )
left, right = st.columns([1.4, 1], gap="medium")  # medium: the heatmap's cells get the room
with left:
    if tiles:
        st.image(grid_pngs[z], width="stretch", output_format="PNG")
    else:  # a sweep stopped before this Z value: an empty grid would say nothing
        st.info(sweeping.missing_tiles(run, z), icon=":material/grid_off:")
with right:
    if tiles:
        with st.container(key="sweep_heatmap"):
            if gap := sweeping.heatmap_gap(run, score, z, s.sweep.key):
                st.info(gap, icon=":material/info:")  # wrapped text, never cut inside a figure
            else:
                figure = sweep_charts.sweep_heatmap(run, score, z, title=sweeping.score_label(score))
                widgets.chart(figure, key=f"sweep_heat_{score}_{z}", toolbar=False)
    with st.container(horizontal=True, gap="small"):  # each as wide as its label (3 columns cut them at 1024 px)
        st.download_button("Grid", grid_pngs[z], file_name=f"sweep_grid_{z + 1:02d}.png", mime="image/png",
                           on_click="ignore", key="sweep_dl_grid", icon=":material/grid_view:", disabled=not tiles)  # fmt: skip
        st.download_button("ZIP", archive, file_name="sweep.zip", mime="application/zip", on_click="ignore",
                           key="sweep_dl_zip", icon=":material/folder_zip:")  # fmt: skip
        st.download_button("CSV", csv_bytes, file_name="scores.csv", mime="text/csv", on_click="ignore",
                           key="sweep_dl_csv", icon=":material/table:")  # fmt: skip
nav.link("generate", "Back to Generate", icon=":material/graphic_eq:")
