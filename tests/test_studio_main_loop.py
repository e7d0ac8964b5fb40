"""The Generate page's main loop as a new user meets it (issue 9): errors next to the field that go
once it is valid, Reset, a warning for a level that gets no step, what the heard panel says, the
missing-models messages, the tiny demo's small start and the model choice kept in the URL."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.export import png_bytes, read_params
from core.params import GenerationParams
from core.trace import HeardLabel, Trace
from tests.studio_helpers import APP, TIMEOUT, AppTest, app, errors, ok, render, session, wav


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_a_size_error_shows_at_the_field_and_goes_once_fixed():
    at = app()
    at.number_input(key="w_width").set_value(100).run()
    ok(at)
    assert any("multiple of 8 (got 100)" in c for c in _captions(at)), _captions(at)
    render(at)
    assert any("Width" in e and "multiple of 8" in e for e in errors(at)), errors(at)
    assert session(at).render.input_problem

    at.number_input(key="w_width").set_value(108).run()  # wrong another way: the error follows, never stale
    ok(at)
    assert any("got 108" in e for e in errors(at)) and not any("got 100" in e for e in errors(at)), errors(at)

    at.number_input(key="w_width").set_value(64).run()
    ok(at)
    assert not errors(at), "the render error outlived the fix"
    assert not any("multiple of 8" in c for c in _captions(at))
    assert not session(at).render.input_problem


def test_an_order_error_fixed_inside_the_live_panel_clears_the_render_error():
    """The crossovers live in the fragment: fixing them there still drops the render's old error."""
    at = app(w_sources="bands")
    at.number_input(key="w_crossover_low").set_value(5000.0).run()
    at.number_input(key="w_crossover_high").set_value(1000.0).run()
    render(at)
    assert any("crossover" in e.lower() for e in errors(at)), errors(at)
    at.number_input(key="w_crossover_high").set_value(8000.0).run()
    ok(at)
    assert not errors(at)


def test_reset_puts_knobs_back_and_keeps_prompt_seed_and_clip():
    at = app()
    at.text_area(key="w_prompt").set_value("a harbour").run()
    at.number_input(key="w_seed").set_value(77).run()
    at.slider(key="w_weight_fg").set_value(1.9).run()
    at.slider(key="w_switch").set_value((0.1, 0.2)).run()
    at.radio(key="w_mode").set_value("trained").run()
    at.text_input(key="w_checkpoint").set_value("/runs/mine/final").run()
    at.button(key="btn_reset_knobs").click().run()
    ok(at)
    fresh = GenerationParams()
    assert at.slider(key="w_weight_fg").value == pytest.approx(fresh.level_weights[0])
    assert tuple(at.slider(key="w_switch").value) == pytest.approx(fresh.switch_points)
    assert at.slider(key="w_steps").value == 15 and at.number_input(key="w_width").value == 256  # tiny's start
    assert at.text_area(key="w_prompt").value == "a harbour"
    assert at.number_input(key="w_seed").value == 77
    assert at.radio(key="w_audio_source").value == "sample"
    # The sidebar's model choice is not a knob of the panel: trained mode and its checkpoint stay.
    assert at.radio(key="w_mode").value == "trained" and at.text_input(key="w_checkpoint").value == "/runs/mine/final"


def test_equal_switch_points_warn_that_background_gets_no_step():
    at = app()
    assert not [w for w in at.warning if "no step" in w.value]
    at.slider(key="w_switch").set_value((0.5, 0.5)).run()
    ok(at)
    warned = [w.value for w in at.warning if "no step" in w.value]
    assert len(warned) == 1 and "**background**" in warned[0] and "ambience" not in warned[0], warned
    at.slider(key="w_switch").set_value((0.0, 1.0)).run()
    warned = [w.value for w in at.warning if "no step" in w.value]
    assert warned and "**foreground and the ambience**" in warned[0] and "their sound" in warned[0], warned


def test_fewer_heard_events_than_asked_are_explained():
    from studio.widgets.results import heard_fewer_note

    def labels(n: int) -> list[HeardLabel]:
        return [HeardLabel(f"l{i}", f"p{i}", "c", 1.0 / n, 0.5) for i in range(n)]

    trace = Trace(steps=1, heard={"mix": labels(2)})
    assert heard_fewer_note(trace, 2) is None
    note = heard_fewer_note(trace, 5)
    assert (
        note.startswith("Showing 2 of the 5 events asked for") and "the 75 CLIP tokens the sound is written in" in note
    )
    levels = Trace(steps=1, heard={"foreground": labels(3), "background": labels(5), "ambience": []})
    assert heard_fewer_note(levels, 5).startswith("Showing 3–5 of the 5")


