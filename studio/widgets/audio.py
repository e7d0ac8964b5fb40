"""The audio picker: a sample, an upload, a recording, a path or none; a player; the window start."""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

from core import AUDIO_TYPES, CLAP_SECONDS, FORMATS_TEXT, AudioClip, AudioError, load_clip_cached, sample_paths
from core.audio import MIN_SECONDS
from core.params import knobs
from studio import bindings, janitor, nav
from studio.bindings import AUDIO_PATH_KEY, AUDIO_SOURCE_KEY, AUDIO_SOURCES, SAMPLE_KEY, AudioChoice
from studio.bindings import PERSIST as PS
from studio.file_access import audio_dirs
from studio.limits import LimitError, limits
from studio.markdown import escape_md, escape_md_prose
from studio.session import session
from studio.uploads import UploadError, save_upload, upload_folder_of


def clip_for(path: str | None) -> tuple[AudioClip | None, str | None]:
    """(AudioClip, None) or (None, what is wrong, ready for Markdown): decoded once per file version, in the process's
    byte-sized clip cache that the engine uses too (core/clip_cache.py). An upload in use is
    claimed for this session, so the janitor keeps it while any live session still uses it."""
    if not path:
        return None, None
    p = Path(path).expanduser()
    if p.exists() and not p.is_file():
        return None, escape_md_prose(f"{p.name} is not a file: pick an audio file ({FORMATS_TEXT}).")
    if upload_folder_of(p) is not None and not p.exists():  # said without the server's folders
        return None, escape_md_prose(f"The upload {p.name} is not on this server any more (uploads are kept "
                                     "while a tab uses them): upload it again.")  # fmt: skip
    janitor.claim(p)
    try:
        return load_clip_cached(p), None
    except AudioError as exc:
        return None, escape_md_prose(exc)  # it names the file: shown as written


def checked_choice() -> AudioChoice:
    """The audio the widgets point at, with decoding checked (cached): a clip that does not decode
    is the choice's problem, so a page says it once instead of running into it again."""
    choice = bindings.audio_choice()
    if choice.path and choice.ok:
        _, problem = clip_for(choice.path)
        if problem:
            choice.problem = problem
    return choice


def unusable_clip(choice: AudioChoice, work: str, button: str = "Run", needs_clip: bool = False) -> str | None:
    """Why `work` ("compare", "sweep", "edit") cannot start with the Generate page's clip, for the
    pages that run on it; None when it can. `needs_clip`: no audio at all is refused too (a
    comparison of sources has nothing to compare). Where the clip was given but cannot be used, the
    reason itself is the one error under `button` (`clip_problem_box`): this only points at it."""
    if choice.ok and (choice.path or not needs_clip):
        return None
    return f"Nothing to {work} without a usable clip: " + (
        f"the message under {button} says why this one cannot be used."
        if choice.given
        else "choose one on the Generate page."
    )


def refused_for_clip(work: str, button: str = "Run") -> bool:
    """In a Run button's callback: True, with a toast that points at the message about the clip,
    when the Generate page's clip cannot be used (the callback then starts nothing). Said once: the
    reason is the error `clip_problem_box` draws under the button."""
    choice = checked_choice()
    if choice.ok:
        return False
    st.toast(unusable_clip(choice, work, button), icon=":material/graphic_eq:")
    return True


def clip_problem_box(choice: AudioChoice) -> None:
    """Under a page's Run button: a clip that cannot be used is one error, as on Generate; a clip
    not chosen yet (an upload awaited), a hint; and the way to Generate."""
    if choice.ok:
        return
    if choice.given:
        _problem(choice.problem or "")
    else:
        st.info(choice.problem)
    nav.link("generate", "Choose audio on Generate", icon=":material/graphic_eq:")


def _on_upload(widget_key: str, source: str) -> None:
    """An upload or a recording arrived: save it (content-addressed) and check it decodes."""
    s = session()
    uploaded = bindings.value(widget_key)
    s.clip_errors.pop(source, None)
    s.clips[source] = None
    if uploaded is None:
        return
    data = uploaded.getvalue()
    if not data:
        s.clip_errors[source] = escape_md_prose(
            f"{uploaded.name} is empty (0 bytes): choose a file that contains audio."
        )
        return
    try:
        limits().check_upload(uploaded.name or "recording", len(data))  # before a byte is stored
    except LimitError as exc:
        s.clip_errors[source] = escape_md_prose(exc)
        return
    try:
        path = save_upload(uploaded.name or "recording.wav", data)
    except UploadError as exc:  # a full disk: said under Audio, the page and the session's work kept
        s.clip_errors[source] = escape_md_prose(exc)
        return
    _, problem = clip_for(str(path))
    if problem:
        s.clip_errors[source] = problem
    else:
        s.clips[source] = str(path)


