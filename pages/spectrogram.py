"""Spectrogram: the clip's mel spectrogram (log frequency) under its waveform, the CLAP window
marked; then every source of the chosen mode (the mix; low/mid/high bands; the four Demucs stems),
each with its spectrogram on one shared dB scale, a player and what CLAP heard in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core.audio import CLAP_SECONDS
from core.params import LEVELS
from studio import charts, errors, jobs, nav, state, widgets
from studio import engine as engine_mod
from studio.state import PERSIST as PS

ss = st.session_state
engine = engine_mod.current()

st.markdown("## Spectrogram")
st.caption("The clip chosen on the Generate page. The shaded span is the 10-second window CLAP listens to.")


@st.cache_resource(show_spinner=False, max_entries=16)
def _mix_view(path: str, size: int, mtime: int, _clip: Any) -> tuple[Any, Any]:
    from core.spectrum import mel_spectrogram, waveform_envelope

    mono = _clip.mono()
    return mel_spectrogram(mono, _clip.sample_rate), waveform_envelope(mono, _clip.sample_rate)


params = state.current_params(models=engine.spec.name if engine else None)
choice = state.audio_choice()
if not choice.path:
    st.info(choice.problem or "No audio chosen: pick a clip on the Generate page.")
    nav.link("generate", "Open Generate", icon=":material/graphic_eq:")
    st.stop()
clip, problem = widgets.clip_for(choice.path)
if problem:
    st.error(f"**Audio problem**: {problem}", icon=":material/error:")
    st.stop()

path = Path(choice.path).expanduser().resolve()
stat = path.stat()
start = float(params.window_start)
end = min(clip.duration, start + CLAP_SECONDS)
with st.spinner("Computing the spectrogram…"):
    mel, env = _mix_view(str(path), stat.st_size, stat.st_mtime_ns, clip)
widgets.chart(
    charts.spectrogram_figure(mel, env, (start, end), title=f"{path.name} · {clip.duration:.1f} s"), key="fig_spec_mix"
)
st.audio(str(path))

st.markdown("### Every source")
if ss.get("spec_sources_synced") != params.sources:  # follow the Generate page's choice when it changes
    ss["spec_sources"] = params.sources
    ss["spec_sources_synced"] = params.sources
c1, c2 = st.columns([2, 3])
c1.radio(
    "Level sources",
    list(widgets.SOURCE_NAMES),
    key="spec_sources",
    horizontal=True,
    format_func={"mix": "Mixed", "bands": "Frequency bands", "stems": "Demucs stems"}.get,
    help="Mixed: the window itself (the seed splits its tokens by position). Bands: low → ambience, "
    "mid → background, high → foreground. Stems: Demucs separates drums / bass / other / vocals, "
    "mapped to levels on the Generate page.",
    persist_state=PS,
)
mode = ss["spec_sources"]
if params.sources != mode:
    c2.caption(
        f"Generation currently uses **{widgets.SOURCE_NAMES[params.sources]}**: change it on the "
        "Generate page. These are the sources this mode would hear."
    )

if engine is None:
    st.info("Load models in the sidebar to separate the sources and hear what CLAP makes of them.")
    st.stop()

listen_params = params.replace(sources=mode)
key = (
    engine.spec.name,
    str(path),
    stat.st_mtime_ns,
    listen_params.window_start,
    mode,
    listen_params.crossovers,
    listen_params.stem_map,
    listen_params.mode,
    listen_params.checkpoint,
    listen_params.top_k,
    listen_params.temperature,
)
cached = ss.get("spec_listen")
if cached is None or cached[0] != key:
    lj = ss.get("spec_listen_job")
    if lj is None or lj.key != key:
        if lj is not None and lj.running:
            lj.request_cancel()
        lj = jobs.listen_job(engine, listen_params)
        lj.key = key
        ss["spec_listen_job"] = lj
    widgets.follow(lj)
    if lj.error is not None:
        errors.show(lj.error)
        st.stop()
    if lj.cancelled or lj.result is None:
        st.warning("Listening was cancelled.")
        st.stop()
    ss["spec_listen"] = (key, lj.result)
view = ss["spec_listen"][1]

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
edges = {
    "low": f"< {listen_params.crossovers[0]:g} Hz",
    "mid": f"{listen_params.crossovers[0]:g}–{listen_params.crossovers[1]:g} Hz",
    "high": f"> {listen_params.crossovers[1]:g} Hz",
}
per_row = 4 if mode == "stems" else 3
for row in range(0, len(view.parts), per_row):
    chunk = view.parts[row : row + per_row]
    cols = st.columns(per_row if mode != "mix" else 1, gap="medium")
    for col, part in zip(cols, chunk, strict=False):
        with col.container(key=f"spec_part_{part.name}"):
            level = part.level
            origin = f" ({edges[part.name]})" if part.name in edges else ""
            where = f" → {widgets.LEVEL_ICON[level]} {level}" if level else " → every level, by token position"
            db = widgets.db_text(part.db)
            st.markdown(f"**{part.name}**{origin}{where}{db}")
            widgets.chart(
                charts.source_figure(part.mel, None, height=300 if mode == "mix" else 220, offset=view.start),
                key=f"fig_src_{part.name}",
                toolbar=False,
            )
            st.audio(part.player, format="audio/wav")
            if part.heard:
                widgets.chart(
                    charts.heard_figure(
                        part.heard,
                        title=f"CLAP hears in {part.name}",
                        color=charts.LEVEL_COLORS.get(level or "", "#3A6EA5"),
                    ),
                    key=f"fig_heard_part_{part.name}",
                    toolbar=False,
                )
if view.heard_levels and mode == "stems":
    cols = st.columns(3, gap="medium")
    for col, level in zip(cols, LEVELS, strict=True):
        labels = view.heard_levels.get(level)
        parts = [p.name for p in view.parts if p.level == level]
        if labels and len(parts) > 1:
            with col:
                widgets.chart(
                    charts.heard_figure(
                        labels, title=f"The {level} ({' + '.join(parts)}) hears", color=charts.LEVEL_COLORS[level]
                    ),
                    key=f"fig_heard_{level}",
                    toolbar=False,
                )
