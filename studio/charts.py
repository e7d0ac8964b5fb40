"""Plotly figures drawn from a core Trace, heard labels and spectrograms. Pure presentation: the
numbers come from core/ (trace, core.spectrum); here they only get axes, colours and hover text."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.params import LEVELS
from core.spectrum import MelSpectrogram
from core.trace import HeardLabel, Trace

LEVEL_COLORS = {"foreground": "#E4572E", "background": "#2E9C6A", "ambience": "#3A6EA5"}
LEVEL_ICON = {"foreground": ":red[●]", "background": ":green[●]", "ambience": ":blue[●]"}  # the same, in markdown
GROUP_COLORS = {"down": "#9AA5B1", "mid": "#7E57C2", "up": "#1F9E9A"}
# Magma without its two near-black stops: Streamlit's chart frontend repaints very dark colours
# (they came out lavender), so the quietest bins start at a deep purple instead.
SPECTRUM_SCALE = [
    [i / 7, c]
    for i, c in enumerate(["#440f76", "#721f81", "#9e2f7f", "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf"])
]
FONT = dict(family="Inter, system-ui, -apple-system, Segoe UI, sans-serif", size=13, color="#1f2937")


NARROWEST_CHART_PX = 250  # a Gates chart in its half of the page at 1024 px, sidebar open
LEGEND_ROW_PX = 22  # one row of a horizontal legend (13 px text)
TITLE_TOP_PX = 76  # the room above the plot for a title and one or two legend rows
# An empty chart's message: lines of at most 28 characters (about 210 px of 14 px text) fit the
# narrowest column a chart is drawn in (a half page at 1024 px, ~250 px) within equal side margins.
EMPTY_WRAP = 28
EMPTY_SIDE_PX = 16


def legend_rows(names: Sequence[str], width: int = NARROWEST_CHART_PX) -> int:
    """How many rows a horizontal legend of `names` takes in a figure `width` px wide: plotly wraps
    it at the plot's width (the margins off), an entry being its 40 px symbol and its text (~7.2 px
    a character at 13 px)."""
    room, rows, used = width - 56 - 16, 0, None
    for name in names:
        entry = 46 + 7.2 * len(name)
        if used is None or used + entry > room:
            rows, used = rows + 1, entry
        else:
            used += entry
    return rows


def _layout(fig: go.Figure, title: str | None = None, height: int = 320, **kwargs: Any) -> go.Figure:
    """Our template, margins and fonts. The legend sits under the title, over the plot: the top
    margin grows with the rows the legend takes in the narrowest column (`legend_rows`), so a
    legend that wraps never reaches up into the title (three rows of "foreground"... overprinted
    "Level used at each step" at 1024 px), and the figure grows by as much."""
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]
    top = max(TITLE_TOP_PX, 36 + LEGEND_ROW_PX * legend_rows(names)) if title else 24
    fig.update_layout(
        template="plotly_white",
        title=dict(text=title, x=0, xanchor="left", y=0.98, yanchor="top", yref="container", font=dict(size=15))
        if title
        else None,
        height=height + max(0, top - TITLE_TOP_PX),
        margin=dict(l=56, r=16, t=top, b=44),
        font=FONT,
        hoverlabel=dict(font_size=12),
        # Under the title, left-aligned: never on top of it, however narrow the column.
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
        **kwargs,
    )
    return fig


def _empty(title: str, message: str, height: int = 320, width: int = EMPTY_WRAP) -> go.Figure:
    """A figure that says why it has nothing to draw, wrapped at `width` characters and centred in
    the whole figure (equal side margins): a plotly annotation is one line, and centred on the plot
    area of the usual left axis margin it ran past the right edge of a half-page column at 1024 px
    ("No audio conditioned any step" lost its last letters)."""
    fig = go.Figure()
    fig.add_annotation(
        text="<br>".join(textwrap.wrap(message, width)), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
        font=dict(size=14, color="#6b7280"),
    )  # fmt: skip
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _layout(fig, title, height)
    return fig.update_layout(margin=dict(l=EMPTY_SIDE_PX, r=EMPTY_SIDE_PX))


def short_layer(name: str) -> str:
    """'up_blocks.1.attentions.0.transformer_blocks.0.attn2' -> 'up1·a0' (axis labels)."""
    m = re.match(r"(down|up)_blocks\.(\d+)\.attentions\.(\d+)", name)
    if m:
        return f"{m.group(1)}{m.group(2)}·a{m.group(3)}"
    m = re.match(r"mid_block\.attentions\.(\d+)", name)
    if m:
        return f"mid·a{m.group(1)}"
    return name.removesuffix(".attn2").removesuffix(".processor")


# ================================================================================================
# Trace
# ================================================================================================
def gate_figure(trace: Trace) -> go.Figure:
    """Effective gate (tanh(gate) × group scale) per cross-attention layer."""
    title = "Gate value per layer"
    if not trace.layer_names:
        return _empty(title, "No adapter layers in this generation")
    names = [short_layer(n) for n in trace.layer_names]
    groups = list(trace.layer_groups) or ["up"] * len(names)
    fig = go.Figure()
    for group in ("down", "mid", "up"):
        idx = [i for i, g in enumerate(groups) if g == group]
        if not idx:
            continue
        fig.add_bar(
            x=[names[i] for i in idx],
            y=[float(trace.gates[i]) for i in idx],
            name=f"{group} blocks",
            marker_color=GROUP_COLORS[group],
            customdata=[trace.layer_names[i] for i in idx],
            hovertemplate="%{customdata}<br>gate = %{y:.4f}<extra></extra>",
        )
    fig.update_xaxes(title_text="layer", categoryorder="array", categoryarray=names)
    fig.update_yaxes(title_text="gate", rangemode="tozero")
    return _layout(fig, title)


def ratio_figure(trace: Trace) -> go.Figure:
    """||audio branch|| / ||text attention|| per step × layer."""
    title = "Audio / text ratio, step × layer"  # whole in a half-page column at 1024 px
    ratios = np.asarray(trace.ratios, dtype=float)
    if ratios.size == 0 or not trace.layer_names or not np.any(ratios):
        return _empty(title, "No audio branch ran (no audio, strength 0 or all gates 0)")
    names = [short_layer(n) for n in trace.layer_names]
    steps = np.arange(1, ratios.shape[0] + 1)
    fig = go.Figure(
        go.Heatmap(
            z=ratios,
            x=names,
            y=steps,
            colorscale="Viridis",
            colorbar=dict(title=dict(text="ratio"), thickness=12),
            customdata=np.array([[n for n in trace.layer_names]] * len(steps)),
            hovertemplate="step %{y}<br>%{customdata}<br>audio/text = %{z:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="layer")
    fig.update_yaxes(title_text="denoising step", autorange="reversed")
    return _layout(fig, title, height=max(320, min(560, 14 * len(steps) + 120)))


def level_timeline_figure(trace: Trace) -> go.Figure:
    """Which level (or blend of levels) conditioned each denoising step."""
    title = "Level used at each step"
    if not trace.step_levels:
        return _empty(title, "No steps recorded")
    steps = list(range(1, len(trace.step_levels) + 1))
    fig = go.Figure()
    for level in ("ambience", "background", "foreground"):
        weights = [float(d.get(level, 0.0)) for d in trace.step_levels]
        if not any(weights):
            continue
        fig.add_bar(
            x=steps,
            y=weights,
            name=level,
            marker_color=LEVEL_COLORS[level],
            hovertemplate=f"step %{{x}}<br>{level}: %{{y:.3f}}<extra></extra>",
        )
    if not fig.data:
        return _empty(title, "No audio conditioned any step")
    fig.update_layout(barmode="stack", bargap=0.05)
    fig.update_xaxes(title_text="step (noisy → clean)", dtick=max(1, len(steps) // 10))
    fig.update_yaxes(title_text="blend weight", range=[0, 1.05])
    return _layout(fig, title)


def norms_figure(trace: Trace) -> go.Figure:
    """Audio token norms per level: raw, after scaling to the target, after the level weight;
    the prompt's own text-token norm as a dashed reference line."""
    title = f"Token norms ({trace.norm_measure} measure)"
    if not trace.token_norms:
        return _empty(title, "No audio tokens (no audio in this generation)")
    stages = [("before", "raw"), ("scaled", "scaled to target"), ("after", "× level weight")]
    shades = {"before": "#CBD5E1", "scaled": "#64748B", "after": None}
    levels = [lv for lv in LEVELS if lv in trace.token_norms]
    fig = go.Figure()
    for key, name in stages:
        values = [float(trace.token_norms[lv].get(key, np.nan)) for lv in levels]
        colors = [LEVEL_COLORS[lv] for lv in levels] if shades[key] is None else shades[key]
        fig.add_bar(
            x=levels,
            y=values,
            name=name,
            marker_color=colors,
            hovertemplate=f"%{{x}}<br>{name}: %{{y:.3f}}<extra></extra>",
        )
    # The prompt's own norm: a dashed line named in the legend (its label written on the plot sat
    # on the bars, which are scaled to about that height).
    reference = f"text tokens {trace.text_norm:.2f}"
    fig.add_hline(y=float(trace.text_norm), line_dash="dash", line_color="#111827")
    fig.add_scatter(x=levels[:1], y=[None], mode="lines", name=reference, hoverinfo="skip",
                    line=dict(dash="dash", color="#111827", width=1))  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="norm", rangemode="tozero")
    return _layout(fig, title)


