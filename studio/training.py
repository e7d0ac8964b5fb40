"""Where the Train page finds datasets and runs, and what its buttons do.

The studio trains only on folders the operator put under one root (CLAP2DIFF_DATASETS) and keeps
runs under another (CLAP2DIFF_RUNS), so a page never browses the server's files: it lists the
dataset folders (those with a metadata.jsonl) under the root. A run is a separate process
(core.start_training) that reports through files, so nothing here holds it: a reloaded page, or
another tab, finds it again with core.train.runs.running_run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

from core.train.config import TrainConfig, TrainError, repeats_note, starting_config
from core.train.dataset import DatasetError, DatasetReport, load_dataset
from core.train.runs import RunInfo, run_info
from studio import bindings
from studio.markdown import code_md, escape_md, escape_md_prose
from studio.session import session

log = logging.getLogger(__name__)

DATASETS_ENV = "CLAP2DIFF_DATASETS"
RUNS_ENV = "CLAP2DIFF_RUNS"
RUN_PICK_KEY = "w_checkpoint_run"  # the sidebar's choice of a finished run (trained mode)
METADATA = "metadata.jsonl"


def datasets_root() -> Path:
    return Path(os.environ.get(DATASETS_ENV) or "~/clap2diff/datasets").expanduser()


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ENV) or "~/clap2diff/runs").expanduser()


def dataset_names() -> list[str]:
    """The dataset folders under the root (one level down), by name."""
    root = datasets_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / METADATA).is_file())


DEMO_DATASET = "demo"  # the folder the Train page's demo button makes under the datasets folder


def make_demo_dataset() -> str:
    """The demo dataset (core/train/demo.py) under the datasets folder, made if it is not there yet;
    its name. A folder of that name holding something else is left alone, and said so."""
    from core.train.demo import occupied, write_demo_dataset

    folder = datasets_root() / DEMO_DATASET
    if not (folder / METADATA).is_file():
        if occupied(folder):  # said here without the server's folder, which write_demo_dataset names
            raise DatasetError(
                f"The datasets folder (`{DATASETS_ENV}`) already has a `{DEMO_DATASET}` that is no dataset: "
                "rename or remove it, or make the demo elsewhere with `python -m core prepare --samples --out DIR`."
            )
        write_demo_dataset(folder)
    return DEMO_DATASET


@st.cache_data(show_spinner="Reading the dataset…", max_entries=8)
def _report(folder: str, stamp: tuple) -> DatasetReport:
    return load_dataset(folder)


def _stamp(folder: Path, depth: int = 2) -> tuple:
    """What changes when the dataset does: its metadata.jsonl, and every folder's listing (a file
    added, removed or replaced by a rename) down to `depth` levels (clips/, frames/...)."""
    stamp, level = [(METADATA, (folder / METADATA).stat().st_mtime_ns)], [folder]
    for _ in range(depth + 1):
        below = []
        for d in level:
            try:  # a folder removed meanwhile is a change too, not an error
                stamp.append((d, d.stat().st_mtime_ns))
                with os.scandir(d) as entries:  # the listing's own types: no stat per file
                    below += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and e.name != ".cache"]
            except OSError:
                stamp.append((d, None))
        level = below
    return tuple(stamp)


def dataset_report(name: str) -> DatasetReport:
    """The dataset's rows and skipped rows; read again when its metadata.jsonl changes or a file
    comes or goes in its folders (an image added for a row that lacked it)."""
    folder = datasets_root() / name
    return _report(str(folder), _stamp(folder))


def dataset_swapped(chosen: str | None) -> str | None:
    """The dataset this session showed last, when it has left the datasets folder since (deleted,
    renamed) and the choice fell to `chosen`, another one: said before anything trains on that."""
    s = session()
    last, s.train_dataset = s.train_dataset, chosen
    return last if last and last != chosen and last not in dataset_names() else None


def new_run_name(dataset: str, stage: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset).strip("-") or "run"
    return f"{safe}-stage{stage}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_run_name(name: str) -> str | None:
    """What is wrong with a run name typed by the user (it becomes a folder under the runs root)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        return "Use letters, digits, '.', '_' and '-' (up to 100), starting with a letter or digit."
    if (runs_root() / name).exists():
        return f"A run named {name} exists already: choose another name."
    return None