def test_preview_settings_above_the_render_say_they_are_capped():
    at = app(ui_preview_steps=10, ui_preview_side=512)  # FAST: renders are 6 steps at 64 px
    ok(at)
    assert "Previews use at most the render's 6 steps and 64 px." in _captions(at), _captions(at)
    at.number_input(key="ui_preview_steps").set_value(3).run()
    assert "Previews use at most the render's 64 px." in _captions(at)


def test_a_damaged_png_restore_says_so_and_keeps_the_settings_usable():
    at = app()
    at.switch_page("../pages/gallery.py").run()
    wanted = GenerationParams(prompt="cut short", seed=9, width=64, height=64, steps=6, models="tiny")
    data = png_bytes(Image.new("RGB", (64, 64), (200, 10, 10)), wanted)
    truncated = data[: data.index(b"IDAT") + 12]  # the text chunks survive, the pixels do not
    at.file_uploader(key="gallery_png").set_value(("cut.png", truncated, "image/png")).run()
    ok(at)
    assert any("damaged or incomplete" in c for c in _captions(at)), _captions(at)
    at.button(key="recall_upload").click().run()
    ok(at)
    assert at.number_input(key="w_seed").value == 9


def test_an_empty_custom_model_box_loads_nothing_and_says_what_to_type():
    from studio import loader

    at = app(w_models_choice="custom", w_models_custom="   ")
    ok(at)
    assert session(at).engine_spec == ""
    assert any(loader.NO_FOLDER in i.value for i in at.info), [i.value for i in at.info]
    assert not any("could not be loaded" in e for e in errors(at))
    assert loader.current() is None


def test_the_model_choice_survives_a_reload_through_the_url():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["models"] = "tiny"
    at.run()
    ok(at)
    assert at.radio(key="w_models_choice").value == "tiny"
    fresh = app()
    assert fresh.query_params["models"] == ["tiny"] or fresh.query_params["models"] == "tiny"


def test_the_tiny_demo_renders_small_by_default():
    at = app(fast=False, ui_preview_side=64, ui_preview_steps=2)
    params = session(at).params
    assert (params.width, params.height, params.steps) == (256, 256, 15)


def test_upload_accepts_every_container_the_decoder_reads():
    import soundfile as sf

    from core.audio import AUDIO_TYPES, FORMATS_TEXT, load_audio

    assert {"oga", "opus", "ogg", "flac", "aiff"} <= set(AUDIO_TYPES)
    assert "ogg/opus" in FORMATS_TEXT
    buf = io.BytesIO()
    sf.write(buf, [0.2, -0.2] * 8000, 16000, format="OGG", subtype="OPUS")
    clip = load_audio(buf.getvalue(), name="birds.opus")
    assert clip.duration == pytest.approx(1.0, abs=0.05)


def test_a_bad_path_is_one_message_and_an_undecodable_upload_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))  # the File-path source is opt-in
    at = app()
    at.radio(key="w_audio_source").set_value("path").run()
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "gone.wav")).run()
    ok(at)
    assert len(errors(at)) == 1 and "gone.wav does not exist" in errors(at)[0], errors(at)
    assert any("preview waits" in c for c in _captions(at))

    (tmp_path / "notes.txt").write_text("not audio")
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value(("notes.wav", b"%PDF-1.4 not audio", "audio/wav")).run()
    at.switch_page("../pages/spectrogram.py").run()
    ok(at)
    shown = [i.value for i in at.info] + errors(at)
    assert any("PDF" in m for m in shown), shown
    assert not any("Upload a clip first" in m for m in shown), shown


def test_a_png_from_an_upload_names_no_server_folder_and_recalls_the_upload():
    from studio.uploads import uploads_dir

    at = app()
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value(("my hum.wav", wav(), "audio/wav")).run()
    render(at)
    item = session(at).history[-1]
    assert item.params.audio_path.startswith(str(uploads_dir()))  # the server's copy, inside the studio
    assert str(uploads_dir()).encode() not in item.png  # ...but never in the file a user shares
    shared = read_params(item.png)
    assert shared.audio_path == "my_hum.wav", shared.audio_path
    assert shared.audio_sha256 == item.params.audio_sha256

    other = app()  # another session: restore from the downloaded PNG
    other.switch_page("../pages/gallery.py").run()
    other.file_uploader(key="gallery_png").set_value(("img.png", item.png, "image/png")).run()
    other.button(key="recall_upload").click().run()
    ok(other)
    assert other.radio(key="w_audio_source").value == "upload"
    assert session(other).params.audio_path == item.params.audio_path  # the server's own copy, found by hash
    assert not [w for w in other.warning if "not available" in w.value]


