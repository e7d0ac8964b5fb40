"""Shared widgets: the audio picker, the parameter sliders, result cards, job following and
collection. Labels carry units; help texts say what a knob does in the user's words."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import streamlit as st

from core.params import MAX_SEED, SCHEDULERS, GenerationParams
from studio import charts, errors, jobs, state
from studio.state import PERSIST as PS
from studio.uploads import save_upload

HELP = {
    "prompt": "What to draw. The audio adds to it; leave it empty to let the sound alone decide.",
    "negative": "What to keep out of the picture (e.g. 'blurry, text, watermark').",
    "seed": "The starting noise. The same seed and settings give the same image.",
    "steps": "How many denoising steps the full render takes: more is slower and usually finer.",
    "guidance": "How strongly the picture follows the prompt (7–8 is typical; 1 switches it off).",
    "size": "Image size in pixels (multiples of 8; Stable Diffusion 1.5 is made for 512).",
    "scheduler": "The sampling method. DPM++ gives good images in 20–25 steps.",
    "window": "CLAP listens to 10 seconds. For a longer clip, choose where those 10 s start.",
    "weight_fg": "How loud the foreground (the clearest, most confident sound) is in the picture. "
    "It conditions the last, detail-making steps.",
    "weight_bg": "How strongly the background sounds shape the main forms. They condition the middle steps.",
    "weight_amb": "How strongly the ambience sets the overall mood and tone. It conditions the first, "
    "layout-making steps.",
    "norm": "Audio tokens are rescaled to this size before the weights apply. 60 is the method's sweet "
    "spot; compare it with the prompt's own text-token norm shown below. 0 leaves them as they are.",
    "switch": "When the conditioning hands over from ambience to background (left handle) and from "
    "background to foreground (right handle), as a fraction of the denoising steps.",
    "strength": "A global volume knob for all of the audio: 0 is plain Stable Diffusion, 1 is normal, "
    "above 1 lets the sound dominate.",
    "gate": "How much the audio speaks in the UNet's {g} blocks. Mid and up blocks are where the "
    "method puts it; 0 switches a group off.",
    "split": "Mix mode splits CLAP's 77 audio tokens by position: the first go to the foreground, the "
    "middle to the background, the rest to the ambience (seed: 35 | 21 | 21).",
    "switch_style": "Hard switches at the switch points; smooth cross-fades between levels around them.",
    "crossfade": "Width of each smooth cross-fade, as a fraction of the steps.",
    "sources": "Where each level's audio comes from. Mixed: one clip, CLAP's tokens split by position (the "
    "seed's method). Frequency bands: low → ambience, mid → background, high → foreground, each heard "
    "by CLAP on its own. Demucs stems: drums / bass / other / vocals separated, each routed to a level "
    "by the map below. Separation runs once per clip and window; every other knob reuses it.",
    "crossover_low": "Sounds below this frequency go to the ambience: bass, rumble, engine hum, thunder, "
    "the room's drone. Raise it to move low voices and toms out of the background.",
    "crossover_high": "Sounds above this frequency go to the foreground: hiss, cymbals, birdsong, rain's "
    "sparkle, sibilants. Between the two edges (voices, most instruments, traffic) is the background.",
    "stem": "Which level the {stem} stem conditions. Stems that share a level are summed; a level with "
    "no stem gets no audio.",
    "top_k": "How many sound events CLAP names (zero-shot mode).",
    "temperature": "How evenly the named sounds share the weight: low favours the most likely one.",
    "measure": "Per token: the mean length of each token (comparable with the text). Whole tensor: the "
    "seed slides' norm of all 77 tokens together.",
}
SCHEDULER_NAMES = {"dpmpp": "DPM++ 2M", "ddim": "DDIM", "euler": "Euler"}
LEVEL_ICON = {"foreground": ":red[●]", "background": ":green[●]", "ambience": ":blue[●]"}


# ================================================================================================
# Small helpers
# ================================================================================================
def _bounded(key: str, lo: float, hi: float) -> float:
    """Upper bound of a slider that still fits the current (maybe recalled) value."""
    value = st.session_state.get(key, lo)
    try:
        if isinstance(value, (tuple, list)):
            return max(hi, *(float(v) for v in value))
        return max(hi, float(value))
    except (TypeError, ValueError):
        return hi


def slider(
    key: str,
    lo: float,
    hi: float,
    step: float,
    help: str,
    fmt: str | None = None,
    label: str | None = None,
    **kwargs: Any,
) -> Any:
    b = state.BY_KEY[key]
    top = _bounded(key, lo, hi)
    if isinstance(step, int) and isinstance(lo, int):
        top = int(top)
    return st.slider(label or b.label, lo, top, step=step, key=key, help=help, format=fmt, persist_state=PS, **kwargs)


def randomise_seed() -> None:
    st.session_state["w_seed"] = random.randint(0, MAX_SEED)


# ================================================================================================
# Audio
# ================================================================================================
@st.cache_resource(show_spinner=False, max_entries=32)
def _clip(path: str, size: int, mtime: int) -> tuple[Any, str | None]:
    from core.audio import AudioError, load_audio

    try:
        return load_audio(path), None
    except AudioError as exc:
        return None, str(exc)


def clip_for(path: str | None) -> tuple[Any, str | None]:
    """(AudioClip, None) or (None, what is wrong): decoded once per file version, shared."""
    if not path:
        return None, None
    p = Path(path).expanduser()
    try:
        stat = p.stat()
    except OSError:
        return None, f"{p} does not exist or cannot be opened: check the path or pick another file."
    if not p.is_file():
        return None, f"{p} is not a file: pick an audio file (wav, flac, ogg or mp3)."
    return _clip(str(p.resolve()), stat.st_size, stat.st_mtime_ns)


def _on_upload(widget_key: str, path_key: str) -> None:
    ss = st.session_state
    uploaded = ss.get(widget_key)
    ss.pop(f"{path_key}_error", None)
    if uploaded is None:
        ss[path_key] = None
        return
    data = uploaded.getvalue()
    if not data:
        ss[path_key] = None
        ss[f"{path_key}_error"] = f"{uploaded.name} is empty (0 bytes): choose a file that contains audio."
        return
    path = save_upload(uploaded.name or "recording.wav", data)
    clip, problem = clip_for(str(path))
    if problem:
        ss[path_key] = None
        ss[f"{path_key}_error"] = problem
    else:
        ss[path_key] = str(path)


def audio_picker() -> tuple[state.AudioChoice, Any]:
    """Sample / upload / microphone / path / none; a player; the window start. Returns (choice, clip)."""
    from core.audio import CLAP_SECONDS
    from core.samples import sample_paths

    ss = st.session_state
    samples = sample_paths()
    st.radio(
        "Audio source",
        list(state.AUDIO_SOURCES),
        format_func=state.AUDIO_SOURCES.get,
        key=state.AUDIO_SOURCE_KEY,
        horizontal=True,
        label_visibility="collapsed",
        persist_state=PS,
    )
    source = ss[state.AUDIO_SOURCE_KEY]
    if source == "sample":
        if samples:
            if ss.get(state.SAMPLE_KEY) not in samples:
                ss[state.SAMPLE_KEY] = next(iter(samples))
            st.selectbox(
                "Sample clip",
                list(samples),
                key=state.SAMPLE_KEY,
                help="Short clips made for this project (assets/samples).",
                persist_state=PS,
            )
    elif source == "upload":
        st.file_uploader(
            "Audio file",
            type=["wav", "flac", "ogg", "mp3"],
            key="w_upload",
            on_change=_on_upload,
            args=("w_upload", "upload_path"),
            help="wav, flac, ogg or mp3; up to an hour (CLAP hears a 10 s window of it).",
        )
        if ss.get("upload_path_error"):
            st.error(f"**Audio problem**: {ss['upload_path_error']}", icon=":material/error:")
        elif ss.get("upload_path"):
            st.caption(f"Using the upload **{Path(ss['upload_path']).name}**")
    elif source == "record":
        st.audio_input(
            "Record a clip",
            key="w_mic",
            on_change=_on_upload,
            args=("w_mic", "record_path"),
            sample_rate=48000,
            help="Record up to a few seconds with your microphone.",
        )
        if ss.get("record_path_error"):
            st.error(f"**Audio problem**: {ss['record_path_error']}", icon=":material/error:")
    elif source == "path":
        st.text_input(
            "Path of an audio file on this machine",
            key=state.AUDIO_PATH_KEY,
            placeholder="/data/sounds/rain.flac",
            persist_state=PS,
        )

    choice = state.audio_choice()
    clip = None
    if choice.path:
        clip, problem = clip_for(choice.path)
        if problem:
            st.error(f"**Audio problem**: {problem}", icon=":material/error:")
            choice.problem = problem
        elif clip is not None:
            st.audio(str(Path(choice.path).expanduser()))
            chans = "mono" if clip.channels == 1 else "stereo" if clip.channels == 2 else f"{clip.channels} ch"
            st.caption(f"{Path(choice.path).name} · {clip.duration:.1f} s · {clip.sample_rate / 1000:g} kHz · {chans}")
            key = "w_window_start"
            if clip.duration > CLAP_SECONDS or float(ss.get(key, 0.0)) > 0:
                top = max(0.0, round(clip.duration - 0.5, 1))
                if float(ss.get(key, 0.0)) > top:
                    ss[key] = top
                if top > 0:
                    st.slider(
                        state.BY_KEY[key].label,
                        0.0,
                        top,
                        step=0.1,
                        key=key,
                        help=HELP["window"],
                        format="%.1f s",
                        persist_state=PS,
                    )
            elif float(ss.get(key, 0.0)) != 0.0:
                ss[key] = 0.0
    elif choice.problem:
        if not ss.get(f"{source}_path_error"):  # upload/record errors are already shown above
            st.info(choice.problem)
    elif source == "none":
        st.caption("Text only: plain Stable Diffusion, no audio conditioning.")
    return choice, clip


# ================================================================================================
# Parameter widgets
# ================================================================================================
def text_and_sampling() -> None:
    st.text_area(
        state.BY_KEY["w_prompt"].label,
        key="w_prompt",
        height=80,
        help=HELP["prompt"],
        placeholder="e.g. a quiet harbour at dusk",
        persist_state=PS,
    )
    st.text_input(
        state.BY_KEY["w_negative"].label,
        key="w_negative",
        help=HELP["negative"],
        placeholder="e.g. blurry, text, watermark",
        persist_state=PS,
    )
    c1, c2, c3 = st.columns([1.5, 0.4, 2.1], vertical_alignment="bottom")
    c1.number_input(
        state.BY_KEY["w_seed"].label, 0, MAX_SEED, step=1, key="w_seed", help=HELP["seed"], persist_state=PS
    )
    c2.button("", icon=":material/casino:", on_click=randomise_seed, help="Pick a random seed", key="btn_seed")
    c3.toggle(
        "New seed every render",
        key="ui_new_seed",
        persist_state=PS,
        help="Pick a random seed each time you press Render (the seed used is shown with the image).",
    )
    c1, c2 = st.columns(2)
    with c1:
        slider("w_steps", 1, 100, 1, HELP["steps"])
    with c2:
        slider("w_guidance", 0.0, 20.0, 0.5, HELP["guidance"], fmt="%.1f")
    c1, c2, c3 = st.columns(3)
    for col, key in ((c1, "w_width"), (c2, "w_height")):
        col.number_input(state.BY_KEY[key].label, 64, 2048, step=64, key=key, help=HELP["size"], persist_state=PS)
    c3.selectbox(
        state.BY_KEY["w_scheduler"].label,
        list(SCHEDULERS),
        key="w_scheduler",
        format_func=SCHEDULER_NAMES.get,
        help=HELP["scheduler"],
        persist_state=PS,
    )


SOURCE_NAMES = {"mix": "Mixed — the seed's positional split", "bands": "Frequency bands", "stems": "Demucs stems"}


def sources_controls() -> None:
    """Where each level's sound comes from: the mode, the two band edges, the stem → level map.
    None of these re-runs separation when only the map changes (the engine caches the stems)."""
    from core.params import LEVELS, STEMS

    ss = st.session_state
    st.radio(
        state.BY_KEY["w_sources"].label,
        list(SOURCE_NAMES),
        key="w_sources",
        horizontal=True,
        format_func=SOURCE_NAMES.get,
        help=HELP["sources"],
        persist_state=PS,
    )
    mode = ss.get("w_sources", "mix")
    if mode == "mix":
        fg, bg, amb = state.BY_KEY["w_split"].from_widget(ss["w_split"])
        st.caption(
            f"One clip, one CLAP embedding: the first {fg} tokens → :red[●] foreground, the next {bg} → "
            f":green[●] background, the last {amb} → :blue[●] ambience (token split under More)."
        )
    elif mode == "bands":
        c1, c2 = st.columns(2)
        c1.number_input(
            state.BY_KEY["w_crossover_low"].label,
            20.0,
            20000.0,
            step=10.0,
            key="w_crossover_low",
            help=HELP["crossover_low"],
            format="%.0f",
            persist_state=PS,
        )
        c2.number_input(
            state.BY_KEY["w_crossover_high"].label,
            20.0,
            20000.0,
            step=250.0,
            key="w_crossover_high",
            help=HELP["crossover_high"],
            format="%.0f",
            persist_state=PS,
        )
        lo, hi = float(ss["w_crossover_low"]), float(ss["w_crossover_high"])
        st.caption(
            f":blue[●] ambience ← below {lo:g} Hz (bass, rumble, hum) · :green[●] background ← "
            f"{lo:g}–{hi:g} Hz (voices, most instruments) · :red[●] foreground ← above {hi:g} Hz "
            "(hiss, cymbals, birdsong)"
        )
    else:
        cols = st.columns(2)
        for i, stem in enumerate(STEMS):  # 2 × 2: a level's name fits its box in a narrow column
            cols[i % 2].selectbox(
                f"{stem.capitalize()} stem →",
                list(LEVELS),
                key=f"w_stem_{stem}",
                help=HELP["stem"].format(stem=stem),
                persist_state=PS,
            )
        routed = {lv: [s for s in STEMS if ss.get(f"w_stem_{s}") == lv] for lv in LEVELS}
        st.caption(
            " · ".join(f"{LEVEL_ICON[lv]} {lv} ← {' + '.join(routed[lv]) or 'nothing'}" for lv in LEVELS)
            + ". Demucs runs once per clip and window; changing the map reuses its stems."
        )
        empty = [lv for lv in LEVELS if not routed[lv]]
        if empty:
            st.warning(
                f"No stem is mapped to the **{' and the '.join(empty)}**: "
                f"{'its' if len(empty) == 1 else 'their'} steps get no audio.",
                icon=":material/info:",
            )


def db_text(db: float | None) -> str:
    """' · -23.9 dB' (a part's level relative to the window's mix), or '' when unknown or silent."""
    import math

    if db is None or not math.isfinite(db):
        return " · silent" if db is not None else ""
    return f" · {round(db, 1) + 0.0:+.1f} dB"


def skipped_note(trace: Any, params: Any = None, where: Any = None) -> None:
    """Say plainly which levels were near-silent (so not conditioned) in a generation."""
    if not getattr(trace, "skipped_levels", None):
        return
    from core.sources import level_origin

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


def conditioning_sliders(text_norm: float | None) -> None:
    """The knobs that re-run only the denoising loop (engine caches reused)."""
    ss = st.session_state
    with st.container(border=True, key="sources_box"):
        sources_controls()
    st.markdown("**Hierarchy weights**")
    for key, level, hkey in (
        ("w_weight_fg", "foreground", "weight_fg"),
        ("w_weight_bg", "background", "weight_bg"),
        ("w_weight_amb", "ambience", "weight_amb"),
    ):
        slider(
            key, 0.0, 2.0, 0.05, HELP[hkey], fmt="%.2f", label=f"{LEVEL_ICON[level]} {level.capitalize()} weight (×)"
        )
    st.markdown("**When each level speaks**")
    slider("w_switch", 0.0, 1.0, 0.05, HELP["switch"], fmt="%.2f")
    p = ss.get("w_switch", GenerationParams().switch_points)
    st.caption(
        f":blue[●] ambience for the first {p[0]:.0%} of the steps → :green[●] background up to "
        f"{p[1]:.0%} → :red[●] foreground to the end"
    )
    c1, c2 = st.columns(2)
    with c1:
        slider("w_norm_target", 0.0, 200.0, 1.0, HELP["norm"], fmt="%.0f")
        ref = f"{text_norm:.2f}" if text_norm is not None else "—"
        measure = "per token" if ss.get("w_norm_measure") == "token" else "whole tensor"
        st.caption(f"Prompt's own text-token norm: **{ref}** ({measure})")
    with c2:
        slider("w_audio_strength", 0.0, 3.0, 0.05, HELP["strength"], fmt="%.2f")
    st.markdown("**Gate scale per UNet block group**")
    for col, group in zip(st.columns(3), ("down", "mid", "up"), strict=True):
        with col:
            slider(
                f"w_gate_{group}",
                0.0,
                3.0,
                0.05,
                HELP["gate"].format(g=group),
                fmt="%.2f",
                label=f"{group.capitalize()} (×)",
            )

    with st.expander("More: token split, switch style, listening"):
        if ss.get("w_sources", "mix") == "mix":
            slider("w_split", 1, 76, 1, HELP["split"])
            fg, bg, amb = state.BY_KEY["w_split"].from_widget(ss["w_split"])
            st.caption(f":red[●] {fg} | :green[●] {bg} | :blue[●] {amb} tokens")
        c1, c2 = st.columns(2)
        c1.radio(
            state.BY_KEY["w_switch_style"].label,
            ["hard", "smooth"],
            key="w_switch_style",
            horizontal=True,
            help=HELP["switch_style"],
            persist_state=PS,
        )
        with c2:
            if ss.get("w_switch_style") == "smooth":
                slider("w_crossfade", 0.0, 0.5, 0.01, HELP["crossfade"], fmt="%.2f")
        st.radio(
            state.BY_KEY["w_norm_measure"].label,
            ["token", "tensor"],
            key="w_norm_measure",
            horizontal=True,
            format_func={"token": "per token (mean L2)", "tensor": "whole tensor"}.get,
            help=HELP["measure"],
            persist_state=PS,
        )
        if ss.get("w_mode", "zero-shot") == "zero-shot":
            c1, c2 = st.columns(2)
            with c1:
                slider("w_top_k", 1, 20, 1, HELP["top_k"])
            with c2:
                slider("w_temperature", 0.05, 5.0, 0.05, HELP["temperature"], fmt="%.2f")


# ================================================================================================
# Jobs
# ================================================================================================
def follow(job: jobs.Job, where: Any = None, poll: float = 0.1) -> None:
    """Redraw a progress bar until the job ends. A rerun (any click) stops the following, not the job."""
    slot = (where or st).empty()
    bar = slot.progress(job.fraction, text=job.status)
    while not job.wait(poll):
        bar.progress(job.fraction, text=("⏳ " if job.waiting else "") + job.status)
    slot.empty()


def rerun_fragment() -> None:
    """Rerun just the current fragment when this is a fragment rerun, else the whole page
    (Streamlit allows scope="fragment" only in fragment reruns)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def item_from(result: Any, png: bytes, kind: str, caption: str = "", item_id: int | None = None) -> state.HistoryItem:
    return state.HistoryItem(
        id=state.new_id() if item_id is None else item_id,
        kind=kind,
        params=result.params,
        png=png,
        image=result.image,
        trace=result.trace,
        timings=dict(result.timings),
        device=str(result.device),
        dtype=str(result.dtype),
        caption=caption,
    )