def _problem(message: str) -> None:
    st.error(f"**Audio problem**: {message}", icon=":material/error:")


def audio_picker() -> tuple[AudioChoice, AudioClip | None]:
    """Sample / upload / microphone / path / none; a player; the window start. Returns (choice, clip)."""
    samples = sample_paths()
    s = session()
    st.radio(
        "Audio source",
        list(AUDIO_SOURCES),
        format_func=AUDIO_SOURCES.get,
        key=AUDIO_SOURCE_KEY,
        horizontal=True,
        label_visibility="collapsed",
        persist_state=PS,
    )
    source = bindings.value(AUDIO_SOURCE_KEY)
    if source == "sample" and samples:
        if bindings.value(SAMPLE_KEY) not in samples:
            bindings.set_value(SAMPLE_KEY, next(iter(samples)))
        st.selectbox(
            "Sample clip",
            list(samples),
            key=SAMPLE_KEY,
            help="Short clips made for this project (assets/samples).",
            persist_state=PS,
        )
    elif source == "upload":
        st.file_uploader(
            "Audio file",
            type=list(AUDIO_TYPES),
            key="w_upload",
            on_change=_on_upload,
            args=("w_upload", "upload"),
            help=f"{FORMATS_TEXT}; up to an hour (CLAP hears a 10 s window of it).",
        )
        if s.clip_errors.get("upload"):
            _problem(s.clip_errors["upload"])
        elif s.clips.get("upload") and Path(s.clips["upload"]).is_file():  # a gone one is said as a problem
            st.caption(f"Using the upload **{escape_md(Path(s.clips['upload']).name)}**")
    elif source == "record":
        st.audio_input(
            "Record a clip",
            key="w_mic",
            on_change=_on_upload,
            args=("w_mic", "record"),
            sample_rate=48000,
            help="Record up to a few seconds with your microphone.",
        )
        if s.clip_errors.get("record"):
            _problem(s.clip_errors["record"])
    elif source == "path" and audio_dirs():  # off unless the operator allows folders (the choice says so)
        st.text_input(
            "Path of an audio file on this machine",
            key=AUDIO_PATH_KEY,
            placeholder="/data/sounds/rain.flac",
            persist_state=PS,
        )

    choice = bindings.audio_choice()
    clip = None
    if choice.path:
        clip, problem = clip_for(choice.path)
        if problem:
            _problem(problem)
            choice.problem = problem
        elif clip is not None:
            st.audio(str(Path(choice.path).expanduser()))
            chans = "mono" if clip.channels == 1 else "stereo" if clip.channels == 2 else f"{clip.channels} ch"
            st.caption(
                f"{escape_md(Path(choice.path).name)} · {clip.duration:.1f} s · {clip.sample_rate / 1000:g} kHz · {chans}"
            )
            _window_slider(clip)
    elif choice.problem:
        if not s.clip_errors.get(source):  # upload/record errors are already shown above
            st.info(choice.problem)
    elif source == "none":
        st.caption("Text only: plain Stable Diffusion, no audio conditioning.")
    return choice, clip


def _window_slider(clip: AudioClip) -> None:
    """Where CLAP's 10 s window starts, for a clip longer than that: up to the last start whose window
    is all sound (duration - 10 s). A start belongs to its clip: another clip chosen starts at 0. A
    later start that the engine still accepts (a recalled image, one made with the CLI) widens the
    range to itself instead of being moved: the image must reproduce."""
    key, start = "w_window_start", float(bindings.value("w_window_start", 0.0))
    s = session()
    if s.window_for not in (None, clip.sha256) and start != 0.0:  # chosen for another clip: this one starts at 0
        bindings.set_value(key, start := 0.0)
    s.window_for = clip.sha256
    if clip.duration <= CLAP_SECONDS and start <= 0:
        if start != 0.0:
            bindings.set_value(key, 0.0)
        return
    k = knobs()["window_start"]
    step = k.step_for()
    top = max(0.0, round(math.floor(round((clip.duration - CLAP_SECONDS) / step, 6)) * step, 6))
    if start > clip.duration - MIN_SECONDS:  # past the end, or too little sound after it: the engine would refuse it
        bindings.set_value(key, top)
    elif start > top:
        top = start
    if top > 0:
        bindings.hold_span(key, (0.0, top))  # a recalled start moved back inside: its span shrinks
        st.slider(
            bindings.BY_KEY[key].label,
            0.0,
            top,
            step=k.step_for(),
            key=key,
            help=k.help,
            format=k.fmt,
            persist_state=PS,
        )
