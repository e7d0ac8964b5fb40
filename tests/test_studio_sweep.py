"""The Sweep page through AppTest on the tiny models: two axes, run, the grid and the heatmap, a bad
axis said plainly, and a tile opened in Generate with its values."""

from __future__ import annotations

import io
import json
import threading
import zipfile

import pytest

from core.export import read_grid
from tests.studio_helpers import app, errors, ok, session


@pytest.fixture(scope="module")
def stopped_z_run(samples, tiny_engine):
    """A real scored sweep, X = Foreground weight 0.2,1.4 and Z = Seed 7,8,9 (titled as the page
    titles them), stopped after its first two tiles: Seed 7 is complete, 8 and 9 have no tile."""
    import dataclasses

    from core import Scorer, SweepPlan, parse_axis, run_sweep
    from core.params import GenerationParams
    from studio import sweeping

    base = GenerationParams(prompt="a city", audio_path=str(samples["thunder"]), steps=2, width=64, height=64,
                            models="tiny")  # fmt: skip
    axes = [parse_axis("x", "level_weights.0=0.2,1.4", base), parse_axis("z", "seed=7,8,9", base)]
    plan = SweepPlan(base, tuple(dataclasses.replace(a, title=sweeping.label(a.field)) for a in axes))
    stop = threading.Event()
    run = run_sweep(tiny_engine, plan, Scorer("tiny"), cancel=stop, on_tile=lambda t: t.x == 1 and stop.set())
    assert run.cancelled and len(run.tiles) == 2
    return run


def _sweep_page(**state):
    at = app(**state)
    at.switch_page("../pages/sweep.py").run()
    ok(at)
    return at


def test_two_axes_run_show_grid_heatmap_and_recall_a_tile():
    at = _sweep_page(sweep_x_values="0.2,1.4", sweep_y_values="30,90", w_prompt="a harbour")
    assert at.selectbox(key="sweep_x_field").value == "level_weights.0"
    at.button(key="sweep_run").click().run()
    ok(at)
    assert not errors(at), errors(at)
    run = session(at).sweep.result
    assert run is not None and len(run.tiles) == 4
    assert [(t.result.params.norm_target, t.result.params.level_weights[0]) for t in run.tiles] == [
        (30.0, 0.2), (30.0, 1.4), (90.0, 0.2), (90.0, 1.4)
    ]  # fmt: skip
    assert all(t.scores is not None and t.scores.prompt_match is not None for t in run.tiles)
    assert len(at.get("plotly_chart")) == 1  # the heatmap
    assert len(at.get("image")) == 1  # the grid
    # The page speaks of its sliders, not the command line's fields: the tiles, the heatmap's axes.
    assert at.selectbox(key="sweep_tile").options[3] == "Norm target: 90 · Foreground weight: 1.4"
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)  # its JSON writes "×" as \u00d7
    titles = json.dumps(heatmap, ensure_ascii=False)
    assert '"Foreground weight"' in titles and '"Norm target"' in titles and "level_weights" not in titles

    at.selectbox(key="sweep_tile").set_value(3).run()
    at.button(key="sweep_recall").click().run()
    ok(at)
    assert at.slider(key="w_weight_fg").value == pytest.approx(1.4)
    assert at.slider(key="w_norm_target").value == pytest.approx(90.0)
    # A preview-quality tile (3 steps): the sliders keep Generate's 6 steps, and the page says so.
    assert run.tiles[3].result.params.steps == 3 and at.session_state["w_steps"] == 6
    assert any(
        "drawn at preview quality (3 steps, 64×64): the sliders keep Generate's 6 steps" in i.value for i in at.info
    )


def test_a_bad_axis_value_is_one_message_and_nothing_runs():
    at = _sweep_page(sweep_x_values="0.2,abc")
    at.button(key="sweep_run").click().run()
    ok(at)
    assert any("X · Foreground weight: 'abc' is not a number" in e for e in errors(at)), errors(at)
    assert not any("--" in e for e in errors(at)), "the page speaks of its axes, not the command line's flags"
    at.text_input(key="sweep_y_values").set_value("30,5000").run()
    at.text_input(key="sweep_x_values").set_value("0.2").run()
    at.button(key="sweep_run").click().run()
    assert any("Y · Norm target = 5000: " in e for e in errors(at)), errors(at)
    at.text_input(key="sweep_y_values").set_value("30").run()
    at.selectbox(key="sweep_z_field").set_value("level_weights.0").run()
    at.button(key="sweep_run").click().run()
    assert any("Z · Foreground weight: already swept by the X axis" in e for e in errors(at)), errors(at)
    at.selectbox(key="sweep_z_field").set_value("—").run()
    at.text_input(key="sweep_x_values").set_value("  ").run()
    at.button(key="sweep_run").click().run()
    assert any("X · Foreground weight: type the values to try, separated by commas" in e for e in errors(at)), errors(
        at
    )
    at.text_input(key="sweep_x_values").set_value("0.5,,1").run()
    at.button(key="sweep_run").click().run()
    assert any("an empty value (two commas in a row, or one at the end)" in e for e in errors(at)), errors(at)
    at.text_input(key="sweep_x_values").set_value("0.3,0.30,0.7").run()
    at.button(key="sweep_run").click().run()
    assert any(
        "X · Foreground weight: 0.3 and 0.30 are the same value: list each value once" in e for e in errors(at)
    ), errors(at)
    assert session(at).sweep.result is None and session(at).sweep.job is None


