"""Edit: your own photo changed by a sound, as a whole or inside a region painted on it (variation:
the photo is noised part of the way and re-drawn with the prompt and the audio). A live preview
follows the knobs, as on Generate; before and after side by side."""

from __future__ import annotations

import streamlit as st

from core import EditParams, clip_name
from studio import bindings, editing, errors, loader, nav, widgets
from studio.bindings import PERSIST as PS
from studio.jobs import Job
from studio.session import session

s = session()
engine = loader.current()

st.markdown("## Edit")
st.caption(
    "Change your own photo with a sound: the clip, prompt and every knob come from the Generate page. "
    "Denoise says how much of the photo is re-drawn; a mask keeps everything outside it exactly as it was."
)
params, choice = widgets.generate_settings(engine)
editing.ensure_defaults()

painting = bindings.value("edit_mask_source") == "paint"  # the canvas has a fixed width: room for it
left, right = st.columns(list(widgets.PAINT_COLUMNS) if painting else [1, 1.3],
                         gap=widgets.PAINT_GAP if painting else "large")  # fmt: skip
with left:
    st.markdown("#### 1 · Photo")
    source = st.radio("Photo from", ["upload", "gallery"], key="edit_photo_source", horizontal=True,
                      format_func={"upload": "Upload", "gallery": "The Gallery"}.get, persist_state=PS)  # fmt: skip
    photo_path, photo, photo_problem = None, None, None
    if source == "upload":
        st.file_uploader("Photo", type=editing.PHOTO_TYPES, key="edit_photo", on_change=editing.on_upload,
                         args=("edit_photo", "photo"))  # fmt: skip
        photo_path, using = editing.kept_upload("photo", "edit_photo")
        if using:
            st.caption(using)
        if photo_problem := editing.upload_problem("photo"):  # too large, or the disk is full
            errors.show(photo_problem)
    elif s.history:
        gone = editing.left_gallery()  # read before the picker falls back to the newest
        pick = st.selectbox("Image", [h.id for h in reversed(s.history)], key="edit_gallery_pick",
                            format_func=lambda i: s.find(i).title if s.find(i) else str(i))  # fmt: skip
        if gone is not None:
            st.caption(f":material/info: #{gone} is no longer in the Gallery (deleted, or pushed out by newer "
                       "images): the newest is chosen instead.")  # fmt: skip
        item = s.find(pick)
        if item is not None:
            photo_path, photo_problem = editing.gallery_photo(item)
            if photo_problem:
                errors.show(photo_problem)
    else:
        st.info("The Gallery is empty: render something on Generate, or upload a photo.")
    if photo_path is not None:
        try:
            photo = editing.working_photo(photo_path)
        except Exception as exc:  # noqa: BLE001 - a file that cannot be used is a message, never raised
            photo_problem = errors.describe(exc)
            errors.show(photo_problem)
        for note in photo.notes if photo is not None else ():  # resized, turned upright, transparency filled
            st.caption(f":material/info: Photo: {note}.")

    st.markdown("#### 2 · Where it may change")
    mask_source = st.radio("Region", list(editing.MASK_SOURCES), format_func=editing.MASK_SOURCES.get,
                           key="edit_mask_source", horizontal=True, persist_state=PS)  # fmt: skip
    strokes, uploaded, using = None, None, None
    if mask_source == "upload":  # known before its uploader is drawn: the photo above shows where it lands
        uploaded, using = editing.kept_upload("mask", "edit_mask")
    if mask_source == "paint" and photo is not None:
        with st.container(key="edit_canvas"):
            strokes = widgets.paint_canvas(photo.image, bindings.value("edit_brush"), editing.painting(photo))
        # Below the canvas: the canvas's own toolbar (undo, redo, delete) floats over what is above it.
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        widgets.knob_slider("edit_brush", editing.knob_for("edit_brush"), editing.STARTING["edit_brush"], c1)
        c2.button("Clear", on_click=editing.clear_paint, key="edit_clear", icon=":material/ink_eraser:",
                  help="Remove every stroke.", width="stretch")  # fmt: skip
        st.caption(widgets.brush_note(bindings.value("edit_brush"), photo.size))
    elif photo is not None:
        st.image(editing.shown_photo(photo, mask_source, uploaded), width="stretch")
    if mask_source == "box":
        st.slider("Left → right", 0.0, 1.0, key="edit_box_x", step=0.05, persist_state=PS)
        st.slider("Top → bottom", 0.0, 1.0, key="edit_box_y", step=0.05, persist_state=PS)
    elif mask_source == "upload":
        st.file_uploader("Mask (white = may change)", type=editing.PHOTO_TYPES, key="edit_mask",
                         on_change=editing.on_upload, args=("edit_mask", "mask"))  # fmt: skip
        if using:
            st.caption(using)
        if refused := editing.upload_problem("mask"):
            errors.show(refused)
    mask, missing, region_problem = (
        editing.chosen_mask(mask_source, photo, strokes, uploaded) if photo else (None, None, None)
    )
    if region_problem:  # said once, here: Edit the photo and the preview point at it
        errors.show(f"**Cannot use this region**: {region_problem}")
    elif photo is not None:
        st.caption(f":material/info: {missing}" if missing else editing.region_note(photo, mask))


