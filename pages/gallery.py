"""Gallery: this session's renders with their params; recall, restore from a PNG, export, delete. The
renders are kept on disk under the address's gallery code (studio/gallery_store.py)."""

from __future__ import annotations

import streamlit as st

from core import GRID_FORMAT, ExportError, read_grid, read_metadata, read_params
from studio import bindings, errors, gallery_export, gallery_store, nav, widgets
from studio.bindings import PERSIST as PS
from studio.session import session

s = session()
st.markdown("## Gallery")
st.caption(
    "Every render kept in this gallery. Recall puts an image's settings back into the sliders; "
    "every PNG carries its settings, so a downloaded image can be restored later.  \n" + gallery_store.retention_note()
)

# A render started on Generate keeps running while the user looks here: say so, follow it at the
# end of this script (after the page is drawn), and show the new image once it is done.
running_slot = st.container()


def follow_running_render() -> None:
    job = s.render.job
    if not s.render.running or job is None:
        return
    running_slot.info("A render is running (Generate page): it appears here when it is done.", icon=":material/brush:")
    widgets.follow(job, running_slot)
    s.collect_jobs()
    st.rerun()


# -- restore from a PNG ---------------------------------------------------------------------------
with st.expander("Restore settings from a PNG made by the studio or the CLI", expanded=not s.history):
    up = st.file_uploader("PNG with CLAP2Diff parameters", type=["png"], key="gallery_png")
    if up is not None:
        data = up.getvalue()
        try:
            meta = read_metadata(up)  # the upload itself: messages name its file
            if meta.get("format") == GRID_FORMAT:
                items = [it for it in read_grid(up) if it.params is not None]
                st.success(
                    f"{widgets.escape_md(up.name)} is a comparison grid of {len(items)} images: recall any of them."
                )
                for i, it in enumerate(items):
                    c1, c2 = st.columns([4, 1], vertical_alignment="center")
                    c1.markdown(f"**{widgets.escape_md(it.caption)}** — seed {it.params.seed}, "
                                f"{it.params.width}×{it.params.height}")  # fmt: skip
                    # names only, as a single PNG's Recall: a grid never makes the server open a path
                    c2.button("Recall", key=f"recall_grid_{i}", on_click=s.recall, args=(it.params.shareable(),))
            else:
                restored = read_params(up)
                c1, c2 = st.columns([1, 3])
                widgets.safe_image(c1, data, width=160)
                with c2:
                    st.success(f"Read the settings of {widgets.escape_md(up.name)}.")
                    if "edit" in meta:  # the sliders take its generation settings; the edit needs its photo
                        st.info(
                            f"{widgets.escape_md(up.name)} is an edited photo: Recall restores its clip, prompt and "
                            "knobs, not the edit itself. To edit again, choose its photo on the Edit page; to "
                            "reproduce it exactly, "
                            "`python -m core edit --from` with the photo and mask beside the PNG.",
                            icon=":material/info:",
                        )
                    st.caption(widgets.seed_line(restored))
                    st.button(
                        "Recall into the sliders",
                        key="recall_upload",
                        type="primary",
                        on_click=s.recall,
                        args=(restored.shareable(),),  # names only: a PNG never makes the server open a path
                        icon=":material/settings_backup_restore:",
                    )
                    with st.expander("All parameters"):
                        st.json(restored.shareable().to_dict())  # what the PNG says: no folders
        except ExportError as exc:
            errors.show(exc)

history = s.history
if not history:
    st.info("No renders yet. Press **Render** on the Generate page; each render appears here.")
    nav.link("generate", "Open Generate", icon=":material/graphic_eq:")
    follow_running_render()
    st.stop()


# -- selection, export and delete ------------------------------------------------------------------
def _select_all(value: bool) -> None:
    for h in s.history:
        bindings.set_value(f"sel_{h.id}", value)


def _ask_delete(ids: tuple[int, ...]) -> None:
    s.gallery_delete = ids  # the confirm button appears; nothing is deleted yet


def _delete(ids: tuple[int, ...]) -> None:
    """The confirm button: these images out of this session and off the disk, the selection cleared."""
    for i in ids:
        bindings.set_value(f"sel_{i}", False)
    count = sum(1 for h in s.history if h.id in ids)
    refused = s.forget(set(ids))
    s.gallery_delete = ()
    st.toast(f"Deleted {_images(count)} from this gallery.", icon=":material/delete:")
    if refused:
        st.toast(
            f"{len(refused)} of their files could not be removed from the server's disk: a reload may show them again.",
            icon=":material/warning:",
        )


