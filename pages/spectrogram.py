"""Spectrogram: the clip's mel spectrogram (log frequency) under its waveform, the CLAP window
marked; then what each hierarchy level hears (frequency bands now, Demucs stems when chosen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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


@st.cache_resource(show_spinner=False, max_entries=64)
def _part_view(key: tuple, _wave: np.ndarray, sr: int, ref: float | None) -> Any:
    from core.spectrum import mel_spectrogram

    return mel_spectrogram(_wave, sr, ref_power=ref, max_frames=600)


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
widgets.chart(charts.spectrogram_figure(mel, env, (start, end), title=f"{path.name} · {clip.duration:.1f} s"),
              key="fig_spec_mix")
st.audio(str(path))

st.markdown("### What each level hears")
default_mode = params.sources if params.sources != "mix" else "bands"
if "spec_sources" not in ss:
    ss["spec_sources"] = default_mode
c1, c2 = st.columns([2, 3])
c1.radio("Level sources", ["bands", "stems"], key="spec_sources", horizontal=True,
         format_func={"bands": "Frequency bands", "stems": "Demucs stems"}.get,
         help="Bands: low → ambience, mid → background, high → foreground. Stems: Demucs separates "
              "drums / bass / other / vocals, mapped to levels on the Generate page.", persist_state=PS)
mode = ss["spec_sources"]
if params.sources == "mix":
    c2.caption("Generation currently uses **mix** (the seed's positional token split); these are the "
               "sources the level modes would hear. Switch under Generate → More.")
elif params.sources != mode:
    c2.caption(f"Generation currently uses **{params.sources}**.")

if engine is None:
    st.info("Load models in the sidebar to separate the sources and hear what CLAP makes of them.")
    st.stop()

listen_params = params.replace(sources=mode)
key = (engine.spec.name, str(path), stat.st_mtime_ns, listen_params.window_start, mode, listen_params.crossovers,
       listen_params.stem_map, listen_params.mode, listen_params.checkpoint, listen_params.top_k,
       listen_params.temperature)
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
listening, part_heard = ss["spec_listen"][1]
sources = listening.sources
if sources is None:
    st.info("No separate sources for this mode.")
    st.stop()

window_mel = _part_view((key, "__mix__"), clip.window(start, CLAP_SECONDS).mono(), clip.sample_rate, None)
# One dB scale for all parts (0 dB = the loudest bin of the window's mix), so quiet bands look quiet.
ref = window_mel.ref_power if int(sources.sample_rate) == int(clip.sample_rate) else None
edges = {"low": f"< {params.crossovers[0]:g} Hz", "mid": f"{params.crossovers[0]:g}–{params.crossovers[1]:g} Hz",
         "high": f"> {params.crossovers[1]:g} Hz"}
cols = st.columns(3, gap="medium")
for col, level in zip(cols, ("ambience", "background", "foreground"), strict=True):
    with col:
        parts = [name for name, lv in sources.part_levels.items() if lv == level]
        origin = ", ".join(f"{n} ({edges[n]})" if n in edges else n for n in parts) or "nothing mapped"
        st.markdown(f"**{widgets.LEVEL_ICON[level]} {level.capitalize()}** ← {origin}")
        if level in sources.silent_levels:
            st.caption("Near-silent here: this level is not conditioned.")
        for name in parts:
            wave = sources.parts[name]
            db = sources.part_db.get(name)
            mel_part = _part_view((key, name), wave, sources.sample_rate, ref)
            widgets.chart(charts.source_figure(mel_part, f"{name}" + (f" · {db:+.1f} dB" if db is not None else ""),
                                               offset=sources.start),
                          key=f"fig_src_{name}", toolbar=False)
            st.audio(np.asarray(wave, dtype=np.float32), sample_rate=int(sources.sample_rate))
            if part_heard.get(name):
                widgets.chart(charts.heard_figure(part_heard[name], title=f"CLAP hears in {name}",
                                                  color=charts.LEVEL_COLORS[level]),
                              key=f"fig_heard_part_{name}", toolbar=False)
        labels = listening.heard.get(level)
        if labels and (len(parts) > 1 or not part_heard):
            widgets.chart(charts.heard_figure(labels, title=f"CLAP hears in the {level} (what conditions it)",
                                              color=charts.LEVEL_COLORS[level]),
                          key=f"fig_heard_{level}", toolbar=False)
if set(LEVELS) - set(sources.part_levels.values()):
    st.caption("Levels with no source fall back to nothing: they are not conditioned.")
