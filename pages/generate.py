"""Generate: audio + prompt + knobs -> a live preview on every slider release, and a full render."""

from __future__ import annotations

import streamlit as st

from core import GenerationParams, clip_name
from studio import bindings, errors, jobs, knob_memory, loader, scoring, widgets
from studio.fast import fast_settings
from studio.history import HistoryItem
from studio.limits import model_allowed
from studio.session import session

engine = loader.current()
s = session()

st.markdown("## Generate")
st.caption(
    "Pick a sound, describe a scene, and shape how the sound enters the picture. "
    "The preview follows every slider; **Render** makes the full-quality image."
)

top_left, top_right = st.columns(2, gap="large")
with top_left:
    st.markdown("#### 1 · Audio")
    audio = widgets.audio_picker()[0]  # not the clip: page globals outlive the run (docs/OPERATIONS.md, Memory)
with top_right:
    st.markdown("#### 2 · Prompt and sampling")
    widgets.text_and_sampling()

if s.recalled is not None:  # cleared once the page has run past the live panel (its preview may rerun the page)
    recalled = s.recalled
    models = widgets.escape_md(recalled.models)  # a PNG's text, shown as written (never as Markdown)
    if engine is not None and not model_allowed(recalled.models):  # a PNG never picks what the server loads
        st.info(
            f"Settings restored. This image was made with the models **{models}**, which this studio "
            f"does not offer: you keep using **{engine.spec.name}**, so the picture will differ."
        )
    elif engine is not None and recalled.models != engine.spec.name:
        st.info(
            f"Settings restored. This image was made with the models **{models}**; you are "
            f"using **{engine.spec.name}**: choose the same models in the sidebar to reproduce it exactly."
        )
    elif not s.recall_notes and not s.recall_missing and not (recalled.audio_path and audio.problem):  # all back
        st.success(
            "Settings restored: the sliders hold this image's values.", icon=":material/settings_backup_restore:"
        )
    if s.recall_about:
        st.info(s.recall_about, icon=":material/info:")
    if s.recall_notes:
        st.warning("Settings restored, except what this studio does not allow: " + "; ".join(s.recall_notes) + ".")
    if recalled.audio_path and audio.problem:
        why = ("this server's file of that name has other sound (not the recording this image was made with). "
               "Upload the original above, or choose that file to make a new image with it." if s.recall_clip_differs
               else "it is not on this server. Choose it again above.")  # fmt: skip
        st.warning(f"Settings restored, except the clip **{widgets.escape_md(clip_name(recalled.audio_path))}**: {why}")
    for checkpoint in s.recall_missing:
        st.warning(f"Settings restored, except the trained checkpoint **{widgets.escape_md(checkpoint)}**: it is not "
                   "among this server's runs. Choose its folder (or a finished run) in the sidebar, or switch to "
                   "Zero-shot.")  # fmt: skip


def _text_norm(params: GenerationParams) -> float | None:
    """The prompt's own text-token norm (studio/jobs.py: never waits behind a generation)."""
    return None if engine is None else jobs.text_norm(engine, s.text_norms, params)


def _input_problem(params: GenerationParams) -> str | None:
    """What stops a render before it starts (no audio, a setting out of range), for people."""
    choice = widgets.checked_choice()
    if not choice.ok:
        return f"**Audio problem**: {choice.problem}"
    problem = errors.check_params(params)
    return errors.describe(problem) if problem is not None else None


def _start_render() -> None:
    if engine is None or s.render.running:  # a double click starts one render
        return
    if bindings.value("ui_new_seed"):
        bindings.randomise_seed()
    params = bindings.current_params(models=engine.spec.name)
    problem = _input_problem(params)
    if problem is not None:
        s.render.fail(problem)
        return
    s.render.start(jobs.generation_job(engine, params, kind="render"))


