"""The sidebar's fast-path toggles (studio/fast.py, core/fastpaths.py) through AppTest: declared
labels and defaults, the note on which decoder previews use, and the toggles reaching previews only."""

from __future__ import annotations

from contextlib import contextmanager

from core.fastpaths import FAST_PATHS
from studio.fast import FAST_KEYS
from tests.studio_helpers import app, engine, ok, render, session


@contextmanager
def counting(module):
    calls = [0]
    handle = module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        yield calls
    finally:
        handle.remove()


def captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def test_sidebar_toggles_are_the_declared_fast_paths_and_say_which_decoder_previews_use():
    at = app()
    assert set(FAST_KEYS) == {"spare_core", "channels_last", "compile", "tiny_decoder"}
    for name, key in FAST_KEYS.items():
        toggle = at.sidebar.toggle(key=key)
        assert toggle.label == FAST_PATHS[name].label and toggle.help == FAST_PATHS[name].help
        assert toggle.value is FAST_PATHS[name].default is (name == "spare_core")
    assert "Previews decode with the full VAE." in captions(at)


def test_the_note_says_when_a_compiled_preview_will_warm_up_or_compiling_failed(monkeypatch):
    import importlib

    from core.fastpaths import FastSettings

    sidebar = importlib.import_module("studio.widgets.sidebar")  # the package exports a function of that name
    eng = engine()
    monkeypatch.setattr(sidebar, "fast_settings", lambda: FastSettings(compile=True))
    monkeypatch.setattr(eng.fast, "warm", set())
    assert sidebar.fast_paths_note(eng) == (
        "Previews decode with the full VAE. The first compiled preview warms up once (about a minute on a GPU)."
    )
    monkeypatch.setattr(eng.fast, "compile_error", "InvalidBackend: no C compiler")
    assert sidebar.fast_paths_note(eng).endswith("Compiling the UNet failed: previews run it uncompiled.")


def test_the_tiny_decoder_toggle_reaches_previews_and_never_a_render():
    at = app()
    eng = engine()
    with counting(eng.bundle.preview_vae.decoder) as taesd, counting(eng.pipe.vae.decoder) as full:
        at.sidebar.toggle(key=FAST_KEYS["tiny_decoder"]).set_value(True).run()  # a new preview, with it
        ok(at)
        assert "Previews decode with the TAESD (tiny decoder)." in captions(at)
        assert (taesd[0], full[0]) == (1, 0)
        at.slider(key="w_audio_strength").set_value(0.5).run()  # and every preview after it
        ok(at)
        assert session(at).preview.result.params.audio_strength == 0.5
        assert (taesd[0], full[0]) == (2, 0)
        render(at)
        assert session(at).history[0].kind == "render"
        assert (taesd[0], full[0]) == (2, 1)


def test_previews_spare_a_core_until_the_toggle_is_off_and_renders_never(monkeypatch):
    import torch

    eng = engine()
    threads: list[tuple[str, int]] = []
    original = eng.fast.threads_for

    @contextmanager
    def recording(settings):
        with original(settings) as n:
            threads.append(("render" if settings is None else "preview", n))
            yield n

    monkeypatch.setattr(eng.fast, "threads_for", recording)
    full = torch.get_num_threads()  # the engine thread's count is the process's
    at = app()
    at.slider(key="w_audio_strength").set_value(0.55).run()
    ok(at)
    assert threads[-1] == ("preview", max(1, full - 1))
    at.sidebar.toggle(key=FAST_KEYS["spare_core"]).set_value(False).run()
    ok(at)
    assert threads[-1] == ("preview", full)
    render(at)
    assert threads[-1] == ("render", full)


def test_a_render_job_takes_no_fast_path_whatever_the_toggles(tiny_params):
    import numpy as np

    from core.fastpaths import FastSettings
    from studio import jobs

    eng = engine()
    plain = eng.generate(tiny_params)
    with counting(eng.bundle.preview_vae.decoder) as taesd:
        job = jobs.generation_job(eng, tiny_params, "render", FastSettings.all_on())
        assert job.wait(120) and job.ok, job.error
        preview = jobs.generation_job(eng, tiny_params, "preview", FastSettings(tiny_decoder=True))
        assert preview.wait(120) and preview.ok, preview.error
    assert taesd[0] == 1  # the preview's decode only
    assert np.array_equal(np.asarray(job.result[0].image), np.asarray(plain.image))
    assert not np.array_equal(np.asarray(preview.result[0].image), np.asarray(plain.image))


