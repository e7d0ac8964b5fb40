"""The readable ``parameters`` text of a PNG, as A1111 and other SD tools write it.

Line 1 is the prompt, then ``Negative prompt: ...`` (omitted when empty), then one
``Key: value, ...`` line. It is a summary for people and other tools: nothing parses it back (the
``clap2diff`` JSON chunk is what reproduces an image).

The prompt and negative prompt are one line each: a newline in them is written ``\\n`` (and a
backslash ``\\\\``), so a prompt can never forge a line such as ``Steps: 999`` (`escape_line`,
`unescape_line` give the text back exactly).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from core.params import GenerationParams, clip_name
from core.train.layout import checkpoint_name

from .formats import FORMAT_VERSION, PARAMS_FORMAT


def _num(value: Any) -> str:
    """Numbers as people write them: 1.0 -> "1", 0.1 -> "0.1" (shortest exact repr), 60 -> "60"."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _nums(values: Iterable[Any]) -> str:
    return "/".join(_num(v) for v in values)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}
# A backslash is doubled only where it would be misread (before \\, n, r or a line break): A1111
# prompts keep their own escapes such as \\( as they are.
_AMBIGUOUS_BACKSLASH = re.compile(r"\\(?=[\\nr\n\r]|$)")


def escape_line(text: str) -> str:
    """`text` on one line: newline and carriage return become \\n and \\r (and a backslash that
    would be misread, \\\\)."""
    text = _AMBIGUOUS_BACKSLASH.sub(r"\\\\", text)
    return text.replace("\n", "\\n").replace("\r", "\\r")


def unescape_line(line: str) -> str:
    """The inverse of `escape_line` (for tools that read the parameters text back)."""
    out, chars = [], iter(line)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            out.append(_UNESCAPES.get(nxt, c + nxt))
        else:
            out.append(c)
    return "".join(out)


def _quote(text: str) -> str:
    """Quote a value the way A1111 does when it would break the `Key: value, ...` line."""
    if any(c in text for c in ',:"\n\r'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _audio_text(params: GenerationParams) -> str:
    if params.audio_path is None:
        return "none"
    text = _quote(clip_name(params.audio_path))
    if params.audio_sha256:
        text += f" (sha256 {params.audio_sha256[:12]}…)"
    return text


def _sources_text(params: GenerationParams) -> str:
    if params.sources == "bands":
        return f"bands {_nums(params.crossovers)} Hz"
    if params.sources == "stems":
        return "stems " + "/".join(f"{stem}={level}" for stem, level in params.stem_map)
    return params.sources


def parameters_text(params: GenerationParams) -> str:
    """The A1111-style summary stored in the `parameters` chunk (for humans and other SD tools).

    Line 1 is the prompt, then `Negative prompt: ...` (omitted when empty, as A1111 does), then one
    `Key: value, ...` line. It is a summary: read_params never parses it back.
    """
    switch = f"{_nums(params.switch_points)} ({params.switch_style}"
    if params.switch_style == "smooth":
        switch += f", crossfade {_num(params.crossfade)}"
    switch += ")"
    fields: list[tuple[str, str]] = [
        ("Steps", _num(params.steps)),
        ("Sampler", params.scheduler),
        ("CFG scale", _num(params.guidance)),
        ("Seed", _num(params.seed)),
        ("Size", f"{params.width}x{params.height}"),
        ("Model", _quote(params.models)),
        ("Audio", _audio_text(params)),
        ("Audio strength", _num(params.audio_strength)),
        ("Weights", _nums(params.level_weights)),
        ("Norm target", f"{_num(params.norm_target)} ({params.norm_measure})"),
        ("Switch", _quote(switch) if "," in switch else switch),
        ("Gates", _nums(params.gate_scales)),
        ("Sources", _sources_text(params)),
        ("Mode", params.mode),
    ]
    if params.mode == "trained" and params.checkpoint:
        digest = f" (sha256 {params.checkpoint_sha256[:12]}…)" if params.checkpoint_sha256 else ""
        fields.append(("Checkpoint", _quote(checkpoint_name(params.checkpoint)) + digest))
    if params.mode == "zero-shot":
        fields += [("Top-k", _num(params.top_k)), ("Temperature", _num(params.temperature))]
    fields.append(("Split", _nums(params.split)))
    if params.window_start:
        fields.append(("Window start", f"{_num(params.window_start)} s"))
    fields.append(("Version", f"{PARAMS_FORMAT}/{FORMAT_VERSION}"))

    lines = [escape_line(params.prompt)]
    if params.negative_prompt:
        lines.append(f"Negative prompt: {escape_line(params.negative_prompt)}")
    lines.append(", ".join(f"{k}: {v}" for k, v in fields))
    return "\n".join(lines)


__all__ = ["escape_line", "parameters_text", "unescape_line"]