@st.fragment
def live_panel() -> None:
    """Sliders and the live preview. A slider release reruns only this fragment, which re-renders
    the preview at preview quality from the engine's cached encodings.

    The preview job starts first, from the widget values Streamlit has already put in the session,
    and the panel waits for it a moment (jobs.QUICK) before drawing anything else: a preview done
    by then is sent once, as the new picture, and only then are the sliders redrawn (a fragment must
    re-send them). Drawing them beside the loop held the GIL and gave the browser ~60 elements to
    render on the same cores: the loop ran 15-35 ms slower (bench/studio_latency.py). A slower
    preview shows the old picture marked "updating…", the sliders, and a progress bar until it is
    done."""
    params = bindings.current_params(models=engine.spec.name if engine else None)
    knob_memory.remember(s)  # a fragment's rerun never reaches app.py: these are the most moved knobs
    if s.render.input_problem and _input_problem(params) != s.render.error:
        st.rerun()  # fixed (or wrong another way) here: the render area, outside this fragment, follows
    todo, preview_params, reason = _preview_job(params)

    left, right = st.columns([1.45, 1], gap="large")
    with right.container(key="preview_box"):  # before the sliders: see the docstring
        st.markdown("#### Live preview")
        preview_status = st.container()
        if isinstance(reason, BaseException):
            errors.show(reason, preview_status)
        elif reason:
            preview_status.caption(reason)
        shown = st.empty()
        # A quick preview: its picture is sent once, not the old one first.
        if todo is not None and todo.wait(jobs.QUICK):
            s.collect_jobs()
            todo = None
        _draw_preview(shown, preview_params, updating=todo is not None)
        drawn = _heard_signature(s.preview.result)
        if drawn:  # of the picture above: older too when nothing is coming to replace it (a clip refused)
            older = todo is None and s.preview.key != preview_params
            st.markdown("**What CLAP heard**" + (" · *older settings*" if older else ""))
            widgets.heard(s.preview.result.trace, key=str(hash(drawn)), top_k=s.preview.result.params.top_k)
    with left:
        st.markdown("#### 3 · Sound → picture")
        widgets.conditioning_sliders(_text_norm(params))
    if todo is not None:
        widgets.follow(todo, preview_status)
        s.collect_jobs()
        if _heard_signature(s.preview.result) != drawn:
            widgets.rerun_fragment()  # new labels (a new clip, top-k...): redraw the whole panel
        _draw_preview(shown, preview_params, updating=False)  # same labels: just swap the picture


def _heard_signature(item: HistoryItem | None) -> tuple:
    if item is None:
        return ()
    return tuple((src, h.label, round(float(h.weight), 4)) for src, labels in item.trace.heard.items() for h in labels)


def _preview_job(params: GenerationParams):
    """(job to follow or None, preview params, why there is no preview: text, an error or None)."""
    if engine is None:
        return None, None, loader.NO_MODELS
    preview_params = bindings.preview_params(params)
    problem = errors.check_params(preview_params)
    if not bindings.value("ui_live_preview", True):
        return None, preview_params, "Live preview is off (sidebar)."
    choice = widgets.checked_choice()
    if not choice.ok:
        unusable = "This clip cannot be used (see the message under Audio): the preview waits for one that can."
        return None, preview_params, unusable if choice.given else "Choose audio to see a preview."
    if problem is not None and problem.field == "checkpoint" and not preview_params.checkpoint:
        return None, preview_params, "Trained mode: choose its checkpoint in the sidebar (a folder, or a finished run)."
    if problem is not None:
        return None, preview_params, problem
    if s.render.running:
        return None, preview_params, "Preview paused while the full render runs."
    if s.preview.key == preview_params:
        return None, preview_params, None
    job = s.preview.job
    if job is None or job.key != preview_params or (job.done.is_set() and job.collected):
        fast = fast_settings()  # the sidebar's fast paths: previews only
        job = s.preview.supersede(lambda: jobs.generation_job(engine, preview_params, "preview", fast))
    return job, preview_params, None


