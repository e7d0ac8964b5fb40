"""The studio's File-path source reads the server's files only where the operator allows
(studio/file_access.py), and never tells whether a path outside those folders exists."""

from __future__ import annotations

import pytest

from studio.file_access import AUDIO_DIRS_ENV, OFF, allowed_audio_path


@pytest.fixture
def allowed(tmp_path, monkeypatch):
    root = tmp_path / "sounds"
    root.mkdir()
    (root / "rain.wav").write_bytes(b"RIFF")
    monkeypatch.setenv(AUDIO_DIRS_ENV, str(root))
    return root


def test_off_unless_the_operator_names_folders(tmp_path, monkeypatch):
    monkeypatch.delenv(AUDIO_DIRS_ENV, raising=False)
    assert allowed_audio_path(str(tmp_path / "x.wav")) == (None, OFF)
    assert allowed_audio_path("") == (None, OFF)
    assert "CLAP2DIFF_AUDIO_DIRS" in OFF and "upload" in OFF


def test_inside_the_folders_resolves(allowed):
    assert allowed_audio_path(str(allowed / "rain.wav")) == (str(allowed / "rain.wav"), None)
    assert allowed_audio_path("rain.wav") == (str(allowed / "rain.wav"), None)  # relative: in the first folder
    assert allowed_audio_path(str(allowed / "missing.wav")) == (str(allowed / "missing.wav"), None)


def test_outside_reads_the_same_whether_or_not_it_exists(allowed, tmp_path):
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    existing = allowed_audio_path(str(tmp_path / "secret.wav"))
    missing = allowed_audio_path(str(tmp_path / "nothing-here.wav"))
    system = allowed_audio_path("/etc/hostname")
    assert existing[0] is missing[0] is system[0] is None
    assert (
        existing[1]
        == missing[1]
        == system[1]
        == (f"This studio reads audio files only inside {allowed}: give a path there, or upload the clip.")
    )
    assert allowed_audio_path(str(allowed / ".." / "secret.wav"))[1] == existing[1]  # '..' resolved first


def test_a_symlink_out_of_the_folders_is_refused(allowed, tmp_path):
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (allowed / "link.wav").symlink_to(tmp_path / "secret.wav")
    (allowed / "dir").symlink_to(tmp_path)
    assert allowed_audio_path(str(allowed / "link.wav"))[0] is None
    assert allowed_audio_path(str(allowed / "dir" / "secret.wav"))[0] is None


def test_the_studio_hides_the_path_box_and_says_why(monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_MODELS", "tiny")
    monkeypatch.delenv(AUDIO_DIRS_ENV, raising=False)
    from tests.studio_helpers import app, ok

    at = app()
    at.radio(key="w_audio_source").set_value("path").run()
    ok(at)
    assert not [t for t in at.text_input if t.key == "w_audio_path"]
    assert any(OFF in i.value for i in at.info), [i.value for i in at.info]


def test_a_recalled_png_never_loads_the_models_it_names(monkeypatch):
    """A stranger's PNG naming a Hub repository must not make the server download it: the recall
    keeps the studio's models (Generate then names the image's models)."""
    monkeypatch.setenv("CLAP2DIFF_MODELS", "tiny")
    from PIL import Image

    from core.export import png_bytes
    from core.params import GenerationParams
    from tests.studio_helpers import app, ok, session

    at = app()
    at.switch_page("../pages/gallery.py").run()
    wanted = GenerationParams(prompt="from afar", seed=77, steps=6, width=64, height=64, models="someone/any-repo")
    at.file_uploader(key="gallery_png").set_value(
        ("far.png", png_bytes(Image.new("RGB", (64, 64)), wanted), "image/png")
    )
    at.run()
    at.button(key="recall_upload").click().run()
    ok(at)
    assert at.session_state["w_seed"] == 77  # the settings came back...
    assert session(at).engine_spec == "tiny" and at.session_state["w_models_choice"] != "someone/any-repo"
