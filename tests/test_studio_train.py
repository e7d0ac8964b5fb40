"""The Train page through AppTest on the tiny models: a synthetic dataset under the datasets root, a
real stage-1 run in its own process, its curve read from metrics.jsonl, Stop, and the way to Generate."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["CLAP2DIFF_MODELS"] = "tiny"

from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.train_helpers import make_dataset, write_pair  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

APP = str(ROOT / "studio" / "app.py")


@pytest.fixture
def roots(tmp_path, monkeypatch):
    datasets, runs = tmp_path / "datasets", tmp_path / "runs"
    make_dataset(datasets / "tones", n=4)
    broken = datasets / "broken"
    rows = [
        write_pair(broken, 0) | {"caption": "a *neon* [x](http://e.org) street"},
        {"audio": "clips/missing.wav", "image": "frames/0.png", "caption": "gone"},
    ]
    rows.append({"audio": "clips/0.wav", "image": "frames/0.png", "caption": ""})
    (broken / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    monkeypatch.setenv("CLAP2DIFF_DATASETS", str(datasets))
    monkeypatch.setenv("CLAP2DIFF_RUNS", str(runs))
    return datasets, runs


def _train_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_dataset_shows_its_rows_and_why_others_were_skipped(roots):
    at = _train_page()
    assert at.selectbox(key="train_dataset").options == ["broken", "tones"]
    at.selectbox(key="train_dataset").select("broken").run()
    assert _metric(at, "Usable rows") == "1" and _metric(at, "Skipped rows") == "3"
    table = at.dataframe[0].value
    assert list(table["line"]) == [2, 3, 4]
    reasons = list(table["reason"])
    assert "missing.wav" in reasons[0] and "caption" in reasons[1] and "JSON" in reasons[2]
    shown = [m.value for m in at.markdown if "line 1" in m.value]  # a caption is shown as written
    assert shown == ["**a \\*neon\\* \\[x\\](http:\u2060//e.org) street**  \n`clips/0.wav` · line 1"], shown
    datasets, _ = roots
    shutil.copy(datasets / "broken" / "clips" / "0.wav", datasets / "broken" / "clips" / "missing.wav")
    at.run()  # the missing clip put in place (metadata.jsonl unchanged): the row counts now
    assert _metric(at, "Usable rows") == "2" and _metric(at, "Skipped rows") == "2"
    at.selectbox(key="train_dataset").select("tones").run()
    assert _metric(at, "Usable rows") == "4" and _metric(at, "Skipped rows") == "0"
    assert _metric(at, "Total audio") == "0.1 min"  # four 1-second clips


def test_a_stage_brings_its_own_steps_and_learning_rate(roots):
    from core.train.config import starting_config

    declared = starting_config("tiny")
    at = _train_page()
    assert at.number_input(key="train_steps").value == declared.stage_steps[0]
    assert at.number_input(key="train_lr").value == pytest.approx(declared.learning_rates[0])
    at.selectbox(key="train_stage").select(3).run()
    assert at.number_input(key="train_steps").value == declared.stage_steps[2]
    assert (
        at.number_input(key="train_lr").value == pytest.approx(declared.learning_rates[2]) != declared.learning_rates[0]
    )


def test_a_dataset_deleted_under_the_page_is_said_and_nothing_trains_on_another(roots):
    datasets, runs = roots
    at = _train_page()
    at.selectbox(key="train_dataset").select("tones").run()
    shutil.rmtree(datasets / "tones")  # deleted (or renamed) while the page shows it
    at.button(key="train_start").click().run()
    assert at.selectbox(key="train_dataset").value == "broken"  # Streamlit's fallback: the first left
    assert any("`tones` is no longer in the datasets folder" in w.value for w in at.warning)
    assert any("Not started: `tones` is gone" in e.value for e in at.error), [e.value for e in at.error]
    assert not runs.exists() or not any(runs.iterdir())
    at.run()  # the next run: the choice stands, nothing more to say
    assert not at.warning and not at.error


def test_a_runs_folder_the_server_cannot_write_is_said_on_start(roots, monkeypatch):
    """Start raised the OSError of its mkdir: Streamlit's red 'This app has encountered an error'."""
    datasets, runs = roots
    runs.parent.mkdir(parents=True, exist_ok=True)
    runs.write_text("not a folder")  # CLAP2DIFF_RUNS set to a file; a read-only disk reads the same
    at = _train_page()
    at.selectbox(key="train_dataset").select("tones").run()
    at.text_input(key="train_run_name").input("mine")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = [e.value for e in at.error]
    assert said and said[0].startswith("Not started: the runs folder (CLAP2DIFF\\_RUNS) cannot be written: "), said
    assert "is not a writable folder" in said[0]