def _edit_page_settled(**state):
    """The Edit page with Generate's first preview done (so that decodes counted after are the
    Edit page's), and a flat grey photo to upload."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((64, 96, 3), 120, np.uint8), "RGB").save(buf, format="PNG")
    at = app(w_steps=6, **state)
    at.switch_page("../pages/edit.py").run()
    ok(at)
    if session(at).preview.job is not None:
        session(at).preview.job.wait(120)
    return at, buf.getvalue()


def test_the_edit_pages_preview_takes_the_toggles_and_its_edit_never_does():
    at, photo = _edit_page_settled(**{FAST_KEYS["tiny_decoder"]: True})
    eng = engine()
    with counting(eng.bundle.preview_vae.decoder) as taesd, counting(eng.pipe.vae.decoder) as full:
        at.file_uploader(key="edit_photo").set_value(("street.png", photo, "image/png")).run()
        ok(at)
        assert session(at).edit_preview.result is not None
        assert (taesd[0], full[0]) == (1, 0)
        at.button(key="edit_run").click().run()
        ok(at)
        assert session(at).edit.result is not None
        assert (taesd[0], full[0]) == (1, 1)


def test_a_toggle_makes_the_edit_pages_preview_again_with_it():
    """After a fast-path toggle the Edit page's preview is made again with it: the one made before (the
    full VAE's picture) is not kept as current, as Generate's is not."""
    at, photo = _edit_page_settled()
    eng = engine()
    with counting(eng.bundle.preview_vae.decoder) as taesd, counting(eng.pipe.vae.decoder) as full:
        at.file_uploader(key="edit_photo").set_value(("street.png", photo, "image/png")).run()
        ok(at)
        before = session(at).edit_preview.result
        assert before is not None and (taesd[0], full[0]) == (0, 1)
        at.sidebar.toggle(key=FAST_KEYS["tiny_decoder"]).set_value(True).run()
        ok(at)
        assert (taesd[0], full[0]) == (1, 1)  # a new preview, through the tiny decoder
        assert session(at).edit_preview.result is not before
        at.sidebar.toggle(key=FAST_KEYS["tiny_decoder"]).set_value(False).run()
        ok(at)
        assert (taesd[0], full[0]) == (1, 2)  # and back


def test_a_toggle_cancels_the_previews_in_flight_and_forgets_them(monkeypatch):
    """A preview still running when a toggle changes was asked for without it: followed to its end,
    it would be taken as the current picture (its key is the settings alone). Both pages' go."""
    import importlib

    from core.params import GenerationParams
    from studio.jobs import Job
    from studio.session import Session

    sidebar = importlib.import_module("studio.widgets.sidebar")
    s = Session(GenerationParams())
    started = {}
    for name in ("preview", "edit_preview"):
        slot = getattr(s, name)
        slot.job, slot.key = Job("preview", lambda job: None), "made without the toggle"  # in flight
        started[name] = slot.job
    monkeypatch.setattr(sidebar, "session", lambda: s)
    sidebar.fresh_preview()
    for name, job in started.items():
        slot = getattr(s, name)
        assert job.cancel.is_set() and slot.job is None and slot.key is None, name


def test_a_toggle_not_drawn_yet_is_its_declared_default(monkeypatch):
    """Before the sidebar has drawn a toggle (a page that runs first), previews ask for its declared
    default, not off: spare_core starts on."""
    from core.fastpaths import FastSettings
    from studio import bindings
    from studio.fast import fast_settings

    held: dict[str, bool] = {}
    monkeypatch.setattr(bindings, "_ss", lambda: held)
    assert fast_settings() == FastSettings() and fast_settings().spare_core
    held[FAST_KEYS["compile"]] = True
    held[FAST_KEYS["spare_core"]] = False
    assert fast_settings() == FastSettings(spare_core=False, compile=True)
