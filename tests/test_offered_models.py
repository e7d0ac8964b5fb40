"""Only the models the operator offers are loaded by the studio (studio/limits.py model_allowed):
a recalled PNG, a `?models=` link or the sidebar's box naming anything else loads nothing and says
which models were asked for; CLAP2DIFF_ANY_MODELS=1 opens it; the CLI keeps full access."""

from __future__ import annotations

import pytest
from PIL import Image

from core.export import png_bytes
from core.params import GenerationParams
from studio.limits import ANY_MODELS_ENV, MODELS_ENV, configured_models, model_allowed, offered_models
from tests.studio_helpers import APP, TIMEOUT, AppTest, app, ok, session

STRANGER = "someone/any-repo"


@pytest.fixture
def engines_built(monkeypatch) -> list[str]:
    """Every spec the studio builds an engine for from now on (the tiny one is already cached)."""
    import core
    from tests.studio_helpers import engine

    engine()  # the tiny engine is loaded (cached) before the spy goes in
    built: list[str] = []
    real = core.Engine

    def spy(spec, *args, **kwargs):
        built.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(core, "Engine", spy)
    return built


def test_the_offered_models_come_from_the_operator(tmp_path):
    env = {MODELS_ENV: f" tiny , {tmp_path} ,tiny"}
    assert configured_models(env) == ("tiny", str(tmp_path))  # the first is where sessions start
    assert offered_models(env) == ("tiny", str(tmp_path), "sd15")
    assert configured_models({}) == ("sd15",) and offered_models({}) == ("sd15", "tiny")
    assert model_allowed(f"{tmp_path}/../{tmp_path.name}", env)  # the same folder, written another way
    assert model_allowed("stable-diffusion-v1-5/stable-diffusion-v1-5", env)  # sd15 by its Hub id
    assert not model_allowed(STRANGER, env) and not model_allowed(str(tmp_path.parent), env)
    assert model_allowed(STRANGER, {**env, ANY_MODELS_ENV: "1"})
    assert all(model_allowed(STRANGER, {ANY_MODELS_ENV: v}) for v in ("true", " Yes ", "TRUE"))
    assert not model_allowed(STRANGER, {ANY_MODELS_ENV: "0"}) and not model_allowed(STRANGER, {ANY_MODELS_ENV: "no"})