def test_a_run_stopped_before_its_first_checkpoint_offers_no_resume_and_says_why(roots):
    from core.train.metrics import STATUS_FILE

    _, runs = roots
    early = runs / "early"
    early.mkdir(parents=True)
    (early / "train_config.json").write_text("{}")
    (early / STATUS_FILE).write_text(json.dumps({"state": "stopped", "stage": 1, "step": 0, "total": 10}))
    at = _train_page()
    at.button(key="train_show_early").click().run()
    assert any("Run `early`" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.key == "train_resume"]
    assert any("ended before its first checkpoint" in c.value for c in at.caption)


def test_a_resumed_run_stopped_before_its_next_checkpoint_still_resumes_and_says_what_it_skipped(roots):
    """Its folder, not its status, says what a Resume goes on from: a resumed run stopped (or killed)
    before its next checkpoint still has the one it resumed from. The run's skipped rows are named."""
    from core.train import checkpoint as ckpt
    from core.train.metrics import STATUS_FILE

    _, runs = roots
    run = runs / "again"
    (run / ckpt.CHECKPOINTS / ckpt.step_name(107)).mkdir(parents=True)
    (run / ckpt.CHECKPOINTS / ckpt.step_name(107) / ckpt.STATE_FILE).write_text('{"step": 107}')
    (run / ckpt.CHECKPOINTS / ckpt.step_name(114)).mkdir()  # an incomplete one (no state file): not it
    (run / "train_config.json").write_text("{}")
    status = {"state": "stopped", "stage": 2, "step": 114, "total": 2000, "last_checkpoint": None, "pid": 0,
              "rows_used": 4, "rows_skipped": 2, "skipped": ["line 5: image missing.png does not exist",
                                                           "line 6: audio broken.wav is damaged"]}  # fmt: skip
    (run / STATUS_FILE).write_text(json.dumps(status))
    at = _train_page()
    at.button(key="train_show_again").click().run()
    resume = [b for b in at.button if b.key == "train_resume"]
    assert resume and ckpt.step_name(107) in resume[0].help
    assert "with the settings it started with (the settings above are for a new run)" in resume[0].help
    assert not any("nothing to resume" in c.value for c in at.caption)
    skipped = next(e for e in at.expander if e.label == "Trained on 4 rows; 2 skipped")
    table = skipped.dataframe[0].value  # a run from before skipped_rows.txt: its status's list
    assert list(table["line"]) == [5, 6] and list(table["reason"])[1] == "audio broken.wav is damaged"
    every = [f"line {n}: audio clips/gone{n}.wav does not exist" for n in range(5, 31)]
    (run / "skipped_rows.txt").write_text("".join(f"{line}\n" for line in every))
    status.update(rows_skipped=26, skipped=every[:20])  # status.json names twenty, the file every one
    (run / STATUS_FILE).write_text(json.dumps(status))
    at.run()
    skipped = next(e for e in at.expander if e.label == "Trained on 4 rows; 26 skipped")
    assert list(skipped.dataframe[0].value["line"]) == list(range(5, 31)) and not skipped.caption

    status.update(state="training")  # killed (no process): interrupted, and Resume says from where
    (run / STATUS_FILE).write_text(json.dumps(status))
    at.run()
    said = [w.value for w in at.warning]
    assert any(f"Resume continues it from its last checkpoint, {ckpt.step_name(107)}" in w for w in said), said
    assert not any("--resume" in w or "RUN" in w for w in said)  # no command line with a placeholder
    assert [b for b in at.button if b.key == "train_resume"]