def _draw_preview(slot, preview_params: GenerationParams | None, updating: bool) -> None:
    """The latest preview picture (or its error) into `slot`, replacing what was there."""
    with slot.container():
        job = s.preview.job  # refused by a full queue, it is tried again later: said until then
        refused = job is not None and job.key == preview_params and job.done.is_set() and job.error is not None
        if s.preview.error and (s.preview.key == preview_params or refused):
            errors.show(s.preview.error)
        item = s.preview.result
        if item is None:
            return
        stale = s.preview.key != preview_params
        st.image(widgets.inline_png(item.png), width="stretch")
        p = item.params
        st.caption(
            f"{p.steps} step{'s' * (p.steps != 1)} · {p.width}×{p.height} · {widgets.audio_setup(p)} · "
            f"denoise {widgets.loop_time(item.timings)}"
            + (" · updating…" if stale and updating else " · older settings" if stale else "")
        )
        widgets.skipped_note(item.trace, item.params)


def _render_area(rendering: bool):
    """Render and Cancel live outside the fragment: a click there is a full rerun, which Streamlit
    lets interrupt a running script (a fragment rerun would wait for it to finish)."""
    st.markdown("#### 4 · Render")
    st.button(
        "Render",
        type="primary",
        on_click=_start_render,
        disabled=rendering or engine is None,
        key="btn_render",
        icon=":material/play_arrow:",
        width="stretch",
        help="Full quality with the settings on the left; kept in the Gallery.",
    )
    if rendering:
        st.button(
            "Cancel",
            on_click=s.render.cancel,
            key="btn_cancel",
            icon=":material/stop:",
            width="stretch",
            help="Stop the render after the current step.",
        )
    status = st.container()
    if s.render.input_problem:
        # the same params as the live panel's (which reruns the page while the two disagree)
        s.render.refresh_input_problem(
            _input_problem(bindings.current_params(models=engine.spec.name if engine else None))
        )
    if s.render.error:
        errors.show(s.render.error)
    if s.render.note:
        st.warning(s.render.note, icon=":material/stop_circle:")
    item = s.render.result
    if item is None:
        st.caption("Full quality with the settings on the left. Each render is kept in the Gallery.")
        return status
    st.image(item.png, width="stretch", output_format="PNG")
    st.caption(
        widgets.seed_line(item.params, item.timings.get("total", 0.0)) + " · " + widgets.audio_setup(item.params)
    )
    widgets.skipped_note(item.trace, item.params)
    widgets.download_png(item, key=f"dl_render_{item.id}")
    scored = s.scores
    if scored.key == item.id and scored.result is not None:
        widgets.scores_table(scored.result)
    elif not (scored.running and scored.asked == item.id):
        st.button("Score (CLIP)", on_click=_start_scores, args=(item,), key="btn_scores", icon=":material/analytics:",
                  help="How well the image shows its prompt and its sound (docs/SCORES.md).")  # fmt: skip
    if scored.error and scored.asked == item.id:  # a failed scoring of this render (CLIP missing, out of memory)
        errors.show(scored.error)
    return status


def _start_scores(item: HistoryItem) -> None:
    if engine is None or (s.scores.running and s.scores.asked == item.id):  # a double click scores once
        return
    s.scores.start(scoring.score_job(engine, None, item.params, item.image, item.trace.heard, key=item.id))


st.divider()
panel, render_col = st.columns([2.7, 1], gap="large")
_rendering = s.render.running
with render_col.container(key="render_box"):  # drawn first: its buttons are live while the preview computes
    _render_status = _render_area(_rendering)
with panel:
    live_panel()
s.recalled = None  # the recall's messages stayed through any rerun the new preview asked for
if s.scores.running and s.scores.job is not None:
    widgets.follow(s.scores.job, _render_status)
    s.collect_jobs()
    st.rerun()
if _rendering and s.render.job is not None:
    widgets.follow(s.render.job, _render_status)
    s.collect_jobs()
    st.rerun()  # redraw the buttons (and the seed, if it was randomised) now the render is over
