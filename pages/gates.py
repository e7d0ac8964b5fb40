"""Gates: what the audio conditioning did inside the UNet, drawn from a generation's (or an edit's) trace."""

from __future__ import annotations

import json

import streamlit as st

from studio import charts, nav, traces, widgets
from studio.session import session

s = session()
st.markdown("## Gates")
st.caption(
    "Inside the UNet: how open each audio gate was, how loud the audio branch was next to the "
    "text at every step and layer, which level spoke when, and how big the audio tokens were. "
    "Hover any chart for exact values."
)

choices = traces.trace_choices(s)
if not choices:
    st.info("No generation yet: render or preview something on the Generate page (or edit a photo) first.")
    nav.link("generate", "Open Generate", icon=":material/graphic_eq:")
    st.stop()

labels = list(choices)
default = traces.first_choice(s, choices)
picked = st.selectbox("Generation", labels, index=default, key="gates_pick")
item = choices[picked]
trace = item.trace
p = item.params

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Steps", trace.steps, help=None if trace.steps == p.steps else
          f"Steps run: an edit re-runs its denoise's share of the {p.steps} steps it was set to.")  # fmt: skip
c2.metric("Adapter layers", f"{traces.adapted_layers(trace)} of {len(trace.layer_names)}",
          help="The UNet's cross-attention layers the audio spoke in: a gate scale of 0 switches its group off.")  # fmt: skip
c3.metric(
    "Text norm", f"{trace.text_norm:.2f}", help=f"The prompt's own text tokens' norm ({trace.norm_measure} measure)"
)
heard = widgets.audio_used(p)
c4.metric("Norm target", f"{p.norm_target:g}" if heard else "—")
c5.metric("Audio strength", f"{p.audio_strength:g}×" if heard else "no audio")
st.caption(widgets.seed_line(p, item.timings.get("total", 0.0)) + " · " + widgets.audio_setup(p, switch=True))

if not heard:  # every chart below is of the audio branch: empty axes would read as a broken page
    st.info("This image heard no audio (text only): no gate opened and no level spoke, so there is nothing "
            "to draw here. Pick an image made with a clip.", icon=":material/volume_off:")  # fmt: skip
else:
    if why := traces.silent_branch(p, trace):
        st.info(why, icon=":material/volume_off:")
    left, right = st.columns(2, gap="large")
    with left:
        widgets.chart(charts.gate_figure(trace), key="fig_gates", toolbar=False)
        widgets.chart(charts.ratio_figure(trace), key="fig_ratio", toolbar=False)
    with right:
        widgets.chart(charts.level_timeline_figure(trace), key="fig_levels", toolbar=False)
        widgets.chart(charts.norms_figure(trace), key="fig_norms", toolbar=False)
    with st.expander("What CLAP heard", expanded=True):
        widgets.heard(trace, top_k=p.top_k)

c1, c2, _ = st.columns([1, 1.4, 2.6])  # "Trace (JSON)" whole at 1024 px
with c1:
    st.image(item.png, width=160, output_format="PNG")
with c2:
    st.download_button(
        "Trace (JSON)",
        json.dumps(trace.to_dict(), indent=1),
        file_name=widgets.trace_filename(item),  # like the image's PNG, with its kind and id
        mime="application/json",
        on_click="ignore",
        key="dl_trace",
        icon=":material/data_object:",
        help="Every number behind these charts, for your own analysis.",
    )