def test_resume_is_refused_when_a_run_started_since_the_page_was_drawn(roots, monkeypatch):
    """Another tab started a run after this page drew Resume (or Resume was clicked twice): two
    processes would write one run folder's checkpoints. The click says so and launches nothing."""
    import core.train.launch
    from core.train import checkpoint as ckpt
    from core.train.metrics import STATUS_FILE, process_started

    _, runs = roots
    run = runs / "again"
    (run / ckpt.CHECKPOINTS / ckpt.step_name(7)).mkdir(parents=True)
    (run / ckpt.CHECKPOINTS / ckpt.step_name(7) / ckpt.STATE_FILE).write_text('{"step": 7}')
    (run / "train_config.json").write_text("{}")
    (run / STATUS_FILE).write_text(json.dumps({"state": "stopped", "stage": 1, "step": 7, "total": 20}))
    launched = []
    monkeypatch.setattr(core.train.launch, "start_training", lambda **kw: launched.append(kw))
    at = _train_page()
    at.button(key="train_show_again").click().run()
    resume = next(b for b in at.button if b.key == "train_resume")
    assert not resume.disabled
    other = runs / "other"  # started in another tab: alive (this test's own process stands in for it)
    other.mkdir()
    (other / STATUS_FILE).write_text(json.dumps({"state": "training", "stage": 1, "step": 1, "total": 20,
                                                 "pid": os.getpid(), "pid_started": process_started(os.getpid())}))  # fmt: skip
    resume.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert launched == [] and next(b for b in at.button if b.key == "train_resume").disabled
    assert any("Run `other` is training: stop it before starting another." in c.value for c in at.caption)
    from core.train.config import TrainError
    from studio import training

    with pytest.raises(TrainError, match="Not resumed: run other is training"):  # a click that got through
        training.resume(str(run))
    shutil.rmtree(other)  # no run trains now, and the checkpoint went (deleted by hand)
    (run / ckpt.CHECKPOINTS / ckpt.step_name(7) / ckpt.STATE_FILE).unlink()
    with pytest.raises(TrainError, match="Not resumed: again has no complete checkpoint left. Start a new run."):
        training.resume(str(run))
    assert launched == []


def test_a_setting_out_of_range_is_said_by_its_label_and_range_and_nothing_starts(roots, monkeypatch):
    """A browser refuses an out-of-range number with a red border only (a form then submits the last
    good value): Start checks the settings and says which one, and its range."""
    from core import train_knobs
    from studio import training

    started: list = []
    monkeypatch.setattr(training, "start", started.append)  # were it reached: recorded, no process launched
    K = train_knobs()
    at = _train_page()
    at.selectbox(key="train_dataset").select("tones").run()
    for key, bad, label in (("train_batch", 0, K["batch_size"].label), ("train_steps", 0, K["stage_steps"].label),
                            ("train_lr", 5.0, K["learning_rates"].label)):  # fmt: skip
        good = at.number_input(key=key).value
        at.number_input(key=key).set_value(bad)  # a form: the values go with its submit
        at.button(key="train_start").click().run()
        assert not at.exception, [e.value for e in at.exception]
        said = [e.value for e in at.error]
        assert len(said) == 1 and said[0].startswith(f"**{label}**: must be ") and "between" in said[0], said
        assert "value" not in said[0]  # not "value 1": which of the stages' values is the form's business
        assert said[0].endswith("Change it and press Start again."), said
        assert started == []  # nothing was started
        at.number_input(key=key).set_value(good)