def _images(n: int) -> str:
    return f"{n} image" + ("" if n == 1 else "s")


selected = [h for h in history if bindings.value(f"sel_{h.id}")]
key = tuple(h.id for h in selected)
if s.gallery_delete and s.gallery_delete != key:
    s.gallery_delete = ()  # the selection changed since Delete was pressed: ask again
bar = st.container(border=True)
with bar:
    # Two rows, so that every label fits at 1024 px: choosing (and deleting), then the downloads.
    c1, c2, c3, c6 = st.columns([1.4, 1, 1, 1.6], vertical_alignment="bottom")
    c4, c5, _ = st.columns(3, vertical_alignment="bottom")
    c1.markdown(f"**{len(selected)}** of {len(history)} selected")
    c2.button("Select all", on_click=_select_all, args=(True,), key="sel_all")
    c3.button("Clear", on_click=_select_all, args=(False,), key="sel_none")
    c6.button(
        "Delete selected",
        on_click=_ask_delete,
        args=(key,),
        key="del_ask",
        disabled=not selected,
        icon=":material/delete:",
        help="Delete the selected images from this gallery (you confirm first).",
    )
    if selected:
        try:
            files = gallery_export.selection_files(selected, s.gallery_files)
            c4.download_button(
                "ZIP of selection",
                files.zip,
                file_name=gallery_export.ZIP_NAME,
                mime="application/zip",
                on_click="ignore",
                key="dl_zip",
                icon=":material/folder_zip:",
            )
            c5.download_button(
                "Comparison grid",
                files.grid,
                file_name=gallery_export.GRID_NAME,
                mime="image/png",
                on_click="ignore",
                key="dl_grid",
                icon=":material/grid_view:",
            )
        except (ExportError, ValueError) as exc:
            errors.show(exc)
    else:
        c4.caption("Select images to export them as a ZIP or one captioned grid, or to delete them.")
    if selected and s.gallery_delete == key:
        st.warning(
            f"Delete {_images(len(selected))} from this gallery? They go from this server's disk too (a reload, "
            "a bookmark or another tab of this gallery will not show them again); a downloaded PNG keeps its settings. "
            "This cannot be undone.",
            icon=":material/delete_forever:",
        )
        d2, d3, _ = st.columns([1.3, 1, 1.7], vertical_alignment="center")  # whole labels at 1024 px
        d2.button(
            f"Delete {_images(len(selected))}",
            on_click=_delete,
            args=(key,),
            key="del_confirm",
            type="primary",
            icon=":material/delete_forever:",
        )
        d3.button("Cancel", on_click=_ask_delete, args=((),), key="del_cancel")

EDIT_RECALLED = (
    "An edited photo: Recall puts its clip, prompt and knobs into Generate's sliders, not the edit (Render draws a "
    "new picture from them). To edit again, choose its photo on the Edit page."
)

# -- thumbnails -----------------------------------------------------------------------------------
COLUMNS = 4
items = list(reversed(history))
for row in range(0, len(items), COLUMNS):
    cols = st.columns(COLUMNS, gap="medium")
    for col, h in zip(cols[: len(items[row : row + COLUMNS])], items[row : row + COLUMNS], strict=True):
        with col.container(border=True):
            st.image(h.png, width="stretch", output_format="PNG")
            st.checkbox(widgets.escape_md(h.title), key=f"sel_{h.id}", persist_state=PS)  # a label is Markdown too
            st.caption(widgets.escape_md(h.summary))
            edited = h.kind == "edit"  # one button a row: side by side, a 4-column card cuts their labels
            st.button(
                "Recall",
                key=f"recall_{h.id}",
                on_click=s.recall,
                args=(h.params,),
                kwargs={"about": EDIT_RECALLED} if edited else None,
                icon=":material/settings_backup_restore:",
                width="stretch",
                help=EDIT_RECALLED if edited else "Put these settings back into the Generate page's sliders.",
            )
            widgets.download_png(h, key=f"dl_{h.id}", label="PNG", width="stretch")
            with st.expander("Parameters"):
                st.json(h.params.shareable().to_dict(), expanded=False)  # as in its PNG: no server folders

follow_running_render()