def collect_jobs() -> None:
    """Move finished jobs' results into this session's state (runs on every page, every run)."""
    ss = st.session_state
    job: jobs.Job | None = ss.get("render_job")
    if job is not None and job.done.is_set() and not job.collected:
        job.collected = True
        ss.pop("render_error", None)
        ss.pop("render_note", None)
        if job.ok:
            result, png = job.result
            item = item_from(result, png, "render")
            state.add_history(item)
            ss["last_render"] = item.id
            ss["last_trace"] = ("render", item.id)
        elif job.cancelled:
            ss["render_note"] = f"Render cancelled after {job.step} of {job.total} steps: nothing was kept."
        else:
            ss["render_error"] = errors.describe(job.error)
    job = ss.get("preview_job")
    if job is not None and job.done.is_set() and not job.collected:
        job.collected = True
        if job.ok:
            result, png = job.result
            ss["preview"] = item_from(result, png, "preview", item_id=0)
            ss["preview_key"] = job.params
            ss["last_trace"] = ("preview", 0)
            ss.pop("preview_error", None)
        elif not job.cancelled:
            ss["preview_key"] = job.params  # don't retry the same failing params on every rerun
            ss["preview_error"] = errors.describe(job.error)
    job = ss.get("compare_job")
    if job is not None and job.done.is_set() and not job.collected:
        job.collected = True
        if job.error is not None:
            ss["compare_error"] = errors.describe(job.error)
        else:
            ss.pop("compare_error", None)
        run = job.result
        if run is not None and run.done:
            items = {cell.key: item_from(r, png, "compare", caption=cell.caption) for cell, r, png in run.done}
            ss["compare_results"] = list(items.values())  # the Gates page and the Gallery read these
            ss["compare_run"] = {
                "id": job.id,
                "run": run,
                "plan": run.plan,
                "items": items,
                "views": run.views,
                "notes": list(run.notes),
            }
            ss.pop("compare_exports", None)
        if job.cancelled:
            done = len(run.done) if run is not None else 0
            ss["compare_note"] = (
                f"Comparison cancelled after {done} of {len(run.plan.generated)} images."
                if run is not None
                else "Comparison cancelled."
            )


