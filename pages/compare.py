"""Compare: the same seed and prompt with and without audio, and each hierarchy level alone."""

from __future__ import annotations

import streamlit as st

from studio import compare, errors, jobs, nav, state, widgets
from studio import engine as engine_mod
from studio.state import PERSIST as PS

ss = st.session_state
engine = engine_mod.current()

st.markdown("## Compare")
st.caption("Same seed, prompt and settings as the Generate page; only the audio changes. "
           "Does the sound matter, and what does each level add?")

if engine is None:
    st.info("Load models in the sidebar first.")
    st.stop()

params = state.current_params(models=engine.spec.name)
choice = state.audio_choice()
st.markdown(f"**Prompt:** {params.prompt or '(none)'} · **audio:** {choice.label or 'none'} · "
            f"**seed** {params.seed} · sources {params.sources}")

if "cmp_variants" not in ss:
    ss["cmp_variants"] = list(compare.VARIANTS)
c1, c2, c3 = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
c1.multiselect("Variants", list(compare.VARIANTS), format_func=compare.VARIANTS.get, key="cmp_variants",
               persist_state=PS)
c2.radio("Quality", ["preview", "full"], key="cmp_quality", horizontal=True, persist_state=PS,
         format_func={"preview": "Preview", "full": "Full"}.get,
         help="Preview uses the preview steps and size from the sidebar; full uses the Generate settings.")
job = ss.get("compare_job")
running = job is not None and job.running


def _start() -> None:
    p = state.current_params(models=engine.spec.name)
    if ss.get("cmp_quality", "preview") == "preview":
        p = state.preview_params(p)
    ss.pop("compare_error", None)
    ss.pop("compare_note", None)
    if not state.audio_choice().ok:
        ss["compare_error"] = f"**Audio missing**: {state.audio_choice().problem}"
        return
    problem = state.check_params(p)
    if problem is not None:
        ss["compare_error"] = errors.describe(problem)
        return
    items = compare.variants(p, ss.get("cmp_variants") or [])
    if not items:
        ss["compare_error"] = "Choose at least one variant."
        return
    ss["compare_job"] = jobs.batch_job(engine, items)


def _cancel() -> None:
    if ss.get("compare_job") is not None:
        ss["compare_job"].request_cancel()


b1, b2 = c3.columns(2)
b1.button("Run", type="primary", on_click=_start, disabled=running, key="cmp_run", icon=":material/play_arrow:")
b2.button("Stop", on_click=_cancel, disabled=not running, key="cmp_cancel", icon=":material/stop:")
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

results = ss.get("compare_results") or []
if results:
    cols = st.columns(min(5, len(results)))
    for i, item in enumerate(results):
        with cols[i % len(cols)]:
            st.image(item.png, width="stretch", output_format="PNG")
            st.markdown(f"**{item.caption}**")
            p = item.params
            st.caption(f"seed {p.seed} · {p.width}×{p.height} · {p.steps} steps")
    from core.export import ExportError, grid_png_bytes

    try:
        grid = grid_png_bytes([r.image for r in results], [r.caption for r in results], [r.params for r in results],
                              title=f"{results[0].params.prompt or 'CLAP2Diff'} · seed {results[0].params.seed}")
        st.download_button("Download comparison grid", grid, file_name="clap2diff_compare.png", mime="image/png",
                           on_click="ignore", key="cmp_grid", icon=":material/grid_view:")
    except (ExportError, ValueError) as exc:
        errors.show(exc)
    c1, _ = st.columns([1, 3])
    if c1.button("Keep these in the Gallery", key="cmp_keep"):
        for item in results:
            state.add_history(item)
        st.toast("Added to the Gallery")
else:
    st.caption("Press **Run** to generate the variants side by side.")