def config_for(dataset: str, run: str, models: str, stage: int, steps: int, lr: float, batch: int,
               init: str | None, **more) -> TrainConfig:  # fmt: skip
    """The run's settings: the declared defaults (sized down for the tiny demo), then the page's."""
    base = starting_config(models)
    stage_steps, rates = list(base.stage_steps), list(base.learning_rates)
    stage_steps[stage - 1], rates[stage - 1] = steps, lr
    init_path = str(runs_root() / init) if init else None
    return base.replace(
        data=str(datasets_root() / dataset),
        out=str(runs_root() / run),
        stage=stage,
        stage_steps=tuple(stage_steps),
        learning_rates=tuple(rates),
        batch_size=batch,
        init=init_path,
        **more,
    ).validate()


def _refuse_while_training(then: str, run: str | None = None) -> None:
    """One run at a time: a TrainError naming the one training (a tab drawn before it began, or a
    second click, still shows Start or Resume)."""
    if (other := training_now()) is None:
        return
    if run is not None:
        which = "it is training already" if other.path == Path(run) else f"run {other.name} is training"
        raise TrainError(f"Not resumed: {which}. Stop it (or wait for it) {then}.")
    raise TrainError(f"run {other.name} is training: stop it (or wait for it) {then}")


def training_now() -> RunInfo | None:
    """The run training under the runs folder, whichever session started it: one at a time, since
    two runs would share this machine's cores and each take twice as long."""
    from core.train.runs import running_run

    return running_run(runs_root())


@contextlib.contextmanager
def _runs_folder_named() -> Iterator[None]:
    """A runs folder the server cannot write is the operator's to mend: the message names its variable."""
    from core.export import ExportError

    try:
        yield
    except ExportError as exc:
        raise TrainError(f"Not started: the runs folder ({RUNS_ENV}) cannot be written: {exc}.") from None


def start(config: TrainConfig) -> RunInfo:
    """Launch the run as its own process and follow it in this session; refused (TrainError) while
    another run trains (another tab may have started one since this page was drawn)."""
    from core.train.launch import start_training

    _refuse_while_training("before starting another")
    with _runs_folder_named():
        start_training(config)
    info = run_info(config.out)
    session().train.key = config.out
    return info


def list_runs() -> list[RunInfo]:
    from core.train.runs import list_runs as runs_under

    return runs_under(runs_root())


def finished_runs() -> list[RunInfo]:
    """The runs with a final checkpoint: what trained mode can use (an init, Generate's choice)."""
    return [r for r in list_runs() if r.final is not None]


def followed_run() -> RunInfo | None:
    """The run this session follows: the one it started, else one still training (after a reload)."""
    s = session()
    if s.train.key:
        info = run_info(s.train.key)
        if info is not None:
            return info
    info = training_now()
    if info is not None:
        s.train.key = str(info.path)
    return info


def run_settings(info: RunInfo) -> str | None:
    """What the run trains on and with (its train_config.json), as Markdown: the form above shows
    what a new run would use, which after a reload is not what this one uses. None if unreadable."""
    from core.train.card import shareable_config
    from core.train.checkpoint import read_run_config

    try:
        config = read_run_config(info.path)
    except (TrainError, OSError, ValueError, TypeError):
        return None
    if not config.data:
        return None  # a config written by hand without its dataset: nothing true to say
    rows = info.status.get("rows_used")
    batch = f"batch {config.batch_size}"
    if isinstance(rows, int) and (note := repeats_note(config.batch_size, rows)):
        batch += f" ({note})"
    named = shareable_config(config)  # folders by their names, as the model card gives them
    parts = [f"Dataset {code_md(named['data'])}", f"learning rate {config.lr:g}", batch,
             f"models {code_md(named['models'])}"]  # fmt: skip
    if named["init"]:
        parts.append(f"from {code_md(named['init'])}")
    return " · ".join(parts)


def follow(name: str) -> None:
    """Button callback: show this past run."""
    session().train.key = str(runs_root() / name)


def stop(run: str) -> None:
    """Button callback: ask the run to stop at its next step (it saves a checkpoint first)."""
    from core.train.stop import request_stop

    try:
        request_stop(run)
    except OSError as exc:  # the run's folder gone or read-only: said, not raised in the callback
        log.warning("stop of %s refused: %s", run, exc)  # the server's log has the path and the reason
        st.toast(f"Cannot ask the run {escape_md(Path(run).name)} to stop: its folder cannot be written. "
                 "Whoever runs this studio can stop its training process.", icon=":material/error:")  # fmt: skip


def ensure_defaults(models: str) -> None:
    """The form's first draw: stage 1's steps and learning rate, and the batch size, as declared. Once
    set, they are the user's: kept across page switches (the widgets persist) until a Stage choice."""
    if bindings.value("train_steps") is None:
        use_stage_defaults(models)
    if bindings.value("train_batch") is None:
        bindings.set_value("train_batch", starting_config(models).batch_size)