def test_each_settings_box_shows_its_declared_range_before_start_and_under_it_when_refused(roots, monkeypatch):
    """The form's ranges were said only after Start refused a number: each box's help now ends with the
    range its Knob declares (the one config.validate checks), and a refused number's box says it."""
    import re

    from core import train_knobs
    from studio import training

    started: list = []
    monkeypatch.setattr(training, "start", started.append)
    K = train_knobs()
    at = _train_page()
    at.selectbox(key="train_dataset").select("tones").run()
    for key, field in (("train_steps", "stage_steps"), ("train_lr", "learning_rates"), ("train_batch", "batch_size")):
        shown = re.fullmatch(r".* Allowed: (\S+) to (\S+)\.", at.number_input(key=key).help, re.DOTALL)
        assert shown and (float(shown[1]), float(shown[2])) == K[field].range, at.number_input(key=key).help
        assert "--" not in at.number_input(key=key).help  # the CLI's flags mean nothing here
    assert at.number_input(key="train_lr").help.endswith(" Allowed: 1e-09 to 1.")
    assert not [c.value for c in at.caption if c.value.startswith(":red[")]  # nothing wrong yet
    at.number_input(key="train_steps").set_value(0)
    at.button(key="train_start").click().run()
    lo, hi = K["stage_steps"].range
    assert [c.value for c in at.caption if c.value.startswith(":red[")] == [f":red[must be between {lo} and {hi}]"]
    assert started == [] and len(at.error) == 1  # and Start said which setting, below the form


def test_a_dataset_with_no_usable_row_says_so_before_start(roots):
    datasets, _ = roots
    (datasets / "empty").mkdir()
    (datasets / "empty" / "metadata.jsonl").write_text("")
    at = _train_page()
    at.selectbox(key="train_dataset").select("empty").run()
    assert any("0 of 0 rows usable: nothing to train on" in i.value for i in at.info), [i.value for i in at.info]
    assert at.button(key="train_start").disabled
    at.selectbox(key="train_dataset").select("tones").run()
    assert not at.info and not at.button(key="train_start").disabled


def test_the_learning_rate_field_shows_every_step_it_takes(roots):
    """+ from 1e-4 is 1.1e-4: a format that shows both as '1e-04' made the button look dead."""
    from core import train_knobs

    knob = train_knobs()["learning_rates"]
    for rate in (1e-5, 1e-4, 1.5e-4, 9e-4):
        assert knob.fmt % rate != knob.fmt % (rate + knob.step) != knob.fmt % (rate - knob.step / 2), rate
    assert _train_page().number_input(key="train_lr").proto.format == knob.fmt  # the page draws the knob's


def test_no_dataset_says_where_to_put_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_DATASETS", str(tmp_path / "nothing"))
    monkeypatch.setenv("CLAP2DIFF_RUNS", str(tmp_path / "runs"))
    at = _train_page()
    assert "No dataset yet" in at.info[0].value and "python -m core prepare" in at.info[0].value