def _edit(preview: bool = False) -> EditParams:
    """The edit the page describes now (raises a UserError or ParamsError for a bad setting)."""
    edit = editing.edit_params(bindings.current_params(models=engine.spec.name), photo_path, mask)
    return editing.preview_params(edit) if preview else edit


def _preview() -> tuple[Job | None, EditParams | None, str | None]:
    """(the preview job to follow or None, the preview's params, why there is no preview)."""
    if not bindings.value("ui_live_preview", True):
        return None, None, "Live preview is off (sidebar)."
    if photo is None:
        return (
            None,
            None,
            "The preview waits for a photo" + (" that can be used." if photo_problem else " (1 · Photo)."),
        )
    if missing:
        return None, None, "The preview waits for the region (2 · Where it may change)."
    if region_problem:  # said once, under the region: not again here
        return None, None, "The preview waits for a region it can use (2 · Where it may change)."
    if not choice.ok:  # said once, under Edit the photo: not again here
        return None, None, "The preview waits for a usable clip (see under **4 · Edit**)."
    try:
        edit = _edit(preview=True)
    except Exception as exc:  # noqa: BLE001 - a bad setting is shown, never raised into Streamlit
        return None, None, errors.describe(exc)
    if s.edit.running:
        return None, edit, "Preview paused while the edit runs."
    job = s.edit_preview.job
    queue_full = s.edit_preview.refused_for_room  # tried again on the next rerun
    if s.edit_preview.key == edit or (job is not None and job.key == edit and job.done.is_set() and not queue_full):
        return None, edit, None  # shown already, or it failed (its message is shown): not again
    if job is None or job.key != edit or queue_full:
        job = s.edit_preview.supersede(lambda: editing.edit_job(engine, edit, kind="preview"))
    return job, edit, None


todo, preview_edit, reason = _preview()  # started before the knobs are drawn: the engine works meanwhile

with left:
    st.markdown("#### 3 · How much")
    knobs = editing.edit_knobs()
    mode = knobs["edit_mode"]
    st.radio(mode.label, mode.values, format_func=mode.choice_label, key=editing.MODE_KEY, help=mode.help,
             horizontal=True, persist_state=PS)  # fmt: skip
    for key in editing.shown_keys(bindings.value(editing.MODE_KEY), masked=mask_source != "none"):
        widgets.knob_slider(key, editing.knob_for(key), editing.STARTING[key])


def _draw_preview(slot, updating: bool) -> None:
    """The latest preview (or its error) into `slot`, replacing what was there."""
    if photo is None or missing or region_problem:  # what the preview waits for is said above it: an
        return  # earlier preview (another photo, another region) would read as what is chosen now
    with slot.container():
        job = s.edit_preview.job
        if s.edit_preview.error and job is not None and job.key == preview_edit:
            errors.show(s.edit_preview.error)
        output = s.edit_preview.result
        if output is None or output.result.params.edit.image_sha256 != photo.sha256:
            return  # another photo's preview (the source switched, a new upload) would read as this one's
        r = output.result
        stale = s.edit_preview.key != preview_edit
        st.image(widgets.inline_png(output.png), width=320)
        st.caption(f"{r.trace.steps} of {r.params.generation.steps} steps · {r.image.width}×{r.image.height} · "
                   f"denoise {r.params.edit.denoise:g} · {widgets.loop_time(r.timings)}"
                   + (" · updating…" if stale and updating else " · older settings" if stale else ""))  # fmt: skip


def _edit_or_problem() -> tuple[EditParams | None, str | None]:
    """(the edit to run, None) or (None, what stops it) with the page as it is now."""
    if photo is None:  # a photo's own problem is said under it: here only where to look
        if photo_problem:
            return None, "This photo cannot be used (see the message under **1 · Photo**): choose another."
        return None, "Choose a photo first (upload one, or pick a Gallery image)."
    if missing:
        return None, missing
    if region_problem:
        return None, "This region cannot be used (see the message under **2 · Where it may change**): fix it first."
    try:
        return _edit(), None
    except Exception as exc:  # noqa: BLE001 - a bad setting or file is shown, never raised into Streamlit
        return None, errors.describe(exc)


def _start() -> None:
    if s.edit.running:  # a double click starts one edit (a second would cancel the first)
        return
    if widgets.refused_for_clip("edit", "Edit the photo"):  # the box under the button says why already
        return
    edit, problem = _edit_or_problem()
    if edit is None and (photo is None or region_problem):  # said on the page (under 1 · Photo or 2): point at it
        st.toast(problem or "", icon=":material/image:")
        return
    if edit is None:
        s.edit.fail(problem or "")
        return
    s.edit.start(editing.edit_job(engine, edit, offer_photo=source == "gallery"))


