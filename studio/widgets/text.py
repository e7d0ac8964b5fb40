"""User text (prompts, file names, a PNG's captions and model names) inside Streamlit Markdown.

Why: st.markdown, st.caption, st.info... render their text as Markdown, so a prompt such as
`a *neon* street [click](http://example.com)` showed italics and a live link, and a PNG made by
someone else could put links on the page that way. Everything a user or a file supplied goes
through `escape_md` before it is put into Markdown.
"""

from __future__ import annotations

import re

# What Markdown (CommonMark + GFM + Streamlit's math) reads as syntax while parsing: backslash-escaped.
_SYNTAX = re.compile(r"([\\`*_\[\]<>$~|&#!{}])")
# A list or heading marker at the very start ('1. intro.wav', '- take 2', '+ rain').
_LEADING = re.compile(r"^(\s*\d*)([-+.)])")
# Streamlit turns bare links ('http://…', 'www.…', 'a@b.org') and ':material/…:' icons into
# elements after parsing, where a backslash no longer counts: an invisible WORD JOINER splits them.
_JOIN = "\u2060"
_AFTER_PARSE = re.compile(r"(:)|(@)|(?i:(www)(\.))")


def _split(match: re.Match[str]) -> str:
    colon, at, www, dot = match.groups()
    if colon:
        return colon + _JOIN
    if at:
        return _JOIN + at
    return www + _JOIN + dot


def escape_md(text: object) -> str:
    """`text` as it reads, wherever it is put into Markdown: no emphasis, link, code, math, HTML,
    icon, list or heading, and on one line (a prompt's line breaks become spaces)."""
    flat = " ".join(str(text).splitlines())
    return _AFTER_PARSE.sub(_split, _LEADING.sub(r"\1\\\2", _SYNTAX.sub(r"\\\1", flat)))


__all__ = ["escape_md"]