def test_the_demo_dataset_is_made_and_chosen_from_the_empty_page(tmp_path, monkeypatch):
    """With no dataset, one press makes the demo under the datasets folder and shows its six rows; a
    `demo` folder holding something else is left as it was and said so (no server folder named)."""
    datasets = tmp_path / "datasets"
    monkeypatch.setenv("CLAP2DIFF_DATASETS", str(datasets))
    monkeypatch.setenv("CLAP2DIFF_RUNS", str(tmp_path / "runs"))
    (datasets / "demo").mkdir(parents=True)
    (datasets / "demo" / "notes.txt").write_text("mine")
    at = _train_page()
    at.button(key="train_make_demo").click().run()
    assert "already has a `demo` that is no dataset" in at.error[0].value and str(tmp_path) not in at.error[0].value
    assert [p.name for p in (datasets / "demo").iterdir()] == ["notes.txt"]
    (datasets / "demo" / "notes.txt").unlink()
    at.button(key="train_make_demo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="train_dataset").value == "demo" and at.selectbox(key="train_dataset").options == ["demo"]
    assert _metric(at, "Usable rows") == "6" and _metric(at, "Skipped rows") == "0"


@pytest.mark.slow
def test_start_follow_stop_and_open_in_generate(roots):
    from core import UserError, read_metrics, read_status
    from core.train.checkpoint import latest_checkpoint, read_state
    from core.train.runs import list_runs

    _, runs = roots
    at = _train_page()
    at.selectbox(key="train_dataset").select("tones")
    at.text_input(key="train_run_name").input("tones-s1")
    at.number_input(key="train_steps").set_value(100000)  # long enough to be stopped
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = runs / "tones-s1"
    config = json.loads((run / "train_config.json").read_text())
    assert (config["stage"], config["stage_steps"][0], config["models"]) == (1, 100000, "tiny")
    assert config["resolution"] == 64 and config["data"].endswith("tones")  # the tiny demo's sizes
    wait_until(lambda: (read_status(run) or {}).get("step", 0) >= 2, "two steps")

    # A reload (a new session) reconnects to the running run and draws its curve from metrics.jsonl.
    at = _train_page()
    assert any("tones-s1" in m.value for m in at.markdown)
    assert at.selectbox(key="train_dataset").value == "broken"  # the form: what a new run would use...
    said = [c.value for c in at.caption if c.value.startswith("Dataset ")]  # ...and what this one does
    assert said == [
        f"Dataset `tones` · learning rate {config['learning_rates'][0]:g} · batch {config['batch_size']} · models `tiny`"
    ]
    losses = [m for m in read_metrics(run) if "loss" in m]
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    xs, ys = fig["data"][0]["x"], fig["data"][0]["y"]
    assert xs[: len(losses)] == [m["step"] for m in losses][: len(xs)] and ys[0] == pytest.approx(losses[0]["loss"])

    # Showing another run does not free Start: one run trains at a time, whichever one is shown.
    older = runs / "older"
    older.mkdir()
    (older / "train_config.json").write_text((run / "train_config.json").read_text())
    at = _train_page()
    at.button(key="train_show_older").click().run()
    assert any("Run `older`" in m.value for m in at.markdown)
    assert at.button(key="train_start").disabled
    assert any("Run `tones-s1` is training: stop it" in c.value for c in at.caption)
    from studio import training

    with pytest.raises(UserError, match="run tones-s1 is training"):  # a tab drawn before it began
        training.start(training.config_for("tones", "second", "tiny", 1, 10, 1e-4, 1, None))
    assert not (runs / "second").exists()
    at.button(key="train_show_training").click().run()
    shutil.rmtree(older)

    at.button(key="train_stop").click().run()
    wait_until(lambda: (read_status(run) or {}).get("state") == "stopped", "the stop")
    step = read_state(latest_checkpoint(run))["step"]
    assert step == read_status(run)["step"] >= 2  # stopped with a checkpoint of its last step
    (info,) = list_runs(runs)
    assert info.state == "stopped" and not info.alive and info.final is None


def test_a_finished_run_opens_in_generate_in_trained_mode(roots, train_bundle):
    from core.train.loop import train
    from core.train.runs import run_info
    from tests.train_helpers import tiny_config

    datasets, runs = roots
    config = tiny_config(datasets / "tones", runs / "done", 1, stage_steps=(2, 1, 1))
    # Trained here, on the shared tiny models (a process of its own: test_start_follow_stop_and_open_in_generate).
    assert train(config, bundle=train_bundle, progress=False, log=lambda _: None).state == "done"
    assert run_info(runs / "done").final is not None
    at = _train_page()
    from studio.session import SESSION_KEY

    # As after recalling an image this run made before it was trained again: the same folder, other weights.
    recalled = at.session_state[SESSION_KEY]
    final = str(runs / "done" / "final")
    recalled.params = recalled.params.replace(mode="trained", checkpoint=final, checkpoint_sha256="ab" * 32)
    at.session_state["w_mode"], at.session_state["w_checkpoint"] = "trained", final
    at.button(key="train_show_done").click().run()
    from core import latest_validation

    shown = latest_validation(runs / "done")  # the run's newest validation folder: each image of it shown
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert shown is not None and [c for c in captions if c.startswith("row-")] == sorted(
        p.stem for p in shown.glob("*.png")
    ), captions
    assert not any("damaged" in c.value for c in at.caption), [c.value for c in at.caption]
    at.button(key="train_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[SESSION_KEY].params.checkpoint_sha256 is None  # the run as it is now
    assert at.session_state["w_mode"] == "trained"
    assert at.session_state["w_checkpoint"] == str(runs / "done" / "final")
    assert at.selectbox(key="w_checkpoint_run").value == "done"  # the sidebar's choice names it, not "—"
    assert at.session_state["w_models_choice"] == "tiny"

    # In the sidebar, the server's finished runs are offered instead of typing a folder.
    at.text_input(key="w_checkpoint").set_value("somewhere/else").run()
    assert at.selectbox(key="w_checkpoint_run").options == ["—", "done"]
    # No run's checkpoint: shown as "—", as before any was picked (not Streamlit's "Choose an option").
    assert at.selectbox(key="w_checkpoint_run").value is None
    assert at.selectbox(key="w_checkpoint_run").proto.placeholder == "—"
    at.selectbox(key="w_checkpoint_run").select("done").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="w_checkpoint").value == str(runs / "done" / "final")


def test_a_recalled_png_made_with_a_trained_run_finds_the_run_among_this_servers_runs(roots):
    from PIL import Image

    from core.export import png_bytes
    from core.params import GenerationParams

    _, runs = roots
    (runs / "city" / "final").mkdir(parents=True)
    (runs / "city" / "final" / "config.json").write_text("{}")
    at = _train_page(ui_live_preview=False)
    for name, expected in (("city", str((runs / "city" / "final").resolve())), ("gone", "gone/final")):
        made = GenerationParams(prompt="p", seed=5, models="tiny", mode="trained", checkpoint=f"/srv/runs/{name}/final")
        png = png_bytes(Image.new("RGB", (64, 64)), made)
        assert b"/srv/runs" not in png  # the PNG names the run only
        at.switch_page("../pages/gallery.py").run()
        at.file_uploader(key="gallery_png").set_value((f"{name}.png", png, "image/png")).run()
        at.button(key="recall_upload").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["w_mode"] == "trained" and at.session_state["w_checkpoint"] == expected
        missing = [w.value for w in at.warning if "except the trained checkpoint" in w.value]
        if name == "gone":  # said where the clip's absence is said, not "Settings restored" in green
            assert missing == [
                "Settings restored, except the trained checkpoint **gone/final**: it is not among this server's "
                "runs. Choose its folder (or a finished run) in the sidebar, or switch to Zero-shot."
            ]
            assert not [m for m in at.success if "Settings restored" in m.value]
        else:
            assert missing == [] and [m for m in at.success if "Settings restored" in m.value]


def test_a_runs_settings_line_says_when_its_batch_is_more_than_its_rows(roots):
    from core.train.config import TrainConfig
    from core.train.runs import RunInfo
    from studio import training

    datasets, runs = roots
    run = runs / "big-batch"
    run.mkdir(parents=True)
    config = TrainConfig(data=str(datasets / "tones"), out=str(run), models="tiny", batch_size=8, stage=2)
    (run / "train_config.json").write_text(config.to_json())
    said = training.run_settings(RunInfo(run, {"rows_used": 4}, alive=False))
    assert said == (
        f"Dataset `tones` · learning rate {config.lr:g} · batch 8 (more than the 4 usable rows: each step "
        "repeats them) · models `tiny`"
    )
    assert "more than" not in training.run_settings(RunInfo(run, {"rows_used": 8}, alive=False))
    models = datasets.parent / "my-sd"  # a local folder of models, and an init: by their names only
    models.mkdir()
    config = config.replace(models=str(models), init=str(runs / "first" / "final"))
    (run / "train_config.json").write_text(config.to_json())
    said = training.run_settings(RunInfo(run, {}, alive=False))
    assert said.endswith(" · models `my-sd` · from `first/final`") and str(datasets.parent) not in said
    (run / "train_config.json").write_text("{}")
    assert training.run_settings(RunInfo(run, {}, alive=False)) is None


def test_the_settings_typed_stay_when_another_page_was_opened_in_between(roots):
    """Every other page keeps its knobs over a page switch; the Train form lost them (Streamlit drops
    an undrawn widget's value): typed steps, learning rate and batch came back as the defaults."""
    at = _train_page()
    at.selectbox(key="train_dataset").select("tones").run()
    at.selectbox(key="train_stage").select(2).run()
    for key, typed in (("train_steps", 37), ("train_lr", 3e-5), ("train_batch", 3), ("train_run_name", "mine")):
        at.session_state[key] = (
            typed  # as the form holds them once typed (AppTest sends a form's values only on submit)
        )
    at.run()
    assert at.number_input(key="train_steps").value == 37
    at.switch_page("../pages/generate.py").run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="train_dataset").value == "tones" and at.selectbox(key="train_stage").value == 2
    assert [at.number_input(key=k).value for k in ("train_steps", "train_lr", "train_batch")] == [37, 3e-5, 3]
    assert at.text_input(key="train_run_name").value == "mine"


