"""The studio's File-path source reads the server's files only where the operator allows
(studio/file_access.py), and never tells whether a path outside those folders exists."""

from __future__ import annotations

import pytest

from studio.file_access import (
    AUDIO_DIRS_ENV,
    CHECKPOINT_DIRS_ENV,
    OFF,
    CheckpointChoice,
    allowed_audio_path,
    allowed_checkpoint,
    checkpoint_choice,
    checkpoint_dirs,
)


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


def test_a_sibling_folder_sharing_the_allowed_name_as_a_prefix_is_refused(allowed, tmp_path):
    """'sounds-private' begins with 'sounds' as text: the check compares folders, not strings."""
    (tmp_path / "sounds-private").mkdir()
    (tmp_path / "sounds-private" / "secret.wav").write_bytes(b"RIFF")
    assert allowed_audio_path(str(tmp_path / "sounds-private" / "secret.wav"))[0] is None
    assert allowed_audio_path("../sounds-private/secret.wav")[0] is None
    assert allowed_checkpoint(str(tmp_path / "sounds-private"))[0] is None  # the same check for checkpoints


def test_an_allowed_folder_named_through_a_link_or_home_reads_its_files(tmp_path, monkeypatch):
    """The operator's folders are resolved as the paths are: a folder named through a symlink (or '~')
    still allows its own files, and '~' in a typed path is the home folder, not a folder named '~'."""
    root = tmp_path / "sounds"
    root.mkdir()
    (tmp_path / "link").symlink_to(root)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(AUDIO_DIRS_ENV, str(tmp_path / "link"))
    assert allowed_audio_path(str(tmp_path / "link" / "rain.wav")) == (str(root / "rain.wav"), None)
    assert allowed_audio_path("rain.wav") == (str(root / "rain.wav"), None)
    monkeypatch.setenv(AUDIO_DIRS_ENV, "~/sounds")
    assert allowed_audio_path("~/sounds/rain.wav") == (str(root / "rain.wav"), None)
    assert allowed_audio_path("~/rain.wav")[0] is None  # the home folder itself is not allowed


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


@pytest.fixture
def runs(tmp_path, monkeypatch):
    from studio.training import RUNS_ENV

    root = tmp_path / "runs"
    (root / "city" / "final").mkdir(parents=True)
    monkeypatch.setenv(RUNS_ENV, str(root))
    monkeypatch.delenv(CHECKPOINT_DIRS_ENV, raising=False)
    return root


def test_a_checkpoint_opens_under_the_runs_root_and_the_operators_folders_only(runs, tmp_path, monkeypatch):
    final = runs / "city" / "final"
    assert allowed_checkpoint(str(final)) == (str(final), None)  # as typed: a recalled image's hash stays
    assert allowed_checkpoint("city/final") == (str(final.resolve()), None)  # relative: under the runs root
    assert allowed_checkpoint("  ") == (None, None)
    existing, missing = allowed_checkpoint("/etc"), allowed_checkpoint("/no/such/folder")
    assert existing[0] is missing[0] is None and existing[1] == missing[1]  # nothing told about the disk
    assert existing[1] == (
        f"This studio opens trained checkpoints only inside {runs.resolve()}: choose a finished run, or give a "
        "folder there (its operator can allow others with `CLAP2DIFF_CHECKPOINT_DIRS`)."
    )
    assert allowed_checkpoint("city/../../elsewhere")[0] is None  # '..' resolved before the check
    shared = tmp_path / "shared"
    monkeypatch.setenv(CHECKPOINT_DIRS_ENV, str(shared))
    assert allowed_checkpoint(str(shared / "projector")) == (str(shared / "projector"), None)
    assert checkpoint_dirs() == [runs.resolve(), shared.resolve()]


def test_a_folder_the_operator_names_opens_itself(runs, tmp_path, monkeypatch):
    """CLAP2DIFF_CHECKPOINT_DIRS may name one projector's folder: that folder itself opens, not only
    what lies under it (and its parent still does not)."""
    projector = tmp_path / "models" / "projector"
    monkeypatch.setenv(CHECKPOINT_DIRS_ENV, str(projector))
    assert allowed_checkpoint(str(projector)) == (str(projector), None)
    assert allowed_checkpoint(str(projector) + "/") == (str(projector) + "/", None)
    assert allowed_checkpoint(str(projector.parent))[0] is None


def test_the_sidebar_refuses_a_checkpoint_folder_outside_and_nothing_opens_it(runs):
    from studio.markdown import escape_md_prose
    from tests.studio_helpers import app, errors, render, session

    at = app(w_mode="trained", w_checkpoint="/etc", ui_live_preview=False)
    refusal = [e.value for e in at.sidebar.error]
    assert refusal == [escape_md_prose(allowed_checkpoint("/etc")[1])]
    assert session(at).params.checkpoint is None  # what every page's work is made from
    render(at)
    said = [e for e in errors(at) if "Checkpoint" in e]
    assert said and said[0] == (  # not 'needs a projector checkpoint path', as if the box were empty
        "**Checkpoint folder**: the folder typed in the sidebar does not open (said under it). Choose another or a "
        "finished run there, or switch back to zero-shot."
    )
    assert not [e for e in errors(at) if "/etc" in e], errors(at)
    at.text_input(key="w_checkpoint").set_value("/no/such/folder").run()
    assert [e.value for e in at.sidebar.error] == refusal  # the same words whether or not it exists
    at.text_input(key="w_checkpoint").set_value("").run()
    render(at)  # an empty box is asked for as such
    assert [e for e in errors(at) if e.startswith("**Checkpoint folder**: trained mode needs a projector")]
    at.text_input(key="w_checkpoint").set_value("city/final").run()  # under the runs root: used
    assert not at.sidebar.error and session(at).params.checkpoint == str((runs / "city" / "final").resolve())