HEARD_ROW_PX = 40  # one heard label: its name (a 17 px annotation box) over its bar, with room between rows
HEARD_BAR_PX = 16


def heard_figure(
    labels: Sequence[HeardLabel], title: str | None = None, height: int | None = None, color: str = "#3A6EA5"
) -> go.Figure:
    """What CLAP heard: label weights (horizontal bars, strongest on top, the share inside each bar),
    each label written above its bar across the chart's whole width: as tick labels beside the
    bars, a narrow column (the live preview's at 1024 px) cut them ("nake hissing"). Each row is
    `HEARD_ROW_PX` high with a `HEARD_BAR_PX` bar, on a fixed axis range: plotly's own range left the
    rows 29 px apart, and each name overprinted the bar above it."""
    if not labels:
        return _empty(title or "", "Nothing heard", height or 160)
    names = [h.label for h in labels][::-1]
    weights = [float(h.weight) for h in labels][::-1]
    custom = [[h.phrase, float(h.similarity)] for h in labels][::-1]
    top, bottom = (40 if title else 8), 8
    rows = len(names)
    fig = go.Figure(
        go.Bar(
            x=weights,
            y=names,
            orientation="h",
            marker_color=color,
            customdata=custom,
            width=HEARD_BAR_PX / HEARD_ROW_PX,
            text=[f"{w:.0%}" for w in weights],
            textposition="inside",
            insidetextanchor="start",  # at the bar's start: the end of a narrow chart may be hidden
            textfont={"size": 11, "color": "white"},
            hovertemplate=(
                "%{y}: weight %{x:.3f}<br>draws: %{customdata[0]}<br>similarity %{customdata[1]:.3f}<extra></extra>"
            ),
        )
    )
    fig.update_xaxes(visible=False, range=[0, max(weights) * 1.08])
    fig = _layout(fig, title, height or (top + bottom + HEARD_ROW_PX * rows))
    fig.update_layout(margin=dict(l=8, r=8, t=top, b=bottom), showlegend=False)
    fig.update_yaxes(showticklabels=False, range=[-0.5, rows - 0.5], fixedrange=True)
    # Each name above its bar, from the left: a plotly chart is never drawn narrower than 150 px, so
    # in a narrower column (the live preview's at 1024 px) the right end is what is hidden.
    for name in names:
        fig.add_annotation(x=0, y=name, text=name, showarrow=False, xanchor="left", yanchor="bottom",
                           yshift=HEARD_BAR_PX // 2 + 1, font={"size": 12}, xref="x", yref="y")  # fmt: skip
    return fig


# ================================================================================================
# Audio
# ================================================================================================
def spectrogram_figure(
    mel: MelSpectrogram,
    envelope: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    window: tuple[float, float] | None = None,
    title: str | None = None,
    height: int = 460,
    offset: float = 0.0,
) -> go.Figure:
    """Waveform (top, when given) over a mel spectrogram with a log frequency axis; the CLAP
    window is shaded on both. `mel` is a core.spectrum.MelSpectrogram; `offset` shifts its times."""
    db, freqs, times = mel
    times = np.asarray(times, dtype=float) + offset
    rows = 2 if envelope is not None else 1
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.25, 0.75] if rows == 2 else [1.0]
    )
    if envelope is not None:
        t, low, high = envelope
        t = np.asarray(t, dtype=float) + offset
        xs = np.concatenate([t, t[::-1]])
        ys = np.concatenate([high, low[::-1]])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                fill="toself",
                mode="lines",
                line=dict(width=0.6, color="#3A6EA5"),
                fillcolor="rgba(58,110,165,0.55)",
                name="waveform",
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
        fig.update_yaxes(title_text="amplitude", row=1, col=1, zeroline=True, fixedrange=True)
    fig.add_trace(
        go.Heatmap(
            z=np.round(np.asarray(db, dtype=np.float32), 1),
            x=times,
            y=np.asarray(freqs, dtype=float),
            colorscale=SPECTRUM_SCALE,
            zmin=-80,
            zmax=0,
            colorbar=dict(title=dict(text="dB"), thickness=12, len=0.75 if rows == 2 else 1.0, y=0.0, yanchor="bottom"),
            hovertemplate="%{x:.2f} s<br>%{y:.0f} Hz<br>%{z:.1f} dB<extra></extra>",
        ),
        row=rows,
        col=1,
    )
    ticks = [t for t in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if t <= float(np.max(freqs)) * 1.05]
    fig.update_yaxes(
        type="log",
        title_text="frequency (Hz)",
        row=rows,
        col=1,
        tickvals=ticks,
        ticktext=[f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks],
    )
    fig.update_xaxes(title_text="time (s)", row=rows, col=1)
    if window is not None:
        for r in range(1, rows + 1):
            fig.add_vrect(
                x0=window[0],
                x1=window[1],
                row=r,
                col=1,
                line_width=2,
                line_color="#22D3EE",
                fillcolor="rgba(34,211,238,0.10)",
                layer="above",
            )
        fig.add_annotation(
            x=window[0],
            y=1.0,
            xref="x",
            yref="paper",
            text="CLAP window",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font=dict(color="#0E7490", size=12),
        )
    fig = _layout(fig, title, height)
    fig.update_layout(showlegend=False)
    return fig


