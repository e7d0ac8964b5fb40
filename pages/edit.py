"""Edit: your own photo changed by a sound, as a whole or inside a region (variation: the photo is
noised part of the way and re-drawn with the prompt and the audio). Before and after side by side."""

from __future__ import annotations

import streamlit as st

from studio import bindings, editing, errors, loader, nav, widgets
from studio.bindings import PERSIST as PS
from studio.session import HistoryItem, session

s = session()
engine = loader.current()

st.markdown("## Edit")
st.caption(
    "Change your own photo with a sound: the clip, prompt and every knob come from the Generate page. "
    "Denoise says how much of the photo is re-drawn; a mask keeps everything outside it exactly as it was."
)
params, choice = widgets.generate_settings(engine)
editing.ensure_defaults()

left, right = st.columns([1, 1.3], gap="large")
with left:
    st.markdown("#### 1 · Photo")
    source = st.radio("Photo from", ["upload", "gallery"], key="edit_photo_source", horizontal=True,
                      format_func={"upload": "Upload", "gallery": "The Gallery"}.get, persist_state=PS)  # fmt: skip
    photo_path, photo_bytes = None, None
    if source == "upload":
        up = st.file_uploader("Photo", type=editing.PHOTO_TYPES, key="edit_photo")
        if up is not None:
            photo_bytes = up.getvalue()
            photo_path = editing.save_photo(up.name, photo_bytes)
    elif s.history:
        pick = st.selectbox("Image", [h.id for h in reversed(s.history)], key="edit_gallery_pick",
                            format_func=lambda i: s.find(i).title if s.find(i) else str(i))  # fmt: skip
        item = s.find(pick)
        if item is not None:
            photo_bytes = item.png
            photo_path = editing.save_photo(f"gallery_{item.id}.png", item.png)
    else:
        st.info("The Gallery is empty: render something on Generate, or upload a photo.")
    if photo_bytes is not None:
        widgets.safe_image(st, photo_bytes, width="stretch")

    st.markdown("#### 2 · Where it may change")
    mask_source = st.radio("Region", list(editing.MASK_SOURCES), format_func=editing.MASK_SOURCES.get,
                           key="edit_mask_source", horizontal=True, persist_state=PS)  # fmt: skip
    mask_path = None
    if mask_source == "box":
        st.slider("Left → right", 0.0, 1.0, key="edit_box_x", step=0.05, persist_state=PS)
        st.slider("Top → bottom", 0.0, 1.0, key="edit_box_y", step=0.05, persist_state=PS)
    elif mask_source == "upload":
        mask_up = st.file_uploader("Mask (white = may change)", type=["png", "jpg", "jpeg", "bmp"], key="edit_mask")
        if mask_up is not None:
            mask_path = editing.save_photo(mask_up.name, mask_up.getvalue())

    st.markdown("#### 3 · How much")
    knobs = editing.edit_knobs()
    mode = knobs["edit_mode"]
    st.radio(mode.label, mode.values, format_func=mode.choice_label, key=editing.MODE_KEY, help=mode.help,
             horizontal=True, persist_state=PS)  # fmt: skip
    for key, field in editing.shown_keys(bindings.value(editing.MODE_KEY)).items():
        k = knobs[field]
        lo, hi = k.slider
        st.slider(k.label, lo, hi, step=k.step_for(), key=key, help=k.help, format=k.fmt, persist_state=PS)


def _start() -> None:
    from PIL import Image

    if photo_path is None:
        s.edit.fail("Choose a photo first (upload one, or pick a Gallery image).")
        return
    mask = mask_path
    if bindings.value("edit_mask_source") == "box":
        try:
            with Image.open(photo_path) as im:
                size = im.size
        except OSError:
            s.edit.fail(widgets.DAMAGED)
            return
        box = (bindings.value("edit_box_x"), bindings.value("edit_box_y"))
        mask = editing.save_photo("box_mask.png", editing.box_mask(size, box))
    try:
        edit = editing.edit_params(bindings.current_params(models=engine.spec.name), photo_path, mask)
    except Exception as exc:  # noqa: BLE001 - a bad setting or file is shown, never raised into Streamlit
        s.edit.fail(errors.describe(exc))
        return
    s.edit.start(editing.edit_job(engine, edit))


def _keep(output: editing.EditOutput) -> None:
    r = output.result
    s.add_history(HistoryItem(id=s.new_id(), kind="edit", params=r.params.generation, png=output.png, image=r.image,
                              trace=r.trace, timings=r.timings, caption="edit"))  # fmt: skip


with right:
    st.markdown("#### 4 · Edit")
    running = s.edit.running
    c1, c2 = st.columns(2)
    c1.button("Edit the photo", type="primary", on_click=_start, disabled=running, key="edit_run",
              icon=":material/auto_fix_high:", width="stretch")  # fmt: skip
    c2.button("Cancel", on_click=s.edit.cancel, disabled=not running, key="edit_cancel", icon=":material/stop:",
              width="stretch", help="Stop after the current step.")  # fmt: skip
    status = st.container()
    if s.edit.error:
        errors.show(s.edit.error)
    if s.edit.note:
        st.warning(s.edit.note)
    output = s.edit.result
    if output is not None:
        r = output.result
        b, a = st.columns(2)
        b.image(r.photo, caption="Before (working size)", width="stretch")
        a.image(r.image, caption="After", width="stretch")
        g = r.params.generation
        st.caption(f"seed **{g.seed}** · {r.image.width}×{r.image.height} · denoise {r.params.edit.denoise:g} · "
                   f"{r.timings.get('total', 0):.1f} s")  # fmt: skip
        for note in r.notes:
            st.caption(f":material/info: {note}")
        d1, d2 = st.columns(2)
        d1.download_button("Download PNG", output.png, file_name=f"clap2diff_edit_{g.seed}.png", mime="image/png",
                           on_click="ignore", key="edit_download", icon=":material/download:",
                           help="Carries every setting and the photo's and mask's hashes: `python -m core edit "
                           "--from` reproduces it.")  # fmt: skip
        d2.button("Keep in the Gallery", on_click=_keep, args=(output,), key="edit_keep",
                  icon=":material/photo_library:")  # fmt: skip
    else:
        st.caption("Choose a photo, then press **Edit the photo**.")

if s.edit.running and s.edit.job is not None:
    widgets.follow(s.edit.job, status)
    s.collect_jobs()
    st.rerun()
nav.link("generate", "Clip, prompt and knobs: Generate", icon=":material/graphic_eq:")