def test_a_finished_run_whose_settings_cannot_be_read_is_said_and_changes_nothing(roots):
    """A run with its final/ but a damaged train_config.json: picking it in the sidebar raised in the
    callback (a traceback in place of the page); now a toast says which run and why."""
    _, runs = roots
    bad = runs / "bad [x](e.example) *y*"
    (bad / "final").mkdir(parents=True)
    (bad / "final" / "training.json").write_text("{}")
    (bad / "status.json").write_text(json.dumps({"state": "done"}))
    (bad / "train_config.json").write_text("{not json")
    at = _train_page()
    at.session_state["w_mode"] = "trained"
    at.run()
    assert at.selectbox(key="w_checkpoint_run").options == ["—", bad.name]
    at.selectbox(key="w_checkpoint_run").select(bad.name).run()
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [t.value for t in at.toast]
    assert said.startswith(r"Cannot open the run bad \[x\](e.example) \*y\*: its train_config.json cannot be read (")
    assert str(runs) not in said
    assert not at.session_state["w_checkpoint"]  # nothing changed: no checkpoint of a run that cannot be read
    assert at.selectbox(key="w_checkpoint_run").value is None


def test_stop_for_a_run_whose_folder_cannot_be_written_is_said_not_raised(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from studio import training

    toasts: list[str] = []
    monkeypatch.setattr(training, "st", SimpleNamespace(toast=lambda text, icon=None: toasts.append(text)))
    gone = tmp_path / "runs" / "gone"
    gone.parent.mkdir()
    gone.write_text("a file where the run's folder was")  # request_stop cannot make its STOP file
    training.stop(str(gone))
    assert toasts == [
        "Cannot ask the run gone to stop: its folder cannot be written. Whoever runs this studio can stop its "
        "training process."
    ]


def test_a_checkpoint_typed_in_the_sidebar_brings_the_models_it_was_trained_with(roots):
    """A run (or a checkpoint) typed in the box, trained with other models than those in use, failed
    to load or loaded weights it does not fit; `--checkpoint` and the finished-run choice switch to
    its models, and now the box does too, saying so."""
    _, runs = roots
    for name, models in (("big", "sd15"), ("small", "tiny")):
        (runs / name / "final").mkdir(parents=True)
        (runs / name / "final" / "training.json").write_text(json.dumps({"config": {"models": models}}))
        (runs / name / "train_config.json").write_text(json.dumps({"models": models}))
    at = _train_page(w_mode="trained")
    assert at.session_state["w_models_choice"] == "tiny"
    at.text_input(key="w_checkpoint").set_value("small").run()
    assert at.session_state["w_models_choice"] == "tiny" and not at.toast  # its own models: nothing to say
    at.text_input(key="w_checkpoint").set_value("big").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["w_models_choice"] == "sd15"
    assert [t.value for t in at.toast] == [
        "This checkpoint was trained with the models `sd15`: the sidebar uses them now."
    ]
    at.text_input(key="w_checkpoint").set_value("big/final").run()  # the same models: no second switch
    assert at.session_state["w_models_choice"] == "sd15" and not at.toast
    at.text_input(key="w_checkpoint").set_value("/etc").run()  # outside the allowed folders: nothing is read
    assert at.session_state["w_models_choice"] == "sd15"


def test_a_hidden_folder_is_never_offered_as_a_dataset(tmp_path, monkeypatch):
    """The demo dataset is filled in a hidden folder beside `demo` before its rename: a page drawn
    meanwhile must not offer that work folder (nor any other hidden one) as a dataset."""
    from studio import training

    monkeypatch.setenv("CLAP2DIFF_DATASETS", str(tmp_path))
    for name in ("tones", ".demo.1a2b3c4d"):
        make_dataset(tmp_path / name, n=1)
    assert training.dataset_names() == ["tones"]
