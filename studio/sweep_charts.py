"""The Sweep page's heatmap: one score over the sweep's X and Y. Its own module (charts.py draws a
Trace and the audio) because its cell labels need sizing: the page's right column is ~220 px wide at
1024 px, and labels sized for a wider column ran into each other and into the row labels.

Plotly sizes no text to its cell, and the server does not know the browser's width: the labels are
sized for the narrowest width the studio is laid out for (`NARROWEST_FIGURE_PX`), and left to the
hover (which always has the value) where even the smallest font would not fit."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import plotly.graph_objects as go

from studio.charts import FONT, _empty, _layout

NARROWEST_FIGURE_PX = 219  # the heatmap's width in the Sweep page's right column at 1024 px, sidebar open
CHAR_EM = 0.62  # a digit's width in em (the dot is narrower): what a label of n characters takes
CELL_PAD_PX = 6  # room left between neighbouring labels
Y_TITLE_PX = 28  # the Y axis's title, turned on its side, and its gap to the tick labels
SIDE_MARGIN_PX = 8  # the figure's own left and right margins
TITLE_CHARS = 22  # the title wraps at this many characters: 15 px text in NARROWEST_FIGURE_PX
COLORBAR_PX = 44  # the colour bar under the X axis: its bar and its tick labels


def sweep_heatmap(run: Any, score: str, z: int = 0, title: str | None = None) -> go.Figure:
    """One score over the sweep's X (columns) and Y (rows) at Z index `z`, titled `title` (the
    score's label, wrapped: on one line it was cut at the column's edge); empty cells where a tile
    was not made or the score does not apply, and only the rows with a tile."""
    plan = run.plan
    _, _, nx = plan.shape()
    x_axis, y_axis = plan.axis("x"), plan.axis("y")
    title = title or score
    rows = run.rows_at(z)  # a stopped sweep: only the rows it reached, not a tall empty map
    grid = np.full((len(rows), nx), np.nan)
    for t in run.tiles:
        value = getattr(t.scores, score, None) if t.scores is not None else None
        if t.z == z and value is not None:
            grid[rows.index(t.y), t.x] = float(value)
    wrapped = "<br>".join(textwrap.wrap(title, TITLE_CHARS))
    if np.isnan(grid).all():  # the page says why first (studio.sweeping.heatmap_gap)
        return _empty(wrapped, "No values of this score here", 260)
    ny = len(rows)
    xs = [x_axis.shown(i) for i in range(len(x_axis.values))] if x_axis else [""]
    ys = [y_axis.shown(i) for i in rows] if y_axis else [""]
    text = distinct_digits(grid)
    size = cell_font(nx, text, plot_px(ys, titled=y_axis is not None))
    fig = go.Figure(
        go.Heatmap(
            z=grid, x=xs, y=ys, colorscale="Viridis", text=text, texttemplate="%{text}" if size else "",
            textfont={"size": size or 12}, colorbar=_colorbar(grid),
            customdata=distinct_digits(grid, most=9), hoverongaps=False,  # the hover: every digit that differs
            hovertemplate=f"{x_axis.named if x_axis else ''} %{{x}} · "
            f"{y_axis.named if y_axis else ''} %{{y}}<br>{title} %{{customdata}}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(title_text=x_axis.named if x_axis else None, type="category", automargin=True)
    fig.update_yaxes(
        title_text=y_axis.named if y_axis else None, type="category", autorange="reversed", automargin=True
    )
    fig = _layout(fig, wrapped, 120 + COLORBAR_PX + 60 * ny)
    # Plotly lifts a title of two lines by half a line above its anchor: padded, its first line is not cut.
    fig.update_layout(margin={"l": SIDE_MARGIN_PX, "r": SIDE_MARGIN_PX, "b": 44 + COLORBAR_PX},
                      title={"y": 1, "pad": {"t": 20}})  # fmt: skip
    return fig


def _colorbar(grid: np.ndarray) -> dict[str, Any]:
    """Under the cells, not beside them (beside, it took a third of the column's width from them),
    its two ends labelled as the cells are: plotly's one tick, 0.02, said little of 0.0186-0.0216."""
    lo, hi = float(np.nanmin(grid)), float(np.nanmax(grid))
    ends = {"tickvals": [lo, hi], "ticktext": distinct_digits(np.array([[lo, hi]]))[0]} if lo < hi else {}
    return {"orientation": "h", "thickness": 10, "len": 0.8, "x": 0.5, "xanchor": "center",
            "y": 0, "yref": "container", "yanchor": "bottom", "nticks": 3, **ends}  # fmt: skip


def plot_px(row_labels: list[str], titled: bool = True, figure_px: int = NARROWEST_FIGURE_PX) -> int:
    """The cells' width in a figure `figure_px` wide: what the margins, the row labels and the Y
    axis's title leave."""
    labels = max((len(s) for s in row_labels), default=0) * CHAR_EM * FONT["size"]
    return int(figure_px - 2 * SIDE_MARGIN_PX - labels - (Y_TITLE_PX if titled else 0))


def cell_font(columns: int, text: list[list[str]], plot: int, smallest: int = 8, largest: int = 12) -> int | None:
    """The cell labels' font size that fits the widest label in a cell `plot / columns` wide, or
    None when even `smallest` would not: the values are then shown on hover only, not run together."""
    chars = max((len(t) for row in text for t in row), default=1) or 1
    size = int((plot / max(columns, 1) - CELL_PAD_PX) / (CHAR_EM * chars))
    return min(largest, size) if size >= smallest else None


def distinct_digits(grid: np.ndarray, least: int = 3, most: int = 4) -> list[list[str]]:
    """Each cell's value with the fewest significant digits (at least `least`, at most `most`) that
    tell the grid's different values apart (0.02086 and 0.02089, not 0.021 twice); "" where there is
    none. Values closer than `most` digits show alike in their cells: the colour and the hover
    (`most=9`) tell them apart, as a longer label would not fit."""
    values = np.unique(grid[~np.isnan(grid)])
    digits = next((d for d in range(least, most) if len({f"{v:.{d}g}" for v in values}) == len(values)), most)
    return [["" if np.isnan(v) else f"{v:.{digits}g}" for v in row] for row in grid]


__all__ = ["NARROWEST_FIGURE_PX", "cell_font", "distinct_digits", "plot_px", "sweep_heatmap"]
