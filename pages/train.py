"""Train: the method's three stages on a dataset folder, as a separate process the page follows."""

from __future__ import annotations

import streamlit as st

from core import STAGE_NAMES, DatasetError, ParamsError, UserError, latest_validation, read_metrics, train_knobs
from studio import bindings, charts, run_view, training, widgets
from studio.bindings import PERSIST as PS
from studio.session import session
from studio.uploads import save_problem

s = session()
K = train_knobs()
st.markdown("## Train")
st.caption(
    "Teach the method your own sounds: a dataset folder of audio clips, images and captions "
    "(`metadata.jsonl`), trained in three stages (1 aligns the projector with the caption's text "
    "tokens; 2 trains the projector and the gated adapters with the diffusion loss; 3 fine-tunes "
    "both). Each run is its own process: the studio keeps working, and this page reconnects to it "
    "after a reload. A finished run opens in Generate in trained mode."
)

run = training.followed_run()
following = run is not None and run.alive  # the run shown is training: the page polls it
training_now = training.training_now()  # whichever run trains, shown or not: Start waits for it
busy = training_now is not None

# -- the dataset ----------------------------------------------------------------------------------
st.markdown("### Dataset")
names, swapped = training.dataset_names(), None
if not names:
    st.info(
        f"No dataset yet. Put a folder with a `metadata.jsonl` under the datasets folder "
        f"(`{training.DATASETS_ENV}`), or make one from videos with `python -m core prepare` "
        "(README, 'Train your own'). To try training first, make the demo dataset: six sample clips "
        "with pictures drawn to match (too few to learn real scenes; the tiny demo models learn them in "
        "a few steps)."
    )
    if st.button("Make the demo dataset", icon=":material/dataset:", key="train_make_demo"):
        try:
            made = training.make_demo_dataset()
        except DatasetError as exc:
            st.error(widgets.escape_md_prose(exc), icon=":material/error:")
        except OSError as exc:  # a full disk: said without the server's folders
            st.error(
                widgets.escape_md_prose(save_problem("The demo dataset", exc, "try again")), icon=":material/error:"
            )
        else:
            bindings.set_value("train_dataset", made)
            st.rerun()
    dataset, report = None, None
else:
    dataset = st.selectbox("Dataset folder", names, key="train_dataset", persist_state=PS)
    if swapped := training.dataset_swapped(dataset):
        st.warning(f"The dataset {widgets.code_md(swapped)} is no longer in the datasets folder (deleted or "
                   f"renamed): {widgets.code_md(dataset)} is chosen now.", icon=":material/warning:")  # fmt: skip
    try:
        report = training.dataset_report(dataset)
    except (DatasetError, OSError) as exc:
        st.error(widgets.escape_md_prose(exc), icon=":material/error:")
        report = None
if report is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Usable rows", len(report.rows))
    c2.metric("Skipped rows", len(report.skipped))
    c3.metric("Total audio", f"{report.total_seconds / 60:.1f} min")
    if report.skipped:
        with st.expander(f"Skipped rows ({len(report.skipped)}): why", expanded=not report.rows):
            st.dataframe(
                [{"line": k.line, "reason": k.reason} for k in report.skipped],
                hide_index=True,
                width="stretch",
            )
    if not report.rows:  # said here, not only after a press of Start
        st.info(f"{widgets.escape_md_prose(report.summary())}: nothing to train on. Each line of `metadata.jsonl` names an audio file, "
                "an image and a caption (README, 'Train your own').", icon=":material/info:")  # fmt: skip
    else:
        with st.expander("A few rows", expanded=False):
            for row in report.rows[:3]:
                left, right = st.columns([1, 2])
                widgets.safe_image(left, row.image, width=160)
                right.markdown(
                    f"**{widgets.escape_md(row.caption)}**  \n{widgets.code_md(row.audio_name)} · line {row.line}"
                )
                right.audio(str(row.audio))

