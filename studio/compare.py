"""The Compare page's variants: the same seed and prompt, changed only through GenerationParams."""

from __future__ import annotations

from core.params import GenerationParams

# Switch points that make one level condition every step (see core.schedule.level_schedule:
# ambience while step < p1·N, background while step < p2·N, foreground after).
ALONE_SWITCH = {"foreground": (0.0, 0.0), "background": (0.0, 1.0), "ambience": (1.0, 1.0)}

VARIANTS: dict[str, str] = {
    "with_audio": "With audio",
    "without_audio": "Without audio",
    "foreground": "Foreground alone",
    "background": "Background alone",
    "ambience": "Ambience alone",
}


def level_origin(params: GenerationParams, level: str) -> str:
    """What a level hears, for captions: token positions, a band, or the stems mapped to it."""
    if params.sources == "bands":
        lo, hi = params.crossovers
        return {"ambience": f"< {lo:g} Hz", "background": f"{lo:g}–{hi:g} Hz", "foreground": f"> {hi:g} Hz"}[level]
    if params.sources == "stems":
        stems = [s for s, lv in params.stem_map if lv == level]
        return "+".join(stems) or "no stem"
    fg, bg, amb = params.split
    return {"foreground": f"tokens 1–{fg}", "background": f"tokens {fg + 1}–{fg + bg}",
            "ambience": f"tokens {fg + bg + 1}–77"}[level]


def variants(params: GenerationParams, names: list[str]) -> list[tuple[str, GenerationParams]]:
    """(caption, params) per chosen variant, in the order of VARIANTS."""
    out: list[tuple[str, GenerationParams]] = []
    for name in VARIANTS:
        if name not in names:
            continue
        if name == "with_audio":
            out.append(("With audio", params))
        elif name == "without_audio":
            out.append(("Without audio (strength 0)", params.replace(audio_strength=0.0)))
        else:
            caption = f"{name.capitalize()} alone ({level_origin(params, name)})"
            out.append((caption, params.replace(switch_points=ALONE_SWITCH[name], switch_style="hard")))
    return out
