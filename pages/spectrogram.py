"""Spectrogram: the clip's mel spectrogram (log frequency) under its waveform, the CLAP window
marked; what a generation or an edit heard (from its trace); then every source of the chosen mode
(the mix; low/mid/high bands; the four Demucs stems), each with its spectrogram on one shared dB
scale, a player and what CLAP heard in it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import CLAP_SECONDS, LEVELS, SOURCE_MODES, listening_key, mode_about, mode_label
from studio import bindings, charts, errors, jobs, loader, nav, overview, traces, widgets
from studio.bindings import PERSIST as PS
from studio.session import session

s = session()
engine = loader.current()

st.markdown("## Spectrogram")
st.caption(
    f"The clip chosen on the Generate page. The shaded span is the window CLAP listens to: {CLAP_SECONDS:g} seconds, "
    "or what is left of the clip after the window's start."
)


params = bindings.current_params(models=engine.spec.name if engine else None)
choice = bindings.audio_choice()
if not choice.path:
    st.info(choice.problem or "No audio chosen: pick a clip on the Generate page.")
    nav.link("generate", "Open Generate", icon=":material/graphic_eq:")
    st.stop()
clip, problem = widgets.clip_for(choice.path)
if problem or clip is None:
    st.error(f"**Audio problem**: {problem}", icon=":material/error:")
    st.stop()

file = overview.file_key(choice.path)
if file is None:
    st.error(f"**Audio problem**: {widgets.escape_md(Path(choice.path).name)} cannot be read any more: choose it "
             "again on the Generate page.", icon=":material/error:")  # fmt: skip
    st.stop()
path = Path(file.path)
window = overview.clap_window(params.window_start, clip.duration)
with st.spinner("Computing the spectrogram…"):
    mel, env = overview.overview(file, clip)
title = f"{file.name} · {clip.duration:.1f} s"
widgets.chart(
    charts.spectrogram_figure(mel, env, None if window.empty else (window.start, window.end), title=title),
    key="fig_spec_mix",
)
if window.empty:  # the engine refuses it; Generate's window slider moves it back inside the clip
    st.warning(f"CLAP's window starts at {params.window_start:g} s, past the end of this "
               f"{clip.duration:.1f}-second clip: choose an earlier start on the Generate page.",
               icon=":material/warning:")  # fmt: skip
del clip  # page globals can outlive the run (pages/generate.py): the decoded clip lives in the clip cache only
st.audio(str(path))

choices = traces.trace_choices(s)  # the trace part: what a generation or an edit heard
if choices:
    with st.expander("What a generation or an edit heard", expanded=s.last_trace is not None):
        picked = st.selectbox("Generation", list(choices), index=traces.first_choice(s, choices), key="spec_trace_pick")
        item = choices[picked]
        used = item.params
        heard_path = Path(used.audio_path).expanduser().resolve() if used.audio_path else None
        if heard_path is None:
            st.caption(f"No audio · {item.trace.steps} steps")
        else:
            heard_clip = widgets.clip_for(str(heard_path))[0]  # the process's clip cache: decoded once
            length = heard_clip.duration if heard_clip is not None else None  # None: the file is gone
            del heard_clip
            st.caption(
                f"{widgets.escape_md(heard_path.name)} · {overview.window_text(used.window_start, length)} · "
                f"{mode_label(used.sources)} · {item.trace.steps} steps"
                + ("" if heard_path == path else " · not the clip shown above")
            )
        widgets.heard(item.trace, key="spec_trace", top_k=used.top_k)

st.markdown("### Every source")
if s.spectrogram_sources != params.sources:  # follow the Generate page's choice when it changes
    bindings.set_value("spec_sources", params.sources)
    s.spectrogram_sources = params.sources
c1, c2 = st.columns([2, 3])
mode = c1.radio(
    "Level sources",
    list(SOURCE_MODES),
    key="spec_sources",
    horizontal=True,
    format_func=mode_label,
    help=" ".join(f"{mode_label(m)}: {mode_about(m)}." for m in SOURCE_MODES),
    persist_state=PS,
)
if params.sources != mode:
    c2.caption(
        f"Generation currently uses **{mode_label(params.sources)}**: change it on the "
        "Generate page. These are the sources this mode would hear."
    )

if engine is None:
    st.info(loader.NO_MODELS + " Then the sources are separated and you hear what CLAP makes of them.")
    st.stop()

listen_params = params.replace(sources=mode)
if (problem := errors.check_params(listen_params)) is not None:  # as Generate and Compare: said, nothing started
    errors.show(problem)
    st.stop()
key = (engine.spec.name, file, listening_key(listen_params))
slot = s.listen
if slot.key != key or slot.result is None:
    if slot.job is None or slot.job.key != key:
        slot.start(jobs.listen_job(engine, listen_params, key=key))  # cancels a stale one
    if slot.job is not None:
        widgets.follow(slot.job)
    s.collect_jobs()
    if slot.key != key:  # not (yet) this clip and mode's view: say why
        if slot.error:
            errors.show(slot.error)
        else:
            st.warning("Listening was cancelled.")
        st.stop()
view = slot.result

st.caption(
    f"The {view.start:.1f}–{view.end:.1f} s window CLAP hears (shaded above), split into "
    f"{len(view.parts)} source{'s' if len(view.parts) != 1 else ''}. One dB scale for all of them: 0 dB is "
    "the loudest bin of the window's mix, so a quiet part looks quiet."
)
if view.skipped:
    st.warning(
        f"Near-silent in this window, so not conditioned: **{', '.join(view.skipped)}**.", icon=":material/volume_off:"
    )
if view.unfed:
    st.warning(f"No source feeds the **{', '.join(view.unfed)}**: its steps get no audio.", icon=":material/info:")
# At most 3 cards a row (4 stems: 2 × 2, as on Compare): four in a row at 1024 px cut their titles
# ("CLAP hears in d…") and their players lost the seek bar.
per_row = 1 if mode == "mix" else 2 if len(view.parts) == 4 else 3
for row in range(0, len(view.parts), per_row):
    chunk = view.parts[row : row + per_row]
    for col, part in zip(st.columns(per_row, gap="medium"), chunk, strict=False):
        with col:
            widgets.part_card(view, part, "spec", height=300 if mode == "mix" else 220, heard_title="CLAP hears")
if view.heard_levels and mode == "stems":
    cols = st.columns(3, gap="medium")
    for col, level in zip(cols, LEVELS, strict=True):
        labels = view.heard_levels.get(level)
        parts = [p.name for p in view.parts if p.level == level]
        if labels and len(parts) > 1:
            with col:  # the heading as text, which wraps: a chart's title was cut in a third of the page
                st.markdown(f"{widgets.LEVEL_ICON[level]} The **{level}** ({' + '.join(parts)}) hears")
                widgets.chart(
                    charts.heard_figure(labels, color=charts.LEVEL_COLORS[level]),
                    key=f"fig_heard_{level}",
                    toolbar=False,
                )