def _train_runs(runs, outside):
    """A finished run, one still going (no final/ yet: this process is its trainer), one stopped after
    a step checkpoint, one stopped before its first, and one whose final/ links out of the runs folder."""
    import json
    import os

    from core.train.launch import process_started

    for name in ("done", "going", "halted", "early", "linked"):
        (runs / name / "checkpoints").mkdir(parents=True)
        (runs / name / "train_config.json").write_text('{"models": "tiny"}')
    going = {"state": "training", "pid": os.getpid(), "pid_started": process_started(os.getpid())}
    for name, status in (("going", going), ("halted", {"state": "stopped"}), ("early", {"state": "stopped"})):
        (runs / name / "status.json").write_text(json.dumps(status))
    (runs / "halted" / "checkpoints" / "step-0000002").mkdir()
    (runs / "halted" / "checkpoints" / "step-0000002" / "train_state.json").write_text('{"step": 2}')
    for final in (runs / "done" / "final", outside / "final"):
        final.mkdir(parents=True)
        (final / "training.json").write_text("{}")
    (runs / "linked" / "final").symlink_to(outside / "final")


def test_a_runs_folder_opens_its_final_checkpoint_inside_the_allowed_folders(runs, tmp_path):
    """The box took only a checkpoint folder while `--checkpoint RUN` took the run: both read it
    with core.train.layout.checkpoint_of_run, and what it resolves to is gated again."""
    _train_runs(runs, tmp_path / "elsewhere")
    done = str((runs / "done").resolve() / "final")
    assert checkpoint_choice("done") == CheckpointChoice(done, run="done")
    assert checkpoint_choice(" done/ ") == CheckpointChoice(done, run="done")
    assert checkpoint_choice(str(runs / "done")) == CheckpointChoice(
        str(runs / "done" / "final"), run=str(runs / "done")
    )
    assert checkpoint_choice("city/final") == CheckpointChoice(str((runs / "city" / "final").resolve()))
    assert checkpoint_choice("going") == CheckpointChoice(None, run="going", problem=(
        "The run going has not finished: it has no final/ checkpoint yet. Wait for it to finish (the Train page "
        "follows it), or name one of its step checkpoints, going/checkpoints/step-N."
    ))  # fmt: skip
    # A run that ended unfinished is no run to wait for (a stopped one was: 'Wait for it to finish').
    assert checkpoint_choice("halted").problem == (
        "The run halted ended without finishing (stopped): it has no final/ checkpoint. Resume it on the Train "
        "page, or name one of its step checkpoints, halted/checkpoints/step-N."
    )
    assert checkpoint_choice("early").problem == (
        "The run early ended before its first checkpoint (stopped): it has no final/ checkpoint and nothing to "
        "resume. Start a new run on the Train page."
    )
    refused = allowed_checkpoint("/etc")[1]
    assert checkpoint_choice("linked") == CheckpointChoice(None, problem=refused)  # final/ links outside
    assert (
        checkpoint_choice("/etc")
        == checkpoint_choice(str(tmp_path / "elsewhere"))
        == CheckpointChoice(None, problem=refused)
    )
    assert checkpoint_choice("") == CheckpointChoice(None)


def test_the_sidebar_opens_a_runs_final_checkpoint_and_says_so(runs, tmp_path):
    from studio.markdown import escape_md_prose
    from tests.studio_helpers import app, session

    _train_runs(runs, tmp_path / "elsewhere")
    at = app(w_mode="trained", w_checkpoint="done", ui_live_preview=False)
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert "Run `done`: its final checkpoint." in [c.value for c in at.sidebar.caption]
    assert session(at).params.checkpoint == str(runs.resolve() / "done" / "final")
    assert at.text_input(key="w_checkpoint").value == "done"  # the box keeps what was typed
    at.text_input(key="w_checkpoint").set_value("going").run()
    assert [e.value for e in at.sidebar.error] == [escape_md_prose(checkpoint_choice("going").problem)]
    assert session(at).params.checkpoint is None  # nothing opens: the pages ask for a checkpoint
    assert not [c for c in at.sidebar.caption if "final checkpoint" in c.value]
    at.text_input(key="w_checkpoint").set_value("nosuch").run()  # under the runs folder: said under the box
    assert [e.value for e in at.sidebar.error] == [
        "There is no folder `nosuch` here: check the name, or pick a finished run below."
    ]
    at.text_input(key="w_checkpoint").set_value("/no/such/folder").run()  # outside: the one refusal, as ever
    assert [e.value for e in at.sidebar.error] == [escape_md_prose(allowed_checkpoint("/no/such/folder")[1])]