# ================================================================================================
# Results
# ================================================================================================
def chart(fig: Any, key: str, toolbar: bool = True) -> None:
    """A plotly chart drawn as built (our own template, not Streamlit's theme, which recolours
    heatmaps)."""
    st.plotly_chart(fig, key=key, theme=None, config={"displayModeBar": toolbar, "displaylogo": False})


def heard(trace: Any, compact: bool = False, key: str | None = None) -> None:
    """What CLAP heard: one bar chart for the mix, or one per level source. `key` (e.g. a hash of
    the labels) lets an unchanged chart keep its identity across reruns."""
    if not trace.heard:
        st.caption("No audio heard (text only, or trained mode, which has no labels).")
        return
    if set(trace.heard) == {"mix"}:
        chart(charts.heard_figure(trace.heard["mix"]), key=f"heard_{key or id(trace)}_{compact}", toolbar=False)
        return
    cols = st.columns(len(trace.heard))
    for col, (level, labels) in zip(cols, trace.heard.items(), strict=True):
        with col:
            chart(
                charts.heard_figure(labels, title=level, color=charts.LEVEL_COLORS.get(level, "#3A6EA5")),
                key=f"heard_{key or id(trace)}_{level}_{compact}",
                toolbar=False,
            )
    if trace.skipped_levels:
        st.caption("Near-silent, not conditioned: " + ", ".join(trace.skipped_levels))


def download_png(item: state.HistoryItem, key: str, label: str = "Download PNG") -> None:
    from core.export import default_filename

    st.download_button(
        label,
        item.png,
        file_name=default_filename(item.params),
        mime="image/png",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        help="The PNG carries every parameter: load it in the Gallery (or the CLI) to reproduce it.",
    )


def seed_line(item: state.HistoryItem) -> str:
    p = item.params
    t = item.timings.get("total", 0.0)
    return f"seed **{p.seed}** · {p.width}×{p.height} · {p.steps} steps · {t:.1f} s"