# -- the settings ---------------------------------------------------------------------------------
st.markdown("### Settings")
finished = training.finished_runs()
models = s.engine_spec or "tiny"
training.ensure_defaults(models)
c1, c2, c3, c4 = st.columns(4)
stage = c1.selectbox(  # outside the form: a new stage brings its own steps and learning rate at once
    K["stage"].label,
    (1, 2, 3),
    format_func=lambda n: f"{n}: {STAGE_NAMES[n]}",
    help=K["stage"].help,
    key="train_stage",
    persist_state=PS,
    on_change=training.use_stage_defaults,
    args=(models,),
)
with st.form("train_settings", border=False, enter_to_submit=False):  # only Start starts a run: Enter in a box did
    c2, c3, c4 = st.columns(3)
    steps_knob, lr_knob, batch_knob = K["stage_steps"], K["learning_rates"], K["batch_size"]
    # No min/max on these: a browser refuses an out-of-range number with only a red border (and a
    # form then submits the last good one). Each box's help gives its declared range; Start checks
    # them (config.validate), and a submitted number outside its range is said under its box.
    steps = widgets.knob_box(c2, steps_knob, "train_steps", stage - 1, step=int(steps_knob.step))
    lr = widgets.knob_box(c3, lr_knob, "train_lr", stage - 1, format=lr_knob.fmt, step=lr_knob.step)
    batch = widgets.knob_box(c4, batch_knob, "train_batch", step=1)
    c1, c2 = st.columns(2)
    init = c1.selectbox(
        K["init"].label,
        [None, *(r.name for r in finished)],
        format_func=lambda n: "fresh weights" if n is None else n,
        help=K["init"].help,
        key="train_init",
        persist_state=PS,
    )
    name = c2.text_input(
        "Run name",
        placeholder="dataset-stageN-time",  # whole at 1024 px: the help says it in words
        help="The run's folder name. Left empty, it is made from the dataset, the stage and the time.",
        key="train_run_name",
        persist_state=PS,
    )
    start = st.form_submit_button(
        "Start training",
        key="train_start",
        type="primary",
        icon=":material/model_training:",
        disabled=busy or report is None or not report.rows,
    )
if busy and following and run.path == training_now.path:
    st.caption("A run is training (below): stop it before starting another.")
elif busy:
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.caption(f"Run {widgets.code_md(training_now.name)} is training: stop it before starting another.")
    c2.button("Show it", key="train_show_training", on_click=training.follow, args=(training_now.name,))
if start and report is not None and dataset is not None:
    name = name.strip() or training.new_run_name(dataset, stage)
    problem = training.check_run_name(name)  # each problem as Markdown, the names in it as written
    problem = widgets.escape_md_prose(problem) if problem is not None else None
    if problem is None and not report.rows:  # emptied since the page was drawn
        problem = widgets.escape_md_prose(report.summary()) + ": nothing to train on."
    if problem is None and swapped:
        problem = f"Not started: {widgets.code_md(swapped)} is gone. Press Start again to train on {widgets.code_md(dataset)}."
    if problem is not None:
        st.error(problem, icon=":material/error:")
    else:
        try:
            config = training.config_for(dataset, name, models, stage, int(steps), float(lr), int(batch), init)
            run = training.start(config)
            st.rerun()  # the form again, with Start disabled while it trains, and the run followed
        except ParamsError as exc:  # a setting out of its range: named as the form names it
            label = K[exc.field].label if exc.field in K else exc.field
            st.error(f"**{label}**: {widgets.escape_md_prose(exc.problem)}. Change it and press Start again.",
                     icon=":material/error:")  # fmt: skip
        except UserError as exc:
            st.error(widgets.escape_md_prose(exc), icon=":material/error:")


