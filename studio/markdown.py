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
# Only where one could start (a colon before a space, as in "a city: at night", starts neither), so
# that little of what people copy off the page carries the invisible character.
_JOIN = "\u2060"
_AFTER_PARSE = re.compile(r"(:)(?=\S)|(@)|(?i:(www)(\.))")


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
    return _LEADING.sub(r"\1\\\2", _escape_inline(" ".join(str(text).splitlines())))


# A code span as a message writes it (`hf download owner/model`): already shown literally by Markdown.
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def escape_md_prose(text: object) -> str:
    """A message (an exception's text, which may quote a file name or a prompt) for Markdown: like
    `escape_md`, except that its `code spans` stay code, so commands remain copyable as written."""
    parts = _CODE_SPAN.split(" ".join(str(text).splitlines()))
    return "".join(part if i % 2 else _escape_inline(part) for i, part in enumerate(parts))


def _escape_inline(text: str) -> str:
    """Every syntax character escaped, links and icons split; no list-marker rule (a message follows
    its bold title on the line; `escape_md` adds the rule)."""
    return _AFTER_PARSE.sub(_split, _SYNTAX.sub(r"\\\1", text))


def code_md(text: object) -> str:
    """`text` as a code span (a run or file name, shown as written and easy to copy), fenced with
    more backticks than it contains, so a name with a backtick in it cannot end the span early."""
    flat = " ".join(str(text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


__all__ = ["code_md", "escape_md", "escape_md_prose"]