def test_a_recalled_clip_not_found_is_missing_not_its_namesake_in_the_first_folder(tmp_path, monkeypatch):
    """A PNG's storm.wav, not found here: its bare name went into the path box, which read it as
    `<first folder>/storm.wav`, another recording, used silently ("Settings restored") and without
    the image's hash. Now the name is said to be missing; a path typed for it keeps the hash, so
    the engine refuses a recording of that name with other sound."""
    monkeypatch.setenv("CLAP2DIFF_MODELS", "tiny")
    from PIL import Image

    from core.export import png_bytes
    from core.params import GenerationParams
    from tests.studio_helpers import app, errors, ok, session, wav

    root = tmp_path / "sounds"
    root.mkdir()
    (root / "storm.wav").write_bytes(wav())  # a namesake with other sound
    monkeypatch.setenv(AUDIO_DIRS_ENV, str(root))
    at = app()
    at.switch_page("../pages/gallery.py").run()
    theirs = GenerationParams(prompt="p", seed=5, steps=6, width=64, height=64, models="tiny",
                              audio_path="/their/storm.wav", audio_sha256="0" * 64)  # fmt: skip
    data = png_bytes(Image.new("RGB", (64, 64)), theirs)
    at.file_uploader(key="gallery_png").set_value(("storm.png", data, "image/png")).run()
    at.button(key="recall_upload").click().run()
    ok(at)
    assert at.radio(key="w_audio_source").value == "path" and at.text_input(key="w_audio_path").value == "storm.wav"
    warned = [w.value for w in at.warning]
    said = "Settings restored, except the clip **storm.wav**: this server's file of that name has other sound"
    assert any(said in w for w in warned), warned
    assert not at.success, [s.value for s in at.success]
    assert session(at).params.audio_path is None  # nothing a preview or a render would hear

    at.switch_page("../pages/generate.py").run()
    at.text_input(key="w_audio_path").set_value(str(root / "storm.wav")).run()  # where "it" is: another recording
    ok(at)
    params = session(at).params
    assert params.audio_path == str(root / "storm.wav") and params.audio_sha256 == "0" * 64
    at.button(key="btn_render").click().run()
    assert session(at).render.job.wait(60)
    at.run()
    ok(at)
    assert any("storm.wav is not the clip this image was made from" in e for e in errors(at)), errors(at)


def test_a_recalled_clip_is_found_in_the_audio_library_by_name_and_sound(tmp_path, monkeypatch):
    """A PNG names its clip without folders; the operator's library (CLAP2DIFF_AUDIO_DIRS) is a
    tree. The recall looks at any depth for a file of that name with the recorded sound, and takes
    that one, not a namesake with other sound met first."""
    monkeypatch.setenv("CLAP2DIFF_MODELS", "tiny")
    from PIL import Image

    from core.audio import file_sha256
    from core.export import png_bytes
    from core.params import GenerationParams
    from tests.studio_helpers import app, ok, session, wav

    root = tmp_path / "library"
    (root / "a_other").mkdir(parents=True)
    (root / "a_other" / "storm.wav").write_bytes(wav(silent=True))  # walked first: other sound
    (root / "field" / "2024").mkdir(parents=True)
    theirs = root / "field" / "2024" / "storm.wav"
    theirs.write_bytes(wav(seconds=1.37))  # a sound no other test uploads (uploads are looked in first)
    monkeypatch.setenv(AUDIO_DIRS_ENV, str(root))
    recorded = GenerationParams(prompt="p", seed=5, steps=6, width=64, height=64, models="tiny",
                                audio_path="/their/machine/storm.wav", audio_sha256=file_sha256(theirs))  # fmt: skip
    at = app()
    at.switch_page("../pages/gallery.py").run()
    at.file_uploader(key="gallery_png").set_value(("storm.png", png_bytes(Image.new("RGB", (64, 64)), recorded), "image/png")).run()  # fmt: skip
    at.button(key="recall_upload").click().run()
    ok(at)
    assert at.radio(key="w_audio_source").value == "path"
    assert at.text_input(key="w_audio_path").value == str(theirs.resolve())
    assert [s.value for s in at.success] and not at.warning, [w.value for w in at.warning]
    assert session(at).params.audio_path == str(theirs.resolve())
    assert session(at).params.audio_sha256 == recorded.audio_sha256


def test_the_library_search_stops_after_its_limit(tmp_path):
    """A recall in a huge library waits a bounded time: the walk looks at WALK_LIMIT entries."""
    from core.clips import folders_holding

    for i in range(5):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "hum.wav").write_bytes(b"")
    assert folders_holding("/elsewhere/hum.wav", [tmp_path]) == [tmp_path / f"d{i}" for i in range(5)]
    assert folders_holding("hum.wav", [tmp_path], limit=7) == [
        tmp_path / "d0",
        tmp_path / "d1",
    ]  # 5 folders, then 1 file each
    assert folders_holding("none.wav", [tmp_path]) == []
