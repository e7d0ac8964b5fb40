"""The parameter widgets. Each one's label, help, range, step and format come from its field's Knob
(core/params.py) through the binding table: nothing about a knob is restated here."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core.bands import BAND_LEVELS, band_ranges
from core.knobs import MULTIPLIER_MARK
from core.params import LEVELS, STEMS, Knob, knobs
from core.schedule import level_schedule
from studio import bindings, errors
from studio.bindings import BY_KEY
from studio.bindings import PERSIST as PS
from studio.charts import LEVEL_ICON
from studio.limits import limits

SIZE_PX = 104  # a width or height box: its label and a 4-digit value beside the -/+ buttons
SAMPLER_PX = 140  # the sampler's select: "DPM++ 2M" whole


def _knob(key: str) -> Knob:
    return knobs()[BY_KEY[key].field]


def _part(key: str) -> int | str | None:
    return BY_KEY[key].index


_CAPS = {"steps": "max_steps", "width": "max_side", "height": "max_side"}  # field -> its ServerLimits cap


def _cap(key: str) -> float:
    """The highest value this studio offers for the widget's field (its operator's limit), if any."""
    cap = _CAPS.get(BY_KEY[key].field)
    return getattr(limits(), cap) if cap else float("inf")


def _numbers(value: Any) -> list[float]:
    """A slider's value as numbers (a range slider's both ends); none when it is not a number."""
    try:
        return [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)]
    except (TypeError, ValueError):
        return []


def span_holding(span: tuple[Any, Any], value: Any, cap: float = float("inf")) -> tuple[Any, Any]:
    """`span` (a Knob's slider), its top lowered to `cap` (an operator's limit), widened at either end
    to hold `value` (a number, or a range slider's pair; anything else is not held). A whole-number
    span stays whole, rounded outwards, so that an odd 33.5 still lies inside it."""
    lo, hi = span
    shown = [v for v in _numbers(value) if math.isfinite(v)]
    top, bottom = max([min(hi, cap), *shown]), min([lo, *shown])
    whole = isinstance(hi, int) and isinstance(lo, int)
    return (math.floor(bottom), math.ceil(top)) if whole else (bottom, top)


def slider_range(key: str) -> tuple[Any, Any]:
    """The slider's span: the Knob's, its top lowered to this studio's limit (CLAP2DIFF_MAX_STEPS),
    and widened at either end to hold the value it shows: a recalled PNG may hold any value its
    field accepts (a temperature of 0.02 below the span's 0.05; steps beyond the limit, said under
    the slider and refused at Render). A value outside its span raised in Streamlit on every run."""
    k = _knob(key)
    return span_holding(k.slider, bindings.value(key, k.slider[0]), _cap(key))


def _span(key: str) -> tuple[Any, Any]:
    """`slider_range`, with the value the user chose kept when the span changes (bindings.hold_span)."""
    span = slider_range(key)
    bindings.hold_span(key, span)
    return span


def allowed_range(key: str) -> tuple[Any, Any]:
    """What the widget's field may hold on this studio: the Knob's range, its top lowered to the limit."""
    lo, hi = _knob(key).range
    return lo, min(hi, _cap(key))


def slider(key: str, mark: str = "", title: str = "") -> Any:
    """`mark`: Markdown shown before the label (a level's coloured dot); `title`: shown instead of
    the label, where a heading above says the rest (the gates' 'Down' under 'Gate scale (×) per
    UNet block group': 'Down gate (×)' took three lines in a third of the knobs' column at 1024 px).
    Either is drawn as its own line, and the widget keeps the plain label, because a widget's label
    is also its accessible name: a screen reader would read ":red[●] Foreground weight" aloud."""
    k, part = _knob(key), _part(key)
    lo, top = _span(key)
    step = k.step_for(part if isinstance(part, int) else None)
    label, help_text = BY_KEY[key].label, k.help_for(part)
    own_line = bool(mark or title)
    if own_line:
        st.markdown(f"{mark} {title or label}".strip(), help=help_text)
    value = st.slider(
        label, lo, top, step=step, key=key, help=None if own_line else help_text, format=k.fmt, persist_state=PS,
        label_visibility="collapsed" if own_line else "visible",
    )  # fmt: skip
    allowed = allowed_range(key)  # a value beyond this studio's limit is shown, and said
    problems = (range_problem(v, allowed, capped=allowed[1] < k.range[1]) for v in _numbers(value))
    if problem := next(filter(None, problems), None):
        st.caption(f":red[{problem}]")
    return value


def knob_slider(key: str, k: Knob, default: Any, where: Any = st) -> Any:
    """The slider of a Knob that is no GenerationParams field (the Edit page's denoise, feather and
    brush), drawn as the Generate knobs are: label, help, step and format from `k`, its span widened
    to hold the value it is given (`span_holding`, `bindings.hold_span`), a value outside the Knob's
    range said under it. A value that is no number (a damaged session) is put back to `default`."""
    value = bindings.value(key)
    if isinstance(value, bool) or not _numbers(value):
        bindings.set_value(key, value := default)
    span = span_holding(k.slider, value)
    bindings.hold_span(key, span)
    shown = where.slider(k.label, *span, step=k.step_for(), key=key, help=k.help, format=k.fmt, persist_state=PS)
    if problem := next(filter(None, (range_problem(v, k.range) for v in _numbers(shown))), None):
        where.caption(f":red[{problem}]")
    return shown


def range_problem(value: Any, allowed: tuple[float, float], capped: bool = False) -> str | None:
    """Words for a number outside `allowed` (inclusive), or None; `capped`: the top is this studio's
    limit, below the knob's (the operator's variable is named where a render is refused)."""
    lo, hi = allowed
    try:
        inside = lo <= float(value) <= hi
    except (TypeError, ValueError, OverflowError):
        inside = False
    if inside:
        return None
    return f"must be between {_num(lo)} and {_num(hi)}" + (" on this studio" if capped else "")


def _num(x: float) -> str:
    """A bound as typed: a whole number whole (a seed's 4294967295, not 4.29497e+09)."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def number_box(where: Any, label: str, key: str, allowed: tuple[float, float], capped: bool = False,
               problem: str | None = None, **kwargs: Any) -> Any:  # fmt: skip
    """A number box that takes any number and says under it, in words, the range `allowed` when the
    number is outside it (else `problem`, another rule's message). No min/max on the widget: with
    them a browser refuses an out-of-range number with a red border alone (its words sit in a
    tooltip), keeps the last good one, and the server never hears of it."""
    value = where.number_input(label, key=key, persist_state=PS, **kwargs)
    problem = range_problem(value, allowed, capped) or problem
    if problem:
        where.caption(f":red[{problem}]")
    return value


def range_words(allowed: tuple[float, float]) -> str:
    """'1 to 10000000', '1e-09 to 1': a range as a box's help says it (bounds as `range_problem` writes them)."""
    lo, hi = allowed
    return f"{_num(lo)} to {_num(hi)}"


def knob_box(where: Any, k: Knob, key: str, part: int | None = None, **kwargs: Any) -> Any:
    """The number box of a Knob outside the binding table (the Train form's settings): its label,
    its help ending with the range the Knob declares (what config.validate checks, seen before
    Start), and under it, once a value outside that range is submitted, that range in words."""
    help_text = f"{k.help_for(part)} Allowed: {range_words(k.range)}."
    return number_box(where, k.label, key, k.range, help=help_text, **kwargs)


def number(key: str, where: Any = st, **kwargs: Any) -> Any:
    """The number box of a knob: its range from the Knob, its top lowered to the operator's limit."""
    k, part = _knob(key), _part(key)
    allowed = allowed_range(key)  # width, height: CLAP2DIFF_MAX_SIDE
    step = k.step_for(part if isinstance(part, int) else None)
    return number_box(where, BY_KEY[key].label, key, allowed, capped=allowed[1] < k.range[1],
                      problem=errors.field_problem(key), step=step, help=k.help_for(part), format=k.fmt, **kwargs)  # fmt: skip


def choice(key: str, widget: Any = st.radio, options: list[str] | None = None, **kwargs: Any) -> Any:
    k, part = _knob(key), _part(key)
    return widget(
        kwargs.pop("label", BY_KEY[key].label),
        options or list(k.values),
        key=key,
        format_func=k.choice_label,
        help=k.help_for(part),
        persist_state=PS,
        **kwargs,
    )


def text_and_sampling() -> None:
    for key, widget, extra in (
        ("w_prompt", st.text_area, dict(height=80, placeholder="e.g. a quiet harbour at dusk")),
        ("w_negative", st.text_input, dict(placeholder="e.g. blurry, text, watermark")),
    ):
        widget(BY_KEY[key].label, key=key, help=_knob(key).help, persist_state=PS, **extra)
    c1, c2 = st.columns([1.6, 1], vertical_alignment="bottom")  # the toggle below: whole at 1024 px too
    number("w_seed", c1)
    # A text label: an icon-only button is announced by screen readers as its icon's name.
    c2.button("Random", on_click=bindings.randomise_seed, help="Pick a random seed", key="btn_seed", width="stretch")
    st.toggle(
        "New seed every render",
        key="ui_new_seed",
        persist_state=PS,
        help="Pick a random seed each time you press Render (the seed used is shown with the image).",
    )
    c1, c2 = st.columns(2)
    with c1:
        slider("w_steps")
    with c2:
        slider("w_guidance")
    # One wrapping row of fixed widths: beside the size at 1280 px, under it at 1024 px (in a third
    # column "DPM++ 2M" read "DPM+").
    row = st.container(horizontal=True, gap="small", key="size_row")
    number("w_width", row.container(width=SIZE_PX))
    number("w_height", row.container(width=SIZE_PX))
    choice("w_scheduler", row.container(width=SAMPLER_PX).selectbox)


def silent_levels() -> list[str]:
    """Levels the current switch points give no denoising step (e.g. equal points: no background)."""
    try:
        blends = level_schedule(
            int(bindings.value("w_steps")),
            tuple(bindings.value("w_switch")),
            bindings.value("w_switch_style"),
            float(bindings.value("w_crossfade")),
        )
    except (TypeError, ValueError):
        return []  # out-of-order or missing values: the field's own message says so
    used = {level for blend in blends for level in blend}
    return [level for level in LEVELS if level not in used]


def sources_controls() -> None:
    """Where each level's sound comes from: the mode, the two band edges, the stem → level map.
    None of these re-runs separation when only the map changes (the engine caches the stems)."""
    choice("w_sources", horizontal=True)
    mode = bindings.value("w_sources", "mix")
    if mode == "mix":
        fg, bg, amb = BY_KEY["w_split"].from_widget(bindings.value("w_split"))
        st.caption(
            f"One clip, one CLAP embedding: the first {fg} tokens → :red[●] foreground, the next {bg} → "
            f":green[●] background, the last {amb} → :blue[●] ambience (token split under More)."
        )
    elif mode == "bands":
        c1, c2 = st.columns(2)
        number("w_crossover_low", c1)
        number("w_crossover_high", c2)
        lo, hi = float(bindings.value("w_crossover_low")), float(bindings.value("w_crossover_high"))
        heard = {"low": "bass, rumble, hum", "mid": "voices, most instruments", "high": "hiss, cymbals, birdsong"}
        where = band_ranges((lo, hi)) | {"low": f"below {lo:g} Hz", "high": f"above {hi:g} Hz"}
        st.caption(" · ".join(f"{LEVEL_ICON[lv]} {lv} ← {where[b]} ({heard[b]})" for b, lv in BAND_LEVELS.items()))
    else:
        # As many a row as fit at 14 rem each (Streamlit's least for a stretched select): one a row in
        # the narrow column at 1024 px, where two a row read "bac", "amb".
        row = st.container(horizontal=True, gap="small", key="stem_map")
        for stem in STEMS:
            choice(f"w_stem_{stem}", row.selectbox, options=list(LEVELS))
        routed = {lv: [s for s in STEMS if bindings.value(f"w_stem_{s}") == lv] for lv in LEVELS}
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


def conditioning_sliders(text_norm: float | None) -> None:
    """The knobs that re-run only the denoising loop (engine caches reused)."""
    with st.container(border=True, key="sources_box"):
        sources_controls()
    # The heading and Reset each as wide as their text (in two columns, "Reset" read "R…" at 1024 px).
    row = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    row.markdown("**Hierarchy weights**", width="content")
    if row.button(
        "Reset",
        width="content",
        key="btn_reset_knobs",
        on_click=bindings.reset_knobs,
        icon=":material/restart_alt:",
        help="Every knob back to its default; the prompt, the seed, the clip (and its window) and the sidebar's "
        "conditioning mode stay.",
    ):
        st.rerun()  # a full run: size and steps sit outside the live panel's fragment
    for level in LEVELS:
        key = f"w_weight_{bindings.LEVEL_SHORT[level]}"
        slider(key, mark=LEVEL_ICON[level])
    st.markdown("**When each level speaks**")
    slider("w_switch")
    p = bindings.value("w_switch")
    st.caption(
        f":blue[●] ambience for the first {p[0]:.0%} of the steps → :green[●] background up to "
        f"{p[1]:.0%} → :red[●] foreground to the end"
    )
    silent = silent_levels()
    if silent:
        st.warning(
            f"With these switch points and {bindings.value('w_steps')} steps the **{' and the '.join(silent)}** "
            + (
                "gets no step: its sound never reaches"
                if len(silent) == 1
                else "get no step: their sound never reaches"
            )
            + " the picture.",
            icon=":material/info:",
        )
    c1, c2 = st.columns(2)
    with c1:
        slider("w_norm_target")
        ref = f"{text_norm:.2f}" if text_norm is not None else "—"
        measure = knobs()["norm_measure"].choice_label(bindings.value("w_norm_measure"))
        st.caption(f"Prompt's own text-token norm: **{ref}** ({measure})")
    with c2:
        slider("w_audio_strength")
    st.markdown(f"**Gate scale{MULTIPLIER_MARK} per UNet block group**")
    # Bottom-aligned: 'Down' and its help icon take two lines in a 1024-px window, the others one.
    for col, group in zip(st.columns(3, vertical_alignment="bottom"), ("down", "mid", "up"), strict=True):
        with col:
            slider(f"w_gate_{group}", title=group.capitalize())

    with st.expander("More: token split, switch style, listening"):
        if bindings.value("w_sources", "mix") == "mix":
            slider("w_split")
            fg, bg, amb = BY_KEY["w_split"].from_widget(bindings.value("w_split"))
            st.caption(f":red[●] {fg} | :green[●] {bg} | :blue[●] {amb} tokens")
        c1, c2 = st.columns(2)
        with c1:
            choice("w_switch_style", horizontal=True)
        with c2:
            if bindings.value("w_switch_style") == "smooth":
                slider("w_crossfade")
        choice("w_norm_measure", horizontal=True)
        if bindings.value("w_mode", "zero-shot") == "zero-shot":
            c1, c2 = st.columns(2)
            with c1:
                slider("w_top_k")
            with c2:
                slider("w_temperature")


def quality_choice(key: str, where: Any = st, width: str = "content") -> None:
    """Preview or full quality for a batch of images (Compare, Sweep): one label and one help."""
    where.radio(
        "Quality",
        bindings.QUALITIES,
        key=key,
        horizontal=True,
        persist_state=PS,
        format_func={"preview": "Preview", "full": "Full"}.get,
        help="Preview uses the preview steps and size from the sidebar; full uses the Generate settings.",
        width=width,
    )