def use_stage_defaults(models: str) -> None:
    """Callback of the Stage choice (and the page's first draw): Steps and Learning rate take that
    stage's declared defaults (stage 3 fine-tunes at 1e-5, not stage 1's 1e-4)."""
    stage = int(bindings.value("train_stage", 1) or 1)
    defaults = starting_config(models)
    bindings.set_value("train_steps", defaults.stage_steps[stage - 1])
    bindings.set_value("train_lr", defaults.learning_rates[stage - 1])


def resume(run: str) -> None:
    """Continue a stopped, interrupted or failed run from its last checkpoint; refused (TrainError)
    while any run trains: another tab, or a second click, may have started one since the page was
    drawn, and two processes in one run folder would write over each other's checkpoints."""
    from core.train.launch import start_training

    _refuse_while_training("first", run)
    info = run_info(run)
    if info is None or info.resumable is None:  # its checkpoints went since the page was drawn
        raise TrainError(f"Not resumed: {Path(run).name} has no complete checkpoint left. Start a new run.")
    with _runs_folder_named():
        start_training(run=run, resume=True)
    session().train.key = run


def use_run(run: str) -> bool:
    """Trained mode with this run's final checkpoint and its models (a callback's work). A run whose
    settings cannot be read (train_config.json damaged or gone, its final/ still there) is said in a
    toast and nothing changes: raised in a callback, it was a traceback in place of the page."""
    from core import UserError
    from core.train.checkpoint import FINAL, RUN_CONFIG, read_run_config

    try:
        models = read_run_config(Path(run)).models
    except (UserError, ValueError, TypeError, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)  # an OSError's text names the server path
        st.toast(f"Cannot open the run {escape_md(Path(run).name)}: its {RUN_CONFIG} cannot be read "
                 f"({escape_md_prose(why)}).", icon=":material/error:")  # fmt: skip
        return False
    bindings.set_models(models)
    bindings.set_value("w_mode", "trained")
    bindings.set_value("w_checkpoint", str(Path(run) / FINAL))
    session().use_current_weights()  # the run as it is now, whatever a recalled image recorded
    return True


def use_typed_checkpoint() -> None:
    """Callback of the sidebar's checkpoint box: a checkpoint (or a run's folder) trained with other
    models than those in use switches to its models, as `--checkpoint` does on the command line and
    a finished run picked beside the box does: with other models it fails to load, or loads weights
    it does not fit. Said in a toast, since the models change above the box."""
    from core.train.checkpoint import init_models, same_models
    from studio.file_access import checkpoint_choice

    folder = checkpoint_choice(str(bindings.value("w_checkpoint") or "")).folder
    models = init_models(Path(folder)) if folder else None
    if models is None or same_models(models, session().engine_spec or ""):  # the models the sidebar chose
        return
    bindings.set_models(models)
    st.toast(f"This checkpoint was trained with the models {code_md(models)}: the sidebar uses them now.",
             icon=":material/swap_horiz:")  # fmt: skip


def open_in_generate(run: str) -> None:
    """Button callback: Generate with this run (`use_run`)."""
    if use_run(run):
        session().goto = "generate"


def show_picked_run(names: list[str]) -> None:
    """The sidebar's finished-run choice follows the checkpoint in use (Open in Generate, a recall,
    a folder typed, a run's folder typed): that run's name, or none when the checkpoint is not one of
    `names`' finals."""
    from core.train.checkpoint import FINAL
    from studio.file_access import checkpoint_choice

    typed = str(bindings.value("w_checkpoint") or "")
    current = {typed, checkpoint_choice(typed).folder}
    shown = next((n for n in names if str(runs_root() / n / FINAL) in current), None)
    if bindings.value(RUN_PICK_KEY) != shown:
        bindings.set_value(RUN_PICK_KEY, shown)


def use_picked_run() -> None:
    """Callback of the sidebar's finished-run choice."""
    name = bindings.value(RUN_PICK_KEY)
    if name:
        use_run(str(runs_root() / name))


__all__ = [
    "DATASETS_ENV",
    "RUNS_ENV",
    "RUN_PICK_KEY",
    "check_run_name",
    "config_for",
    "dataset_names",
    "dataset_report",
    "dataset_swapped",
    "ensure_defaults",
    "datasets_root",
    "finished_runs",
    "follow",
    "followed_run",
    "list_runs",
    "new_run_name",
    "open_in_generate",
    "resume",
    "runs_root",
    "show_picked_run",
    "start",
    "starting_config",
    "stop",
    "use_picked_run",
    "use_run",
    "use_stage_defaults",
]