def test_a_folder_is_offered_however_it_is_written(tmp_path, monkeypatch):
    """A folder the operator names is the same folder typed from the home (`~/`) or the working
    directory (`./`); a Hub id is never taken for a folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    env = {MODELS_ENV: str(tmp_path / "sd-local")}
    assert (
        model_allowed("~/sd-local", env)
        and model_allowed("./sd-local", env)
        and model_allowed("../" + f"{tmp_path.name}/sd-local", env)
    )
    assert not model_allowed("sd-local", env)  # a Hub id (or a name): not that folder


def test_a_link_without_models_starts_on_the_default_and_says_nothing(monkeypatch):
    """Only a `?models=` link that names models this studio does not offer gets a note; no link (or
    an empty one) is the default, silently."""
    from studio.limits import linked_models

    monkeypatch.setenv(MODELS_ENV, "tiny")
    assert linked_models(None, "tiny") == linked_models("  ", "tiny") == ("tiny", None)
    assert linked_models(" sd15 ", "tiny") == ("sd15", None)
    spec, note = linked_models(STRANGER, "tiny")
    assert spec == "tiny" and note.startswith("The link asked for other models. This studio does not offer")


def test_recalling_a_png_made_with_unoffered_models_loads_nothing_and_names_them(engines_built):
    at = app()  # live preview on: the recalled settings' preview reruns the page, the message stays
    at.switch_page("../pages/gallery.py").run()
    wanted = GenerationParams(prompt="from afar", seed=77, steps=6, width=64, height=64, models=STRANGER)
    at.file_uploader(key="gallery_png").set_value(
        ("far.png", png_bytes(Image.new("RGB", (64, 64)), wanted), "image/png")
    )
    at.run()
    at.button(key="recall_upload").click().run()
    ok(at)
    assert at.session_state["w_seed"] == 77  # the settings came back
    assert engines_built == [] and session(at).engine_spec == "tiny"  # the models did not
    infos = [i.value for i in at.info]
    assert any(f"**{STRANGER}**, which this studio does not offer: you keep using **tiny**" in i for i in infos), infos


def test_a_link_naming_unoffered_models_starts_on_the_offered_ones_and_says_so(engines_built):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["models"] = STRANGER
    at.session_state["ui_live_preview"] = False
    at.run()
    ok(at)
    assert engines_built == [] and session(at).engine_spec == "tiny"
    assert at.radio(key="w_models_choice").value == "tiny"
    captions = [c.value for c in at.sidebar.caption]
    assert any(f"This studio does not offer the models **{STRANGER}**" in c for c in captions), captions


def test_the_sidebar_box_refuses_unoffered_models_before_loading(engines_built, monkeypatch):
    at = app(w_models_choice="custom", w_models_custom=STRANGER, ui_live_preview=False)
    assert engines_built == []
    shown = [e.value for e in at.error]
    assert any("could not be loaded" in e and f"does not offer the models **{STRANGER}**" in e for e in shown), shown
    assert any("CLAP2DIFF_ANY_MODELS=1" in e for e in shown)
    at.button(key="use_tiny_btn").click().run()  # the way out still works
    ok(at)
    assert session(at).engine_spec == "tiny" and not at.error


def test_the_operator_can_open_the_box_to_any_models(engines_built, monkeypatch):
    from studio import loader

    monkeypatch.setenv(ANY_MODELS_ENV, "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    slot = loader.load_engine(STRANGER)  # tried (offline here, so it fails for want of weights)
    loader.forget(STRANGER)
    assert engines_built == [STRANGER] and not slot.ok and "does not offer" not in (slot.error or "")


def test_failed_loads_never_push_a_working_engine_out_of_the_cache(monkeypatch):
    """Specs typed and failing (the box opened to any models) are remembered apart: the engine
    queued jobs hold stays the one loaded, not a second copy; Retry (forget) tries a failure again."""
    import core
    from studio import loader
    from tests.studio_helpers import engine

    tiny = engine()
    monkeypatch.setenv(ANY_MODELS_ENV, "1")
    tried: list[str] = []

    def missing(spec, *args, **kwargs):
        tried.append(spec)
        raise core.ModelUnavailable(f"{spec} is not on this machine")

    monkeypatch.setattr(core, "Engine", missing)
    failing = [f"/no/such/models/{i}" for i in range(5)]
    for spec in failing:
        slot = loader.load_engine(spec)
        assert not slot.ok and slot.error == f"{spec} is not on this machine"
    assert loader.load_engine(failing[0]).error and tried == failing  # said again without loading again
    assert loader.load_engine("tiny").engine is tiny  # still cached: no second copy
    loader.forget(failing[0])
    loader.load_engine(failing[0])
    assert tried == [*failing, failing[0]]
    for spec in failing:
        loader.forget(spec)


def test_a_models_name_in_a_load_error_or_the_spinner_is_shown_as_written(engines_built, monkeypatch):
    """With any models allowed, a `?models=` link can put a name on someone's page: in the load error
    (`resolve_spec` quotes it) and the spinner it is text, never a live link."""
    import contextlib
    import re

    import streamlit as st

    from studio import loader
    from studio.markdown import escape_md, escape_md_prose

    lure = "[Verify your account](https://evil.example/x)"
    monkeypatch.setenv(ANY_MODELS_ENV, "1")
    spun: list[str] = []
    real_spinner = st.spinner

    @contextlib.contextmanager
    def spinner(text="", *args, **kwargs):
        spun.append(text)
        with real_spinner(text, *args, **kwargs):
            yield

    monkeypatch.setattr(st, "spinner", spinner)
    try:
        at = app(w_models_choice="custom", w_models_custom=lure, ui_live_preview=False)
        shown = [e.value for e in at.error if "could not be loaded" in e.value]
        assert shown and "Unknown model" in shown[0], [e.value for e in at.error]
        assert not [t for t in shown + spun if re.search(r"(?<!\\)\[Verify your account(?<!\\)\]\(", t)], shown + spun
        assert f"Unknown model '{escape_md_prose(lure)}'" in shown[0]  # as written, no link made of it
        assert f"Loading models ({escape_md(lure)})…" in spun
    finally:
        loader.forget(lure)


def test_the_offered_models_are_named_as_written_in_the_refusal(monkeypatch):
    """An operator's spec is text too: a folder with _ or * in it read as emphasis in the list."""
    from studio.limits import not_offered
    from studio.markdown import escape_md

    odd = "/models/[x](http://e.example) *y*"
    monkeypatch.setenv(MODELS_ENV, f"tiny,{odd}")
    said = not_offered(STRANGER)
    assert f"it offers tiny, {escape_md(odd)}, sd15." in said, said
    assert "[x](http" not in said and " *y*" not in said
