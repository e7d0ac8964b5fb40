"""CLAP2Diff Studio: entrypoint and router.

    streamlit run studio/app.py --server.fileWatcherType none

CLAP2DIFF_MODELS (tiny | sd15 | a Hub id | a local folder; comma-separated: the models offered, the
first is where sessions start). Operators: docs/OPERATIONS.md.
Once per server process: prune uploads older than a day, and old galleries. Every run: set up the
session (and its gallery kept on disk, studio/gallery_store.py), draw the
sidebar (models, conditioning, preview), collect finished background jobs, then run the selected
page from the top-level pages/ folder, and keep what the run loaded out of Streamlit's per-rerun
garbage collection (studio/collector.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import studio  # noqa: E402

studio.bootstrap()

import streamlit as st  # noqa: E402

from core.models import default_device  # noqa: E402
from studio import bindings, collector, gallery_store, janitor, knob_memory, nav, widgets  # noqa: E402
from studio.session import session  # noqa: E402

st.set_page_config(
    page_title="CLAP2Diff Studio", page_icon="🎧", layout="wide", initial_sidebar_state="auto"
)  # auto: closed on a phone

# Output stays in view while the knobs scroll (as in A1111): the containers keyed in STICKY
# (Generate's preview and render) stick below the header. Streamlit stacks columns under 640 px;
# there nothing sticks, so a phone never gets an image pinned over the knobs.
STICKY = ("preview_box", "render_box")
_sticky = ",".join(f"[data-testid='stColumn'] [data-testid='stLayoutWrapper']:has(> .st-key-{k})" for k in STICKY)
st.html(
    "<style>[data-testid='stMainBlockContainer']{padding-top:4.25rem;padding-bottom:2rem}"
    "[data-testid='stSidebarUserContent']{padding-top:0.5rem}"
    ".st-key-edit_canvas{overflow-x:auto}"  # a paint canvas wider than its column scrolls, never hides a side
    # The top navigation moves the entries that do not fit into "N more" by its own width, padding
    # included: its 1rem of padding a side was no room, and from ~1000 to 1043 px the last entry ran past the
    # window. A margin instead (same place), and links 4 px narrower: all eight fit at 1024 px.
    "[data-testid='stTopNav']{padding-left:0;padding-right:0;margin:0 1rem}"
    "[data-testid='stTopNavLink']{padding-left:0.375rem;padding-right:0.375rem}"
    f"@media (min-width:640px){{{_sticky}{{position:sticky;top:4rem;z-index:2}}}}</style>"
)


@st.cache_resource(show_spinner=False)
def _on_server_start() -> int:
    """Once per server process: uploads untouched for a day go (studio/uploads.py), and old
    galleries (studio/gallery_store.py)."""
    from studio.gallery_prune import prune_galleries
    from studio.uploads import prune_uploads

    return len(prune_uploads()) + len(prune_galleries())


_on_server_start()
page = st.navigation(nav.pages(), position="top")
current = session()
fresh = current.gallery_code is None  # this session's first run: a new tab, a reload, a bookmark
gallery_store.attach(current, st.query_params)  # the gallery kept on disk under the link's ?gallery= code
gallery_store.sync(current)  # what other tabs of that gallery kept or deleted since
if fresh:
    knob_memory.restore(current)  # the knobs as this gallery's page last showed them
janitor.watch(current, fresh)  # jobs cancelled, uploads released when it ends; a reload's jobs taken over
goto, current.goto = current.goto, None
if goto in nav.PAGES:
    st.switch_page(nav.PAGES[goto])

bindings.ensure_widgets(device_hint=default_device())
knob_memory.remember(current)  # the knobs as the browser sent them (a run may end in st.stop or st.rerun)
slot = widgets.sidebar()
current.collect_jobs()
if not slot.ok:
    widgets.show_load_error(slot)
try:
    page.run()
finally:
    collector.settle_on_server()  # what this run loaded stays out of the per-rerun collection