def test_the_gallery_follows_a_render_running_elsewhere_and_shows_it_when_done():
    from studio import jobs
    from studio.loader import load_engine

    at = app()
    at.switch_page("../pages/gallery.py").run()
    assert any("No renders yet" in i.value for i in at.info)
    engine = load_engine("tiny").engine
    job = session(at).render.start(jobs.generation_job(engine, session(at).params.replace(steps=100), kind="render"))
    at.run()  # the page is drawn, then follows the render and reruns once it is done
    ok(at)
    assert job.done.is_set() and len(session(at).history) == 1
    assert not any("No renders yet" in i.value for i in at.info)
    assert any(c.value.startswith("seed ") for c in at.caption)  # the new render's card


@pytest.mark.parametrize("audio_dirs", [False, True])
def test_a_recalled_clip_that_is_not_here_asks_for_it_where_it_can_be_given(audio_dirs, tmp_path, monkeypatch):
    """A PNG's clip that is neither a sample nor one of this server's uploads: on a server that reads
    no files by path (the default) the page lands on Upload, never on the switched-off File path."""
    if audio_dirs:
        monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))
    else:
        monkeypatch.delenv("CLAP2DIFF_AUDIO_DIRS", raising=False)
    at = app()
    at.switch_page("../pages/gallery.py").run()
    wanted = GenerationParams(prompt="gone", seed=3, width=64, height=64, steps=6, models="tiny", audio_path="gone.wav")
    data = png_bytes(Image.new("RGB", (64, 64)), wanted)
    at.file_uploader(key="gallery_png").set_value(("gone.png", data, "image/png")).run()
    at.button(key="recall_upload").click().run()
    ok(at)
    assert at.radio(key="w_audio_source").value == ("path" if audio_dirs else "upload")
    warnings = [w.value for w in at.warning]
    assert any("Settings restored, except the clip **gone.wav**: it is not on this server." in w for w in warnings), (
        warnings
    )
    assert not any("Reading audio files from this server is off" in e for e in errors(at) + warnings)


def test_a_recalled_checkpoint_trained_again_is_said_and_its_current_weights_offered(tmp_path, monkeypatch):
    """The PNG recorded other weights than the folder holds now: the sidebar says why renders are
    refused and offers the current weights; taking them drops the recorded hash (a new image)."""
    import torch

    from core.projector import AudioProjector, ProjectorConfig, checkpoint_sha256, save_projector
    from tests.studio_helpers import engine

    monkeypatch.setenv("CLAP2DIFF_RUNS", str(tmp_path))  # the PNG names city/final: found among the runs
    dim = engine().clap.dim
    torch.manual_seed(0)
    folder = save_projector(AudioProjector(ProjectorConfig(input_dim=dim, hidden_dim=16, expand_dim=32, output_dim=32,
                                                           heads=4)), tmp_path / "city" / "final")  # fmt: skip
    at = app()
    at.switch_page("../pages/gallery.py").run()
    wanted = GenerationParams(prompt="a city", seed=2, width=64, height=64, steps=6, models="tiny", mode="trained",
                              checkpoint=str(folder), checkpoint_sha256="ab" * 32)  # fmt: skip
    at.file_uploader(key="gallery_png").set_value(
        ("old.png", png_bytes(Image.new("RGB", (64, 64)), wanted), "image/png")
    )
    at.run()
    at.button(key="recall_upload").click().run()
    ok(at)
    assert session(at).params.checkpoint_sha256 == "ab" * 32 and session(at).params.checkpoint == str(folder)
    assert any("made with other weights of this checkpoint (sha256 abababababab…)" in w.value for w in at.warning)
    at.button(key="btn_current_weights").click().run()
    ok(at)
    assert session(at).params.checkpoint_sha256 is None
    assert not any("other weights of this checkpoint" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "btn_current_weights"]
    assert checkpoint_sha256(folder) != "ab" * 32


def test_trained_mode_without_a_checkpoint_asks_for_one_instead_of_an_error():
    at = app()
    at.radio(key="w_mode").set_value("trained").run()
    ok(at)
    assert any("Trained mode: choose its checkpoint in the sidebar" in c for c in _captions(at)), _captions(at)
    assert not any("checkpoint" in e.lower() for e in errors(at)), errors(at)  # nothing is wrong yet
