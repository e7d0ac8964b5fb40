"""The pages (files in the top-level pages/ folder) and their order in the navigation."""

from __future__ import annotations

import streamlit as st

from studio import PAGES_DIR

SPECS: tuple[tuple[str, str, str], ...] = (
    ("generate", "Generate", ":material/graphic_eq:"),
    ("gates", "Gates", ":material/tune:"),
    ("spectrogram", "Spectrogram", ":material/equalizer:"),
    ("gallery", "Gallery", ":material/photo_library:"),
    ("compare", "Compare", ":material/compare:"),
    ("edit", "Edit", ":material/auto_fix_high:"),
    ("sweep", "Sweep", ":material/grid_on:"),
    ("train", "Train", ":material/model_training:"),
)
PAGES: dict[str, st.Page] = {}


def pages() -> list[st.Page]:
    """Build the st.Page objects for this run (and keep them for st.switch_page)."""
    out = []
    for i, (name, title, icon) in enumerate(SPECS):
        page = st.Page(PAGES_DIR / f"{name}.py", title=title, icon=icon, url_path=name, default=i == 0)
        PAGES[name] = page
        out.append(page)
    return out


def link(name: str, label: str | None = None, icon: str | None = None) -> None:
    """A link to another page (e.g. 'Open Generate')."""
    if name in PAGES:
        st.page_link(PAGES[name], label=label, icon=icon)
