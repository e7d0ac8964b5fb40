"""The sidebar: which models (loaded through studio/loader.py), the conditioning mode, the live
preview's settings; and the way out when the models do not load."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.fastpaths import FAST_PATHS
from core.params import knobs
from studio import bindings, health, loader
from studio.bindings import MODELS_CHOICE_KEY, MODELS_CUSTOM_KEY, MODELS_QUERY
from studio.bindings import PERSIST as PS
from studio.fast import FAST_KEYS, fast_settings
from studio.markdown import code_md, escape_md, escape_md_prose
from studio.session import session
from studio.widgets.knobs import number_box

CHOICES: dict[str, str] = {
    "sd15": "Stable Diffusion 1.5 (Hub cache)",
    "custom": "Local folder or Hub id",
    "tiny": "Tiny offline demo",
}


def selected_spec() -> str:
    choice = bindings.value(MODELS_CHOICE_KEY, "tiny")
    if choice == "custom":
        return (bindings.value(MODELS_CUSTOM_KEY) or "").strip()  # empty: nothing is loaded
    return choice


def use_tiny() -> None:
    """Button callback: switch this session to the tiny offline demo."""
    bindings.set_value(MODELS_CHOICE_KEY, "tiny")


def retry() -> None:
    loader.forget(selected_spec())


def sidebar() -> loader.EngineSlot:
    """Model choice, device/dtype and the conditioning mode, in the sidebar; returns the loaded slot."""
    sb = st.sidebar
    sb.markdown("### Models")
    sb.radio(
        "Models",
        list(CHOICES),
        format_func=CHOICES.get,
        key=MODELS_CHOICE_KEY,
        label_visibility="collapsed",
        help="Stable Diffusion 1.5 and LAION-CLAP from the Hugging Face cache on this machine; or a "
        "local folder in diffusers layout; or the tiny demo (random weights: it runs anywhere, "
        "offline, but draws noise-like pictures).",
        persist_state=PS,
    )
    if bindings.value(MODELS_CHOICE_KEY) == "custom":
        sb.text_input(
            "Folder or Hub id",
            key=MODELS_CUSTOM_KEY,
            placeholder="/models/my-sd15  or  owner/model",
            help="A folder in diffusers layout (model_index.json inside), or a Hub id already in the cache.",
            persist_state=PS,
        )
    if note := session().models_note:
        sb.caption(f":orange[{note}]")
    spec = selected_spec()
    session().engine_spec = spec
    if spec and st.query_params.get(MODELS_QUERY) != spec:
        st.query_params[MODELS_QUERY] = spec  # a reload keeps the choice (bindings.ensure_widgets)
    with sb:
        with st.spinner(f"Loading models ({escape_md(spec)})…"):
            slot = loader.load_engine(spec)
    if not spec:
        sb.caption(f":orange[{loader.NO_FOLDER}]")
    elif slot.engine is not None:
        eng = slot.engine
        dtype = str(eng.dtype).removeprefix("torch.")
        loaded = f" · loaded in {slot.seconds:.1f} s" if slot.seconds else ""
        sb.caption(f"**{escape_md(eng.spec.label)}**  \n{eng.device} · {dtype}{loaded}")
    else:
        sb.caption(":red[Models not loaded]")

    sb.markdown("### Conditioning")
    mode = knobs()["mode"]
    sb.radio(
        bindings.BY_KEY["w_mode"].label,
        list(mode.values),
        key="w_mode",
        format_func=mode.choice_label,
        help=mode.help,
        persist_state=PS,
    )
    if bindings.value("w_mode") == "trained":
        from studio import training

        sb.text_input(
            bindings.BY_KEY["w_checkpoint"].label,
            key="w_checkpoint",
            placeholder="my-run/final",
            help=knobs()["checkpoint"].help + " On this studio: a folder under its runs folder (a relative one is "
            "read there), or one its operator allows.",
            on_change=training.use_typed_checkpoint,
            persist_state=PS,
        )
        checkpoint_said(sb)
        finished_runs(sb)
        recorded_weights_note(sb)

    sb.markdown("### Live preview")
    sb.toggle(
        "Live preview",
        key="ui_live_preview",
        persist_state=PS,
        help="Re-render a quick preview whenever you release a slider.",
    )
    c1, c2 = sb.columns(2)
    number_box(c1, "Preview steps", "ui_preview_steps", bindings.UI_RANGES["ui_preview_steps"], step=1,
               help="Denoising steps of the preview.")  # fmt: skip
    number_box(c2, "Preview size (px)", "ui_preview_side", bindings.UI_RANGES["ui_preview_side"], step=64,
               help="Longest side of the preview image (its shorter side stays at least 64 px, so a small preview "
               "of a 3:2 image is 96×64).")  # fmt: skip
    capped = preview_capped_note()
    if capped:
        sb.caption(capped)
    fast_paths(slot)
    sb.caption(health.memory_line())
    return slot


def checkpoint_said(where) -> None:
    """Under the checkpoint box: a run's folder typed opens its final checkpoint (said, since the
    box still shows the run); why the folder typed is not opened (outside the allowed folders, a run
    not finished: studio/file_access.py), and the pages then ask for a checkpoint, as with none."""
    from studio.file_access import checkpoint_choice

    typed = str(bindings.value("w_checkpoint") or "").strip()
    choice = checkpoint_choice(typed)
    if choice.problem:
        where.error(escape_md_prose(choice.problem), icon=":material/folder_off:")
    elif choice.run is not None:
        where.caption(f"Run {code_md(choice.run)}: its final checkpoint.")
    elif choice.folder is not None and not Path(choice.folder).is_dir():  # inside the allowed folders: may be said
        where.error(f"There is no folder {code_md(typed)} here: check the name, or pick a finished run below.",
                    icon=":material/folder_off:")  # fmt: skip


def finished_runs(where) -> None:
    """The runs trained on this server, to pick instead of typing a folder (the Train page's)."""
    from studio import training

    names = [r.name for r in training.finished_runs()]
    if names:
        training.show_picked_run(names)
        # None is "—" both as a choice and as no choice: a None set in the session (the checkpoint is
        # no run's, or the box's clear icon) shows the placeholder, "Choose an option" by default.
        where.selectbox("Or a finished run", [None, *names], key=training.RUN_PICK_KEY,
                        format_func=lambda n: "—" if n is None else n, on_change=training.use_picked_run,
                        placeholder="—",
                        help="Trained on this server (Train page): its final checkpoint and its models.")  # fmt: skip


def recorded_weights_note(where) -> None:
    """A recalled image's checkpoint whose folder now holds other weights (its run trained again):
    say so, and offer its current weights for a new image."""
    from core.projector import ProjectorError, checkpoint_sha256
    from studio.file_access import checkpoint_choice

    s = session()
    recorded, folder = s.params.checkpoint_sha256, checkpoint_choice(str(bindings.value("w_checkpoint") or "")).folder
    try:
        now = checkpoint_sha256(folder) if recorded and folder else None
    except ProjectorError:
        now = None
    if now is None or now == recorded:
        return
    where.warning(
        f"The recalled image was made with other weights of this checkpoint (sha256 {recorded[:12]}…): it is "
        "refused so that nothing passes for a reproduction.",
        icon=":material/history:",
    )
    where.button("Use its current weights", key="btn_current_weights", on_click=s.use_current_weights,
                 help="Make new images with the weights the folder holds now.")  # fmt: skip


def fast_paths(slot: loader.EngineSlot) -> None:
    """Toggles for the previews' fast paths (declared in core/fastpaths.py) and which decoder
    previews use; renders never take them, so a toggle cannot change a render's pixels."""
    sb = st.sidebar
    sb.markdown("### Fast previews")
    on_cuda = slot.engine is not None and str(slot.engine.device).startswith("cuda")
    for name, key in FAST_KEYS.items():
        path = FAST_PATHS[name]
        sb.toggle(
            path.label,
            key=key,
            help=path.help,
            disabled=path.cuda_only and not on_cuda,
            on_change=fresh_preview,
            persist_state=PS,
        )
    if slot.engine is not None:
        sb.caption(fast_paths_note(slot.engine))


def fresh_preview() -> None:
    """Toggle callback: the previews shown, and any in flight, were made without this setting (another
    decoder is another picture), so both live previews, Generate's and Edit's, make a new one. Their
    keys are the settings alone: the key reset, and the job forgotten, which a page otherwise
    follows (one in flight) or takes as shown or failed (one done with these settings)."""
    s = session()
    for slot in (s.preview, s.edit_preview):
        slot.cancel()
        slot.job, slot.key = None, None


def fast_paths_note(engine) -> str:
    """The sidebar's line under the toggles: which decoder previews use (and why not TAESD), and
    that a compiled UNet warms up once."""
    settings = fast_settings()
    note = f"Previews decode with the {engine.fast.decoder_label(settings)}."
    if settings.compile and engine.fast.compile_error:
        note += " Compiling the UNet failed: previews run it uncompiled."
    elif settings.compile and not engine.fast.warm:
        note += " The first compiled preview warms up once (about a minute on a GPU)."
    return note


def preview_capped_note() -> str | None:
    """A preview is never finer than the render (bindings.preview_params caps it): say so, rather
    than leave a sidebar value that silently does nothing."""
    steps, side = (
        int(bindings.value("w_steps", 0)),
        max(int(bindings.value("w_width", 0)), int(bindings.value("w_height", 0))),
    )
    over = []
    if bindings.ui_number("ui_preview_steps") > steps > 0:
        over.append(f"{steps} steps")
    if bindings.ui_number("ui_preview_side") > side > 0:
        over.append(f"{side} px")
    return f"Previews use at most the render's {' and '.join(over)}." if over else None


def show_load_error(slot: loader.EngineSlot) -> None:
    """The plain message for a spec that did not load, with the way out (tiny demo, retry)."""
    if not slot.spec:
        st.info(loader.NO_FOLDER, icon=":material/folder_open:")
        return
    st.error(
        f"**The models could not be loaded.** {slot.error}\n\n"
        "You can also point the sidebar at a local folder in diffusers layout, or try the studio now with "
        "the tiny offline demo.",
        icon=":material/error:",
    )
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button("Use the tiny demo", on_click=use_tiny, type="primary", key="use_tiny_btn")
    c2.button("Retry loading", on_click=retry, key="retry_load_btn")