def test_values_beyond_a_sliders_span_are_used_as_typed_and_the_page_says_so_beside_the_axis():
    """Foreground weight 5 (its slider goes 0-2, the setting up to 10) ran without a word, and Open in
    Generate then stretched the slider: a note beside the axis says so, not a refusal (11 still is)."""

    def notes(at) -> list[str]:
        return [c.value for c in at.caption if "beyond the slider" in c.value]

    at = _sweep_page(sweep_x_values="0.3,5", sweep_y_values="30,250,400", sweep_scores=False)
    assert notes(at) == [
        "5 is beyond the slider's 0–2: used as typed, and Open in Generate widens the slider to show it.",
        "250, 400 are beyond the slider's 0–200: used as typed, and Open in Generate widens the slider to show them.",
    ]
    at.text_input(key="sweep_y_values").set_value("30").run()
    assert len(notes(at)) == 1
    at.button(key="sweep_run").click().run()
    ok(at)
    assert not errors(at) and [t.result.params.level_weights[0] for t in session(at).sweep.result.tiles] == [0.3, 5.0]
    at.selectbox(key="sweep_tile").set_value(1).run()
    at.button(key="sweep_recall").click().run()
    assert at.slider(key="w_weight_fg").value == pytest.approx(5.0) and at.slider(key="w_weight_fg").max == 5.0
    at.switch_page("../pages/sweep.py").run()
    at.text_input(key="sweep_x_values").set_value("0.3,0.7").run()
    assert notes(at) == []
    at.text_input(key="sweep_x_values").set_value("0.3,11").run()
    assert notes(at) == []  # beyond what the setting allows: no note, Run refuses it by name
    at.button(key="sweep_run").click().run()
    assert any("X · Foreground weight = 11: must be a number between 0 and 10" in e for e in errors(at)), errors(at)


def test_the_grid_download_carries_every_tile():
    at = _sweep_page(sweep_x_values="0.2,1.4", sweep_y_field="—", sweep_scores=False)
    at.button(key="sweep_run").click().run()
    ok(at)
    run = session(at).sweep.result
    # No scores asked: the heatmap's place says so in text that wraps (a figure's one line was cut off).
    assert not at.get("plotly_chart") and [i.value for i in at.info] == [
        "No scores in this sweep: it ran with Scores (CLIP) off. Turn them on and run it again."
    ]
    from core import sweep_files

    grids, _, csv_bytes = sweep_files(run)
    assert [i.params.level_weights[0] for i in read_grid(grids[0])] == [0.2, 1.4]
    assert csv_bytes.decode().splitlines()[1].split(",")[-1] == ""  # no scores asked: empty cells


def test_a_render_can_be_scored_on_generate():
    from tests.studio_helpers import render

    at = app(w_prompt="a harbour")
    render(at)
    item = session(at).history[-1]
    at.button(key="btn_scores").click().run()
    ok(at)
    assert session(at).scores.key == item.id
    scores = session(at).scores.result
    assert scores is not None and scores.prompt_match is not None and scores.audio_effect_pixels > 0
    table = next(m.value for m in at.markdown if " · Prompt match" in m.value)
    for label in ("Prompt match", "Heard in the image: similarity", "Audio effect (pixels)"):
        assert f" · {label}" in table, table
    assert f"**{scores.prompt_match:.4f}** · Prompt match" in table
    assert not [b for b in at.button if b.key == "btn_scores"]  # scored: the table replaces the button


def test_the_compare_tiles_can_be_scored_against_the_no_audio_tile():
    at = app(w_prompt="a harbour", cmp_alone=False, cmp_modes=["mix", "bands"])
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    ok(at)
    at.button(key="cmp_score").click().run()
    ok(at)
    assert not errors(at), errors(at)
    rows = dict(session(at).compare_scores.result)
    items = session(at).compare.result.items
    assert len(rows) == len(items) == 3
    no_audio = rows[items["no_audio"].caption]
    assert no_audio.audio_effect_pixels == no_audio.audio_effect_clip == 0.0  # strength 0: its own twin
    mixed = rows[items["mix"].caption]
    assert mixed.audio_effect_pixels > 0 and mixed.prompt_match is not None
    table = at.dataframe[0].value
    assert list(table["image"]) == [items[k].caption for k in items]
    assert {"Prompt match", "Audio effect (CLIP)"} <= set(table.columns) and "prompt_match" not in table.columns