def source_figure(mel: MelSpectrogram, title: str | None, height: int = 240, offset: float = 0.0) -> go.Figure:
    """A small spectrogram for one level source (same dB scale as the mix when its ref was shared)."""
    fig = spectrogram_figure(mel, None, None, title, height, offset)
    fig.update_traces(colorbar=dict(thickness=8, title=dict(text="dB")), selector=dict(type="heatmap"))
    fig.update_layout(margin=dict(l=48, r=8, t=40 if title else 12, b=36))
    return fig


def loss_figure(metrics: Sequence[dict[str, Any]], height: int = 320) -> go.Figure:
    """A run's training loss per logged step (and the validation loss where it was measured), from
    RUN/metrics.jsonl as core.read_metrics returns it."""
    train = [m for m in metrics if "loss" in m]
    val = [m for m in metrics if "val_loss" in m]
    if not train and not val:
        return _empty("Loss", "No step logged yet: the first point comes after the first logging step.", height)
    fig = go.Figure()
    if train:
        fig.add_trace(
            go.Scatter(
                x=[m["step"] for m in train],
                y=[m["loss"] for m in train],
                mode="lines+markers" if len(train) < 40 else "lines",
                name="training loss",
                line=dict(color="#3A6EA5"),
                hovertemplate="step %{x}<br>loss %{y:.5f}<extra></extra>",
            )
        )
    if val:
        fig.add_trace(
            go.Scatter(
                x=[m["step"] for m in val],
                y=[m["val_loss"] for m in val],
                mode="lines+markers",
                name="validation loss",
                line=dict(color="#E4572E", dash="dot"),
                hovertemplate="step %{x}<br>validation loss %{y:.5f}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="loss")
    return _layout(fig, "Loss", height)