with right:
    with st.container(key="edit_preview_box"):
        st.markdown("#### Live preview")
        preview_status = st.container()
        if reason:
            preview_status.caption(reason)
        shown = st.empty()
        _draw_preview(shown, updating=todo is not None)
    st.markdown("#### 4 · Edit")
    running = s.edit.running

    def pair() -> list:
        """Two buttons side by side, or one under the other while the canvas narrows this column."""
        return [st.container(), st.container()] if painting else st.columns(2)

    c1, c2 = pair()
    c1.button("Edit the photo", type="primary", on_click=_start, disabled=running, key="edit_run",
              icon=":material/auto_fix_high:", width="stretch")  # fmt: skip
    c2.button("Cancel", on_click=s.edit.cancel, disabled=not running, key="edit_cancel", icon=":material/stop:",
              width="stretch", help="Stop after the current step.")  # fmt: skip
    widgets.clip_problem_box(choice)  # a clip that cannot be used is an error, as on Generate
    status = st.container()
    if s.edit.input_problem:  # another photo chosen, the region painted...: the message follows
        said = photo is None or region_problem  # said on the page already
        s.edit.refresh_input_problem(None if said else _edit_or_problem()[1])
    output = s.edit.result
    with st.empty().container():  # one slot, shown or not: what follows keeps its place, so a run that
        if s.edit.error:  # clears the message leaves no stale copy of the result below while it runs
            errors.show(s.edit.error)
        if s.edit.note:  # a cancel: the result below (if any) is the edit before
            st.warning(s.edit.note + (" The result below is the previous edit." if output is not None else ""))
    if output is not None:
        r = output.result
        if photo is not None and r.params.edit.image_sha256 != photo.sha256:  # kept in view, said whose
            st.caption(f":material/history: The last edit, of {widgets.escape_md(clip_name(r.params.edit.image_path))}"
                       ": not the photo chosen now.")  # fmt: skip
        # Side by side where both get 8 rem (Streamlit's least for a stretched container), else one
        # under the other: in two columns of the narrow column at 1024 px they were 80 px each.
        with st.container(horizontal=True, gap="small", key="edit_before_after"):
            st.container().image(r.photo, caption="Before (working size)", width="stretch")
            st.container().image(r.image, caption="After", width="stretch")
        g = r.params.generation
        st.caption(f"seed **{g.seed}** · {r.image.width}×{r.image.height} · denoise {r.params.edit.denoise:g} · "
                   f"{r.timings.get('total', 0):.1f} s")  # fmt: skip
        for note in r.notes:  # the core's notes ("keep structure denoises with DDIM..."), as sentences
            st.caption(f":material/info: {editing.as_sentence(note)}")
        wanted = ["png", *(["mask"] if output.mask else []), *(["photo"] if output.photo else []), "keep"]
        cells = iter([cell for _ in range(-(-len(wanted) // 2)) for cell in pair()])  # short labels: fit at 1024 px
        next(cells).download_button(
            "PNG", output.png, file_name=output.file_name, mime="image/png",
            on_click="ignore", key="edit_download", icon=":material/download:",
            help="Carries every setting and the photo's and mask's hashes: `python -m core edit --from` reproduces "
            "it with the photo, the mask and the clip beside it.",
        )  # fmt: skip
        if output.mask:
            next(cells).download_button(
                "Mask", output.mask, file_name=editing.stored_name(r.params), on_click="ignore",
                key="edit_download_mask", icon=":material/texture:",
                help="The region this edit changed, under the name the PNG stores: keep it beside the PNG to "
                "reproduce the edit.",
            )  # fmt: skip
        if output.photo:
            next(cells).download_button(
                "Photo", output.photo, file_name=editing.stored_name(r.params, "image_path"), on_click="ignore",
                key="edit_download_photo", icon=":material/image:",
                help="The Gallery image this edit started from, under the name the PNG stores: keep it beside the "
                "PNG to reproduce the edit.",
            )  # fmt: skip
        kept = editing.kept_as(output)  # None again once the Gallery no longer has it
        next(cells).button(
            f"Kept as #{kept}" if kept else "Keep", on_click=editing.keep, args=(output,),
            key="edit_keep", icon=":material/photo_library:", disabled=kept is not None,
            help="Keep it in the Gallery, where Recall, Gates and Spectrogram find it, and the page's link brings "
            "it back; an edit not kept goes when this tab closes.",
        )  # fmt: skip
    elif photo is None:
        st.caption(f"Choose a photo{' that can be used' if photo_problem else ''}, then press **Edit the photo**.")

if s.edit.running and s.edit.job is not None:
    widgets.follow(s.edit.job, status)
    s.collect_jobs()
    st.rerun()
if todo is not None:
    widgets.follow(todo, preview_status)
    s.collect_jobs()
    _draw_preview(shown, updating=False)
nav.link("generate", "Clip, prompt and knobs: Generate", icon=":material/graphic_eq:")