# -- the run --------------------------------------------------------------------------------------
@st.fragment(run_every=2.0 if busy else None)
def follow_run() -> None:
    info = training.followed_run()
    if (training.training_now() is not None) != busy or (info is not None and info.alive != following):
        st.rerun(scope="app")  # a run ended (or began) since the page was drawn: Start and its note follow
    if info is None:
        return
    st.markdown(f"### Run {widgets.code_md(info.name)}")
    state = info.state
    st.markdown(run_view.status_line(info), help=None)
    if settings := training.run_settings(info):
        st.caption(settings)
    if (done := run_view.progress(info)) is not None:
        st.progress(done)
    if state == "failed" and info.status.get("error"):
        st.error(widgets.escape_md_prose(info.status["error"]), icon=":material/error:")
    if label := run_view.skipped_label(info):
        with st.expander(label):
            skipped = info.skipped()  # every one, those only decoding told apart among them
            st.dataframe([{"line": k.line, "reason": k.reason} for k in skipped], hide_index=True, width="stretch")
            if note := run_view.skipped_shown_note(info, len(skipped)):  # a run from before skipped_rows.txt
                st.caption(note)
    resumable = info.resumable
    if state == "interrupted":
        st.warning("The run's process ended without finishing (killed, or the machine restarted)"
                   + (f": Resume continues it from its last checkpoint, {resumable.name}." if resumable else "."),
                   icon=":material/warning:")  # fmt: skip
    # One row, each button as wide as its label: in a quarter of the page "Open in Generate" read
    # "Open in Ge…" at 1024 px.
    row = st.container(horizontal=True, gap="small", key="train_run_actions")
    if info.alive:
        row.button("Stop", key="train_stop", icon=":material/stop:", on_click=training.stop, args=(str(info.path),),
                   help="Stops at the next step, after saving a checkpoint (a run still starting has none to "
                   "save: it stops with nothing to resume).")  # fmt: skip
    elif resumable is not None:
        if row.button("Resume", key="train_resume", icon=":material/play_arrow:", disabled=busy,
                      help=f"Continue from its last checkpoint, {resumable.name}, with the settings it started with "
                      "(the settings above are for a new run)."):  # fmt: skip
            try:
                training.resume(str(info.path))
            except UserError as exc:  # a run started since this page was drawn
                st.error(widgets.escape_md_prose(exc), icon=":material/error:")
            else:
                st.rerun(scope="app")  # followed and polled from now on
    elif state in ("stopped", "interrupted") and info.final is None:
        st.caption("It ended before its first checkpoint, so there is nothing to resume: start a new run.")
    if info.final is not None:  # beside Stop or Resume; first in the row when neither shows
        if row.button(
            "Open in Generate", key="train_open", type="primary", icon=":material/graphic_eq:",
            on_click=training.open_in_generate, args=(str(info.path),),
            help="Generate in trained mode with this run's final checkpoint.",
        ):  # fmt: skip
            st.rerun(scope="app")  # a click in a fragment reruns only the fragment: the app navigates
    left, right = st.columns([3, 2], gap="large")
    with left:
        widgets.chart(charts.loss_figure(read_metrics(info.path)), key="fig_train_loss", toolbar=False)
    with right:
        folder = latest_validation(info.path)
        if folder is not None:
            st.caption(f"Latest validation images ({folder.name})")
            images = sorted(folder.glob("*.png"))[:4]
            for column, image in zip(st.columns(len(images)), images, strict=True):
                widgets.safe_image(column, image, caption=image.stem)
        else:
            st.caption("Validation images appear here when the run makes them.")


follow_run()


# -- past runs ------------------------------------------------------------------------------------
@st.fragment(run_every=2.0 if busy else None)
def past_runs() -> None:
    """Polled as the run above is: drawn once, the training run's line read 'starting · step 0/?'
    until it ended, under a run section at step 3 of 4."""
    runs = training.list_runs()
    if runs:
        # Keyed: unkeyed, it closed when the page's rerun at a run's end moved it (the note above gone).
        with st.expander(f"Runs ({len(runs)})", expanded=False, key="train_runs_list"):
            for info in runs:
                c1, c2 = st.columns([4, 1])
                c1.markdown(run_view.past_run_line(info))
                if c2.button("Show", key=f"train_show_{info.name}", on_click=training.follow, args=(info.name,)):
                    st.rerun(scope="app")  # a click in a fragment reruns only the fragment: the run above follows


past_runs()