def test_stopping_a_sweep_keeps_the_tiles_done(monkeypatch):
    """Stop pressed after 2 of 4 tiles: the grid shows those two (the rest empty), the page says how
    far it got, and the tiles can still be downloaded, as the Stop button's help promises."""
    import threading

    from studio import sweeping, widgets

    at = _sweep_page(sweep_x_values="0.2,0.6,1.0,1.4", sweep_y_field="—", sweep_scores=False)
    finished, two_done, stopped = [], threading.Event(), threading.Event()

    def held_after_a_tile() -> None:  # the engine thread, between tiles
        finished.append(1)
        if len(finished) == 2:
            two_done.set()
            assert stopped.wait(60), "Stop was never pressed"

    monkeypatch.setattr(sweeping.worker, "yield_to_interactive", held_after_a_tile)
    monkeypatch.setattr(widgets, "follow", lambda job, where=None, **kw: None)
    monkeypatch.setattr("streamlit.rerun", lambda *a, **kw: None)
    at.button(key="sweep_run").click().run()
    job = session(at).sweep.job
    assert job is not None and two_done.wait(120), "the sweep never finished two tiles"
    at.button(key="sweep_cancel").click().run()
    assert job.cancel.is_set()
    stopped.set()
    assert job.wait(60)
    at.run()
    ok(at)
    run = session(at).sweep.result
    assert run is not None and run.cancelled
    assert [t.result.params.level_weights[0] for t in run.tiles] == [0.2, 0.6]
    said = "Sweep stopped after 2 of 4 tiles: the grid and the heatmap show the rows it reached; the other 2 tiles were not made."
    assert any(said in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(at.get("image")) == 1  # the grid, with two empty places
    from core import sweep_files

    grids, _, csv_bytes = sweep_files(run)
    items = read_grid(grids[0])
    assert [i.params and i.params.level_weights[0] for i in items] == [0.2, 0.6, None, None]  # empty places
    assert len(csv_bytes.decode().splitlines()) == 3  # header + the two tiles done


def test_a_sweep_stopped_before_it_started_says_so_with_its_size(monkeypatch):
    from studio import widgets

    at = _sweep_page(sweep_x_values="0.2,1.4", sweep_y_values="30,90", sweep_scores=False)
    monkeypatch.setattr(widgets, "follow", lambda job, where=None, **kw: None)
    monkeypatch.setattr("streamlit.rerun", lambda *a, **kw: None)
    from studio import worker

    busy = threading.Event()  # another session's work holds the engine thread: the sweep waits in the queue
    blocker = worker.submit(busy.wait, 60, priority=worker.INTERACTIVE)
    try:
        at.button(key="sweep_run").click().run()
        job = session(at).sweep.job
        at.button(key="sweep_cancel").click().run()
        pending = job is not None and job.future is not None and not (job.future.running() or job.future.done())
        assert pending, "the sweep must still be queued when Stop arrives"
    finally:
        busy.set()
    assert blocker.result(60) and job.wait(60) and job.cancelled and job.result is None
    at.run()
    ok(at)
    assert any("Sweep stopped after 0 of 4 tiles: nothing was kept." in w.value for w in at.warning), [
        w.value for w in at.warning
    ]


def test_a_steps_axis_sweeps_progress_climbs_to_exactly_its_total(tiny_engine, tiny_params, monkeypatch):
    """X = Steps 2,5,4 on preview settings of 3 steps: the bar counts each tile's own steps (11 in
    all, not 3 x 3), from the queue on, so it never jumps back nor sits at 100% in a tile."""
    from core import SweepPlan, parse_axis
    from studio import jobs, sweeping, worker

    base = tiny_params.replace(steps=3)
    bars, on_progress = [], jobs.Job.on_progress

    def drawn(job, info) -> None:
        on_progress(job, info)
        bars.append((job.completed + job.step, job.total, job.fraction))

    monkeypatch.setattr(jobs.Job, "on_progress", drawn)
    busy = threading.Event()  # the engine thread is held: the sweep waits in the queue, its bar drawn
    blocker = worker.submit(busy.wait, 60, priority=worker.INTERACTIVE)
    try:
        job = sweeping.sweep_job(tiny_engine, SweepPlan(base, (parse_axis("x", "steps=2,5,4", base),)), None)
        assert job.total == 11 and job.fraction == 0.0
    finally:
        busy.set()
    assert blocker.result(60) and job.wait(120) and job.ok, job.error
    done = [d for d, _, _ in bars]
    assert {t for _, t, _ in bars} == {11} and done == list(range(1, 12)), bars
    assert [f for _, _, f in bars].index(1.0) == len(bars) - 1  # full only at the very end


def test_a_sweep_failing_in_a_tile_shows_the_tiles_done_with_the_error(monkeypatch):
    """An engine error in the third tile of four: the page shows the error, says how far the sweep
    got, and keeps the two tiles done on the grid and in the downloads, as Stop keeps them."""
    from core.engine import Engine
    from tests.test_sweep import failing_on_call

    at = _sweep_page(sweep_x_values="0.2,0.6,1.0,1.4", sweep_y_field="—", sweep_scores=False)
    monkeypatch.setattr(Engine, "generate", failing_on_call(3, Engine.generate))
    at.button(key="sweep_run").click().run()
    ok(at)
    assert any("tile 3 failed on purpose" in e for e in errors(at)), errors(at)
    run = session(at).sweep.result
    assert run is not None and [t.result.params.level_weights[0] for t in run.tiles] == [0.2, 0.6]
    warnings = [w.value for w in at.warning]
    assert any(
        "Sweep stopped by the error above after 2 of 4 tiles: the grid and the heatmap show the rows it reached" in w
        for w in warnings
    )
    assert len(at.get("image")) == 1 and at.selectbox(key="sweep_tile").options == [
        "Foreground weight: 0.2", "Foreground weight: 0.6"
    ]  # fmt: skip


def test_the_score_picker_and_heatmap_speak_of_scores_by_name_and_offer_only_those_that_can_apply():
    at = _sweep_page(sweep_x_values="0.2,1.4", sweep_y_field="—", w_prompt="a harbour")
    at.button(key="sweep_run").click().run()
    ok(at)
    picker = at.selectbox(key="sweep_score")
    offered = ["Prompt match", "Heard in the image: same top event", "Heard in the image: similarity",
               "Audio effect (CLIP)", "Audio effect (pixels)"]  # fmt: skip
    assert picker.value == "heard_similarity" and picker.options == offered  # no reference match: no reference here
    heatmap = at.get("plotly_chart")[0].proto.spec
    assert "Heard in the image: similarity" in heatmap and "heard_similarity" not in heatmap


def test_heatmap_cells_have_the_digits_that_tell_them_apart_and_no_nan(stopped_z_run):
    """Two cells 0.00003 apart read 0.02086 and 0.02089 (not 0.021 twice); a cell without a value
    is blank, never "NaN"."""
    import dataclasses

    from core import Scores
    from studio import sweep_charts

    tiles = stopped_z_run.tiles
    near = [dataclasses.replace(t, scores=Scores(heard_similarity=v)) for t, v in zip(tiles, (0.020861, 0.020893))]
    heat = sweep_charts.sweep_heatmap(dataclasses.replace(stopped_z_run, tiles=near), "heard_similarity", 0).data[0]
    assert [list(row) for row in heat.text] == [["0.02086", "0.02089"]]
    assert list(heat.colorbar.ticktext) == ["0.02086", "0.02089"]  # the colour bar's two ends, as the cells say them
    one = sweep_charts.sweep_heatmap(dataclasses.replace(stopped_z_run, tiles=near[:1]), "heard_similarity", 0)
    assert [list(row) for row in one.data[0].text] == [["0.0209", ""]]


def _heatmap(run, values: list[list[float]], x: str = "seed", y: str | None = "norm_target=30,60,90"):
    """The heatmap of a run on `x` (and `y`) whose tiles score `values` (rows of columns)."""
    import dataclasses

    from core import Scores, SweepPlan, parse_axis
    from studio import sweep_charts

    base, tile = run.plan.base, run.tiles[0]
    axes = [parse_axis("x", f"{x}=" + ",".join(str(i) for i in range(len(values[0]))), base)]
    axes += [parse_axis("y", y, base)] if y else []
    tiles = [dataclasses.replace(tile, x=i, y=j, z=0, scores=Scores(heard_similarity=v))
             for j, row in enumerate(values) for i, v in enumerate(row)]  # fmt: skip
    plan = SweepPlan(base, tuple(dataclasses.replace(a, title=a.field.capitalize()) for a in axes))
    return sweep_charts.sweep_heatmap(dataclasses.replace(run, plan=plan, tiles=tiles), "heard_similarity", 0,
                                      title="Heard in the image: similarity")  # fmt: skip


def test_a_stopped_sweep_shows_only_the_rows_it_reached_in_its_grid_and_heatmap(stopped_z_run):
    """A 16×16 sweep stopped after 11 tiles drew 245 empty places and a tall, mostly empty heatmap:
    the grid and the heatmap now hold the rows with a tile (the last one's missing places marked)."""
    import dataclasses

    from core import Scores, SweepPlan, parse_axis
    from core.sweep.files import grids
    from studio import sweep_charts

    base, tile = stopped_z_run.plan.base, stopped_z_run.tiles[0]
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2,3,4", base), parse_axis("y", "norm_target=10,20,30,40", base)))
    tiles = [dataclasses.replace(tile, x=i % 4, y=i // 4, z=0, scores=Scores(heard_similarity=0.1 + i / 100))
             for i in range(6)]  # fmt: skip
    run = dataclasses.replace(stopped_z_run, plan=plan, tiles=tiles)
    assert run.rows_at(0) == [0, 1]
    items = read_grid(grids(run)[0])
    assert [i.params is not None for i in items] == [True] * 6 + [False] * 2  # rows 30 and 40: not there
    assert [i.caption for i in items][-2:] == ["norm_target=20 · seed=3: not generated",
                                               "norm_target=20 · seed=4: not generated"]  # fmt: skip
    fig = sweep_charts.sweep_heatmap(run, "heard_similarity", 0)
    heat = fig.data[0]
    assert list(heat.y) == ["10", "20"] and len(heat.z) == 2
    assert [list(row) for row in heat.text] == [["0.1", "0.11", "0.12", "0.13"], ["0.14", "0.15", "", ""]]
    assert fig.layout.height == 120 + sweep_charts.COLORBAR_PX + 60 * 2  # two rows tall, not four
    assert fig.layout.yaxis.autorange == "reversed"  # the first row on top, as in the grid beside it


CELL_AT_1024 = 53  # px: a cell of a three-column heatmap at 1024 px in Chromium (tests/e2e/test_sweep_page.py)


def test_heatmap_labels_of_near_equal_scores_fit_their_cells_at_1024_px_and_the_title_wraps(stopped_z_run):
    """A 3×3 sweep of near-equal scores labelled each cell '0.0165002': at 1024 px the labels ran into
    each other and into the row labels ('30.0165000.0165480.016655'), and the title was cut off. Now
    at most 4 significant digits (the hover keeps every digit that differs), a font that fits a cell
    with room to spare, and a title wrapped into lines the column holds."""
    values = [[0.0165002, 0.0165480, 0.0166560], [0.0165010, 0.0165490, 0.0166561], [0.016502, 0.01655, 0.016657]]
    fig = _heatmap(stopped_z_run, values)
    heat = fig.data[0]
    labels = [t for row in heat.text for t in row]
    assert max(len(t.lstrip("0.")) for t in labels) <= 4 and labels[:3] == ["0.0165", "0.01655", "0.01666"]
    assert len({str(c) for row in heat.customdata for c in row}) == 9 and "%{customdata}" in heat.hovertemplate
    assert heat.texttemplate == "%{text}" and 8 <= heat.textfont.size
    assert heat.textfont.size * 0.62 * max(map(len, labels)) + 4 <= CELL_AT_1024
    assert fig.layout.title.text == "Heard in the image:<br>similarity"


def test_heatmap_cell_labels_shrink_to_fit_and_give_way_to_hover_when_they_cannot(stopped_z_run):
    """Six columns of 0.0xxxx ran into one unreadable strip: the labels get smaller with more
    columns, and past 8 px they are left to the hover (which always shows the value); longer row
    labels leave the cells less room."""
    from studio import sweep_charts

    def heat(columns: int, y: str | None = None):
        return _heatmap(stopped_z_run, [[0.0201 + i / 1000 for i in range(columns)]], y=y).data[0]

    two, five, six = heat(2), heat(5), heat(6)
    assert (two.textfont.size, two.texttemplate) == (12, "%{text}")
    assert 8 <= five.textfont.size < 12 and five.texttemplate == "%{text}"  # "0.0241" five times fits at 9 px
    assert five.textfont.size * 0.62 * len("0.0241") * 5 <= sweep_charts.plot_px([""], titled=False)
    assert six.texttemplate == "" and "%{customdata}" in six.hovertemplate  # on hover only
    pairs = heat(3, "switch_points=0.2,0.5;0.4,0.7")  # rows labelled "0.2,0.5": narrower cells than "30"
    assert pairs.textfont.size < heat(3, "norm_target=30,60").textfont.size


def test_a_z_value_the_stopped_sweep_never_reached_says_so_and_offers_nothing_that_cannot_work(stopped_z_run):
    """Seed 9 of a sweep stopped in Seed 7: no grid of placeholders, no heatmap claiming scores were
    off (they were on), no empty tile picker and no Open in Generate that does nothing; one line
    says what happened. Seed 7 shows its grid, heatmap and tiles."""
    from studio.sweeping import SweepAsked

    at = _sweep_page()
    session(at).sweep.result, session(at).sweep.key = stopped_z_run, SweepAsked(stopped_z_run.plan)
    at.run()
    ok(at)
    assert len(at.get("image")) == 1 and len(at.get("plotly_chart")) == 1
    assert at.selectbox(key="sweep_tile").options == [
        "Seed: 7 · Foreground weight: 0.2",
        "Seed: 7 · Foreground weight: 1.4",
    ]
    at.select_slider(key="sweep_z_shown").set_value(2).run()
    ok(at)
    assert [i.value for i in at.info] == ["No tiles were made for Seed = 9: the sweep was stopped before them."]
    assert not at.get("image") and not at.get("plotly_chart")
    assert not [w for w in at.selectbox if w.key == "sweep_tile"] and not [
        b for b in at.button if b.key == "sweep_recall"
    ]
    assert at.get("download_button")[0].proto.disabled  # the grid of Seed 9 would only be placeholders
    assert not at.get("download_button")[1].proto.disabled  # the ZIP keeps the tiles done
    with zipfile.ZipFile(io.BytesIO(session(at).sweep_files[2])) as offered:  # and only Seed 7's grid
        assert sorted(offered.namelist()) == ["params.json", "scores.csv", "sweep_grid_01.png", "z01_y01_x01.png",
                                              "z01_y01_x02.png"]  # fmt: skip


def test_the_heatmap_says_why_it_has_no_value_in_words_that_are_true(stopped_z_run):
    import dataclasses

    from core import Scores
    from studio import sweeping

    run = stopped_z_run
    assert sweeping.heatmap_gap(run, "heard_similarity", 0) is None  # scored, with a clip: values to draw
    assert sweeping.heatmap_gap(run, "prompt_match", 1) == (
        "No tiles were made for Seed = 8: the sweep was stopped before them."
    )
    failed = dataclasses.replace(run, cancelled=False, error=RuntimeError("out of memory"))
    assert sweeping.heatmap_gap(failed, "prompt_match", 2) == (
        "No tiles were made for Seed = 9: the sweep was stopped by an error before them."
    )
    unscored = dataclasses.replace(run, tiles=[dataclasses.replace(t, scores=None) for t in run.tiles])
    assert sweeping.heatmap_gap(unscored, "prompt_match", 0) == (
        "No scores in this sweep: it ran with Scores (CLIP) off. Turn them on and run it again."
    )
    asked = sweeping.SweepAsked(run.plan, no_scorer="the CLIP model could not be loaded (run hf download once).")
    assert sweeping.heatmap_gap(unscored, "prompt_match", 0, asked) == (
        "No scores in this sweep: the CLIP model could not be loaded (run hf download once)."
    )
    no_prompt = dataclasses.replace(
        run, tiles=[dataclasses.replace(t, scores=Scores(heard_top1=1.0)) for t in run.tiles]
    )
    assert sweeping.heatmap_gap(no_prompt, "prompt_match", 0) == (
        "Prompt match does not apply to these tiles: it needs a prompt."
    )


def test_an_empty_charts_message_is_wrapped_not_cut_off():
    """Plotly draws an annotation on one line: a long one was cut at the column's edge."""
    from studio import charts

    message = "No step logged yet: the first point comes after the first logging step, which takes a while."
    text = charts._empty("Loss", message).layout.annotations[0].text
    lines = text.split("<br>")
    assert len(lines) > 1 and max(map(len, lines)) <= charts.EMPTY_WRAP and " ".join(lines) == message


def test_the_grid_zip_and_csv_are_built_once_per_sweep_not_on_every_rerun(monkeypatch):
    import core.sweep.files as files

    at = _sweep_page(sweep_x_values="0.2,1.4", sweep_y_field="—", sweep_scores=False)
    at.button(key="sweep_run").click().run()
    ok(at)
    built, grids = [], files.grids
    monkeypatch.setattr(files, "grids", lambda run: built.append(run) or grids(run))
    at.run()
    at.selectbox(key="sweep_score").set_value("prompt_match").run()
    ok(at)
    assert built == [] and len(at.get("image")) == 1  # the first draw built them; reruns reuse them
    at.text_input(key="sweep_x_values").set_value("0.3,0.9").run()
    at.button(key="sweep_run").click().run()
    at.run()
    ok(at)
    assert built == [session(at).sweep.result]  # a new sweep: its own files, once
    assert [i.params.level_weights[0] for i in read_grid(session(at).sweep_files[1][0])] == [0.3, 0.9]


def test_tiles_shown_during_a_run_name_their_z_value_too(tiny_engine, tiny_params):
    """The tiles appear as they finish, every Z value in one strip: each caption names its seed."""
    import dataclasses

    from core import SweepPlan, parse_axis
    from studio import sweeping

    base = tiny_params.replace(steps=2)
    axes = [parse_axis("x", "level_weights.0=0.2,1.4", base), parse_axis("z", "seed=7,8", base)]
    plan = SweepPlan(base, tuple(dataclasses.replace(a, title=sweeping.label(a.field)) for a in axes))
    job = sweeping.sweep_job(tiny_engine, plan, None)
    assert job.wait(120) and job.ok, job.error
    assert [caption for caption, _ in job.partial] == [
        "Seed: 7 · Foreground weight: 0.2", "Seed: 7 · Foreground weight: 1.4",
        "Seed: 8 · Foreground weight: 0.2", "Seed: 8 · Foreground weight: 1.4",
    ]  # fmt: skip


def test_the_no_scores_note_stays_once_the_sweep_is_done(monkeypatch):
    """Scores asked but no CLIP model to be had: the note saying why stays with the finished grid
    (it went when the sweep finished, leaving a heatmap that claimed scores were off)."""
    from core import ModelUnavailable, Scorer
    from studio import scoring

    why = "The CLIP model for scores could not be loaded from 'clip' (run once with network)."

    def unavailable(self, *args, **kwargs):
        raise ModelUnavailable(why)

    monkeypatch.setattr(scoring, "_scorers", {})  # none loaded yet in this server
    monkeypatch.setattr(Scorer, "__init__", unavailable)
    at = _sweep_page(sweep_x_values="0.2,1.4", sweep_y_field="—", sweep_scores=True)
    at.button(key="sweep_run").click().run()
    at.run()
    ok(at)
    assert session(at).sweep.result is not None and not session(at).sweep.running
    assert [w.value for w in at.warning] == [f"No scores: {why}"]
    assert [i.value for i in at.info] == [f"No scores in this sweep: {why}"]


def test_a_clip_generate_refuses_is_refused_by_sweep_as_compare_does_said_once():
    """A silent upload: Generate will not render with it, so Sweep will not make tiles with it (it
    made every tile with no audio). One error under Run, as on Compare; Run points at it."""
    from tests.studio_helpers import wav

    at = app(sweep_x_values="0.2,1.4")
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value(("hush.wav", wav(silent=True), "audio/wav")).run()
    at.switch_page("../pages/sweep.py").run()
    ok(at)
    (said,) = errors(at)
    assert said.startswith("**Audio problem**: ") and "hush.wav is silent" in said
    assert not [c.value for c in at.caption if "press **run**" in c.value.lower()]  # only the error: Run would refuse
    at.button(key="sweep_run").click().run()
    ok(at)
    assert session(at).sweep.job is None and session(at).sweep.result is None
    assert errors(at) == [said]
    assert [t.value for t in at.toast] == [
        "Nothing to sweep without a usable clip: the message under Run says why this one cannot be used."
    ]


def test_the_hint_before_a_sweep_fits_the_axes_the_page_shows():
    """A fresh page has X and Y filled in, yet said "Choose a knob for X ...": it says what Run sweeps."""
    at = _sweep_page()
    knobs = (at.selectbox(key="sweep_x_field").value, at.selectbox(key="sweep_y_field").value)
    assert knobs == ("level_weights.0", "norm_target")
    hint = "Press **Run** for an image at each value of Foreground weight × Norm target (or choose other knobs above)."
    assert hint in [c.value for c in at.caption]
    for axis in ("x", "y"):
        at.selectbox(key=f"sweep_{axis}_field").set_value("—").run()
    ok(at)
    assert "Choose a knob for X (and Y, Z if you like), then press **Run**." in [c.value for c in at.caption]


def test_a_sweep_axis_is_named_as_its_generate_widget_is_labelled():
    """The axis names came from a table of their own ("Gate: mid") beside the sliders' labels ("Mid
    (×)"): now from the binding table's one label, so the sweep's grid, heatmap and messages say what
    the Generate page's widget says, less the multiplier's mark (core.knobs.MULTIPLIER_MARK)."""
    from core.knobs import MULTIPLIER_MARK
    from studio import sweeping
    from studio.binding_table import BINDINGS

    at = app()
    drawn = {w.key: w.label for kind in (at.slider, at.radio, at.number_input) for w in kind}
    for field in sweeping.SWEEPABLE:
        name, _, element = field.partition(".")
        (key,) = [b.key for b in BINDINGS if b.field == name and b.index == (int(element) if element else None)]
        assert sweeping.label(field) == drawn[key].removesuffix(MULTIPLIER_MARK), field
    assert sweeping.label("level_weights.0") == "Foreground weight"
    assert sweeping.label("gate_scales.1") == "Mid gate"  # a gate's slider names its group's gate
    gates = {b.field + "." + str(b.index) for b in BINDINGS if b.field == "gate_scales"}
    assert gates <= set(sweeping.SWEEPABLE)  # every gate slider Generate draws can be swept (down was not)
    assert drawn["w_gate_mid"] == "Mid gate (×)" and drawn["w_audio_strength"] == "Audio strength (×)"


def test_open_in_generate_keeps_a_swept_steps_as_the_tile_made_it(monkeypatch, tiny_params):
    """A preview-quality sweep over Steps: the tile opened keeps its swept steps (the knob the sweep
    explored) and takes Generate's full size, which the sweep did not sweep."""
    from types import SimpleNamespace

    import studio.session
    from core import SweepPlan, parse_axis
    from core.sweep import SweepRun, SweepTile
    from studio import sweeping

    full = tiny_params.replace(steps=30, width=256, height=192)
    base = full.replace(steps=3, width=64, height=64)  # drawn down to preview quality
    plan = SweepPlan(base, (parse_axis("x", "steps=5,9", base),))
    tiles = [SweepTile(0, 0, x, plan.labels_at(0, 0, x), SimpleNamespace(params=plan.params_at(0, 0, x)), b"")
             for x in range(2)]  # fmt: skip
    recalled: list = []

    def recall(params, about=None) -> None:
        recalled.append((params, about))

    monkeypatch.setattr(studio.session, "session", lambda: SimpleNamespace(recall=recall))
    monkeypatch.setattr(
        sweeping.bindings, "value", lambda key, default=None: 1 if key == sweeping.TILE_KEY else default
    )
    sweeping.recall_tile(SweepRun(plan, tiles), 0, full)
    ((params, about),) = recalled
    assert (params.steps, params.width, params.height, params.seed) == (9, 256, 192, full.seed)
    assert "drawn at preview quality (9 steps, 64×64)" in about


def test_each_z_values_heatmap_shows_that_grids_scores_only(stopped_z_run):
    """A finished sweep with a Z axis: the heatmap of Z index z holds the scores of the tiles at z,
    not those of another grid drawn over them."""
    import dataclasses

    from core import Scores, SweepPlan, parse_axis
    from studio import sweep_charts

    base, tile = stopped_z_run.plan.base, stopped_z_run.tiles[0]
    plan = SweepPlan(base, (parse_axis("x", "seed=1,2", base), parse_axis("z", "norm_target=30,90", base)))
    tiles = [dataclasses.replace(tile, x=x, y=0, z=z, scores=Scores(heard_similarity=0.1 * (1 + x + 2 * z)))
             for z in range(2) for x in range(2)]  # fmt: skip
    run = dataclasses.replace(stopped_z_run, plan=plan, tiles=tiles)
    for z, expected in ((0, [0.1, 0.2]), (1, [0.3, 0.4])):
        heat = sweep_charts.sweep_heatmap(run, "heard_similarity", z).data[0]
        assert [list(row) for row in heat.z] == [pytest.approx(expected)], z


def test_open_in_generate_opens_the_tile_of_the_z_value_shown(stopped_z_run):
    """Z moved to Seed 8: the tile picker lists Seed 8's tiles and Open in Generate puts Seed 8's
    tile into the sliders, not the tile at the same place in Seed 7's grid."""
    import dataclasses

    from studio.sweeping import SweepAsked

    seed_8 = [
        dataclasses.replace(t, z=1, result=dataclasses.replace(t.result, params=t.result.params.replace(seed=8)))
        for t in stopped_z_run.tiles
    ]
    run = dataclasses.replace(stopped_z_run, tiles=[*stopped_z_run.tiles, *seed_8])
    at = _sweep_page()
    session(at).sweep.result, session(at).sweep.key = run, SweepAsked(run.plan)
    at.run()
    at.select_slider(key="sweep_z_shown").set_value(1).run()
    at.selectbox(key="sweep_tile").set_value(1).run()
    at.button(key="sweep_recall").click().run()
    ok(at)
    assert at.session_state["w_seed"] == 8 and at.slider(key="w_weight_fg").value == pytest.approx(1.4)


def test_the_grid_and_its_download_are_the_z_value_shown(stopped_z_run, monkeypatch):
    """Z moved to Seed 8: the grid image and the Grid download are Seed 8's grid (its tiles drawn red
    here), not Seed 7's; back at Seed 7, Seed 7's."""
    import dataclasses
    import io

    import numpy as np
    import streamlit
    from PIL import Image

    from studio.sweeping import SweepAsked

    red = Image.new("RGB", (64, 64), (255, 0, 0))
    seed_8 = [dataclasses.replace(t, z=1, result=dataclasses.replace(t.result, image=red)) for t in stopped_z_run.tiles]
    run = dataclasses.replace(stopped_z_run, tiles=[*stopped_z_run.tiles, *seed_8])
    shown, grids, real_image, real_download = [], [], streamlit.image, streamlit.download_button
    monkeypatch.setattr(streamlit, "image", lambda image, *a, **k: (shown.append(image), real_image(image, *a, **k))[1])

    def download(label, data, *a, **k):
        if label == "Grid":
            grids.append((data, k["file_name"]))
        return real_download(label, data, *a, **k)

    monkeypatch.setattr(streamlit, "download_button", download)

    def red_share(png: bytes) -> float:
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
        return float(((pixels[..., 0] == 255) & (pixels[..., 1:].max(axis=2) == 0)).mean())

    at = _sweep_page()
    session(at).sweep.result, session(at).sweep.key = run, SweepAsked(run.plan)
    at.run()
    for z, is_red in ((1, True), (0, False)):
        shown.clear(), grids.clear()
        at.select_slider(key="sweep_z_shown").set_value(z).run()
        ok(at)
        assert len(shown) == 1 and (red_share(shown[0]) > 0.3) is is_red, z
        assert grids == [(shown[0], f"sweep_grid_0{z + 1}.png")], z
