"""Studio glue without a browser: the widget <-> params mapping, background jobs (waiting, cancel,
stage messages), Compare's plan and source views, the chart builders, the spectrogram helper and
the uploads folder's pruning."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

import core.compare as compare  # noqa: E402
from core.params import GenerationParams  # noqa: E402
from core.schedule import SOLO_SWITCH_POINTS  # noqa: E402
from core.sources import level_origin  # noqa: E402
from studio import bindings, charts, jobs  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    from core.engine import Engine
    from studio import worker

    return worker.call(Engine, "tiny")  # on the engine thread, as in the studio


@pytest.fixture
def params():
    from core.samples import sample_paths

    return GenerationParams(
        prompt="a city", audio_path=str(sample_paths()["thunder"]), steps=6, width=64, height=64, models="tiny", seed=3
    )


def _wait_until(predicate, job, timeout=60.0):
    """Poll a condition while the job runs (Event.wait, never time.sleep)."""
    waited = 0.0
    while not predicate():
        assert waited < timeout, "condition not reached"
        job.done.wait(0.01)
        waited += 0.01


# -- one mapping -----------------------------------------------------------------------------------
def test_every_parameter_has_a_widget_or_is_derived():
    fields = {f.name for f in dataclasses.fields(GenerationParams)}
    bound = {b.field for b in bindings.BINDINGS}
    derived = {"audio_path", "audio_sha256", "checkpoint_sha256", "models"}  # audio picker, engine, sidebar
    assert fields == bound | derived, fields ^ (bound | derived)


def test_widget_defaults_are_the_generation_params_defaults():
    values = bindings.widget_values(GenerationParams())
    assert values["w_weight_fg"] == 0.7 and values["w_weight_bg"] == 0.5 and values["w_weight_amb"] == 0.3
    assert values["w_norm_target"] == 60.0 and values["w_switch"] == (0.4, 0.7)
    assert values["w_split"] == (35, 56)
    assert (values["w_gate_down"], values["w_gate_mid"], values["w_gate_up"]) == (0.0, 1.0, 1.0)
    back = bindings.params_from_values(values, GenerationParams(), None)
    assert back == GenerationParams()


@pytest.mark.parametrize(
    "changes",
    [
        dict(prompt="rain on a tin roof", negative_prompt="text", seed=123456, steps=40, guidance=5.5),
        dict(level_weights=(1.2, 0.0, 0.45), norm_target=0.0, norm_measure="tensor", switch_points=(0.1, 0.9)),
        dict(split=(10, 50, 17), switch_style="smooth", crossfade=0.25, gate_scales=(0.5, 0.0, 2.0)),
        dict(sources="bands", crossovers=(120.0, 6000.0), top_k=9, temperature=1.5, window_start=3.5),
        dict(
            sources="stems",
            stem_map=(("drums", "foreground"), ("bass", "ambience"), ("other", "ambience"), ("vocals", "background")),
        ),
        dict(
            mode="trained", checkpoint="/ckpt/projector", audio_strength=2.5, width=768, height=512, scheduler="euler"
        ),
    ],
)
def test_widgets_round_trip_any_params(changes, params):
    wanted = params.replace(audio_sha256="ab" * 32, **changes)
    values = bindings.widget_values(wanted)
    assert bindings.params_from_values(values, wanted, wanted.audio_path) == wanted
    # Onto other params, too: each widget carries its own field (element), none is filled in by the base.
    fresh = bindings.params_from_values(values, GenerationParams(), wanted.audio_path)
    assert fresh.replace(audio_sha256=wanted.audio_sha256, models=wanted.models) == wanted


def test_changing_the_clip_drops_the_recalled_audio_hash(params):
    recalled = params.replace(audio_sha256="ab" * 32)
    values = bindings.widget_values(recalled)
    assert bindings.params_from_values(values, recalled, "/elsewhere/other.wav").audio_sha256 is None


def test_changing_the_checkpoint_drops_the_recalled_checkpoint_hash(params):
    recalled = params.replace(mode="trained", checkpoint="/runs/city/final", checkpoint_sha256="cd" * 32)
    values = bindings.widget_values(recalled)
    assert bindings.params_from_values(values, recalled, recalled.audio_path) == recalled  # kept while it is the same
    assert bindings.params_from_values({}, recalled, recalled.audio_path) == recalled  # no checkpoint box: kept
    values["w_checkpoint"] = "/runs/city-v2/final"
    assert bindings.params_from_values(values, recalled, recalled.audio_path).checkpoint_sha256 is None


def test_a_whole_number_knob_reads_a_fractional_value_as_the_nearest(params):
    values = {"w_steps": 39.6, "w_width": 511.7, "w_top_k": "4.6"}
    back = bindings.params_from_values(values, params, params.audio_path)
    assert (back.steps, back.width, back.top_k) == (40, 512, 5)


def test_recall_of_a_non_sample_path_selects_the_path_source_where_the_server_offers_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))
    values = bindings.widget_values(GenerationParams(audio_path=str(tmp_path / "mine.flac")))
    assert values[bindings.AUDIO_SOURCE_KEY] == "path" and values[bindings.AUDIO_PATH_KEY].endswith("mine.flac")
    monkeypatch.delenv("CLAP2DIFF_AUDIO_DIRS")  # the default: no file is read by path, the clip is uploaded again
    values = bindings.widget_values(GenerationParams(audio_path=str(tmp_path / "mine.flac")))
    assert values[bindings.AUDIO_SOURCE_KEY] == "upload" and values[bindings.AUDIO_PATH_KEY] == ""


# -- jobs ------------------------------------------------------------------------------------------
def test_job_reports_waiting_while_another_generation_holds_the_engine(engine, params):
    engine.lock.acquire()  # as another session's generation would
    try:
        job = jobs.generation_job(engine, params, kind="render")
        _wait_until(lambda: job.waiting, job)
        assert job.status == jobs.WAITING and job.running
    finally:
        engine.lock.release()
    assert job.wait(60)
    assert job.ok and not job.waiting
    result, png = job.result
    assert result.image.size == (64, 64) and png.startswith(b"\x89PNG")


def test_a_job_queued_behind_another_reports_waiting(engine, params):
    first = jobs.generation_job(engine, params.replace(steps=150), kind="render")
    second = jobs.generation_job(engine, params, kind="render")  # e.g. another browser session
    assert second.waiting and second.status == jobs.WAITING
    _wait_until(lambda: first.step >= 1, first)
    first.request_cancel()
    assert second.wait(60) and second.ok and not second.waiting
    assert first.cancelled


def test_cancel_stops_the_engine_loop_within_a_step(engine, params):
    job = jobs.generation_job(engine, params.replace(steps=150), kind="render")
    _wait_until(lambda: job.step >= 1, job)
    job.request_cancel()
    assert job.wait(60)
    assert job.cancelled and job.result is None and job.error is None
    assert job.step < 150  # the most a shared studio allows (studio/limits.py)
    # The engine is free again: the next job runs normally.
    again = jobs.generation_job(engine, params, kind="render")
    assert again.wait(60) and again.ok


def test_job_errors_are_kept_for_the_page(engine, params):
    job = jobs.generation_job(engine, params.replace(steps=0), kind="render")
    assert job.wait(60)
    from core.params import ParamsError

    assert isinstance(job.error, ParamsError) and job.error.field == "steps"


def test_a_jobs_progress_counts_phases_and_steps_and_stays_within_0_and_1():
    from core.events import Phase, Stage, StepInfo, Waiting

    assert jobs.Job("listen", lambda job: None, total=0).total == 1  # no division by zero
    assert jobs.Job("listen", lambda job: None, total=0).fraction == 0.0
    job = jobs.Job("compare", lambda job: None, total=10)
    job.on_progress(StepInfo(3, 5, {"background": 1.0}, 0.25))
    job.on_status(Phase("2/3 Bands", steps_done=4, steps_total=12))
    assert (job.label, job.completed, job.step, job.total) == ("2/3 Bands", 4, 0, 12)
    assert job.status == "2/3 Bands"  # a phase is not prefixed with its own label
    job.on_status(Phase("3/3 Stems", steps_done=9))  # no total yet (still planning): the last one stays
    assert (job.completed, job.total) == (9, 12)
    job.on_status(Waiting())
    job.on_progress(StepInfo(2, 5, {"foreground": 0.75, "background": 0.25}, 1.5))
    assert not job.waiting and job.status == "3/3 Stems · step 2/5 · foreground · 1.5 s"
    assert job.fraction == 11 / 12
    job.on_status(Waiting())
    job.on_status(Stage("clap", "Listening"))
    assert not job.waiting and job.status == "3/3 Stems · Listening"
    job.completed = 20
    assert job.fraction == 1.0
    job.completed, job.step = -5, 0
    assert job.fraction == 0.0
    for _ in range(600):
        job.on_status(Stage("clap", "Listening"))
    assert len(job.stages) == 500  # a long run's diagnostics are bounded


def test_a_step_after_cancel_is_counted_but_says_cancelling():
    from core.events import StepInfo

    job = jobs.Job("render", lambda job: None, total=5)
    job.request_cancel()
    job.on_progress(StepInfo(2, 5, {"background": 1.0}, 0.5))
    assert (job.step, job.status) == (2, "Cancelling…")


def test_a_jobs_run_ends_done_failed_or_cancelled_and_lets_go_of_its_task():
    import gc
    import weakref

    from core.cancel import Cancelled

    class Engine:
        pass

    def run(task, cancel_first=False):
        job = jobs.Job("render", task)
        if cancel_first:
            job.cancel.set()
        job._run()  # what the engine thread calls
        assert job.done.is_set() and job.finished is not None and job._task is None
        return job

    engine = Engine()
    held = weakref.ref(engine)
    job = run(lambda job, engine=engine: 42)
    del engine
    gc.collect()
    assert held() is None  # a finished job does not keep its engine alive
    assert (job.result, job.status, job.ok, job.cancelled) == (42, "Done", True, False)
    assert job.elapsed == job.elapsed  # frozen once finished

    job = run(lambda job: None)  # a task with nothing to return, not cancelled: done
    assert (job.status, job.ok) == ("Done", True)

    def cancelled_late(job):
        job.cancel.set()  # the cancel came after the last step: the image is kept
        return "image"

    job = run(cancelled_late)
    assert (job.result, job.status, job.ok) == ("image", "Done", True)

    def stopped(job):
        job.cancel.set()
        return None

    job = run(stopped)
    assert (job.status, job.ok, job.cancelled) == ("Cancelled", False, True)

    def raises_cancelled(job):
        raise Cancelled("stop")

    job = run(raises_cancelled)
    assert (job.status, job.cancelled, job.error) == ("Cancelled", True, None)

    def fails(job):
        raise ValueError("no")

    job = run(fails)
    assert (job.status, job.ok, str(job.error)) == ("Failed", False, "no")

    calls = []
    job = run(lambda job: calls.append(1), cancel_first=True)  # cancelled while it waited
    assert (job.status, job.cancelled, calls) == ("Cancelled", True, [])
    job.request_cancel()
    assert job.status == "Cancelled"  # a finished job is not 'Cancelling…'

    def seen(job):
        return job.waiting, job.status

    job = jobs.Job("render", seen)
    job.waiting, job.status = True, jobs.WAITING
    job._run()
    assert job.result == (False, "Starting…")  # its turn came


def test_a_generation_job_counts_its_steps_checks_the_limits_and_gives_fast_paths_to_previews_only(monkeypatch):
    calls = []

    class Engine:
        def generate(self, params, **kwargs):
            calls.append(kwargs["fast"])
            raise RuntimeError("stop here")

    fast = object()
    p = GenerationParams(steps=12, width=64, height=64)
    render = jobs.generation_job(Engine(), p, kind="render", fast=fast)
    assert render.total == 12 and render.params is p and render.key is p
    assert render.wait(30) and str(render.error) == "stop here"
    preview = jobs.generation_job(Engine(), p, kind="preview", fast=fast)
    assert preview.wait(30) and calls == [None, fast]
    monkeypatch.setenv("CLAP2DIFF_MAX_STEPS", "10")
    over = jobs.generation_job(Engine(), p, kind="render")
    assert over.wait(30) and "12 steps is more than this studio allows (10" in str(over.error)
    assert calls == [None, fast]  # refused before the engine was asked


def test_stage_messages_reach_the_progress_text(engine, params):
    from core.events import Stage, Waiting

    job = jobs.Job("render", lambda job: None, label="2/5 Stems")
    job.on_status(Stage("sources", "Separating stems", 3, 7))
    assert job.status == "2/5 Stems · Separating stems 3/7" and job.stages == [
        Stage("sources", "Separating stems", 3, 7)
    ]
    job.on_status(Waiting())
    assert job.waiting and job.status == jobs.WAITING


def test_a_stems_generation_reports_separation_progress(engine, params):
    job = jobs.generation_job(engine, params.replace(sources="stems", window_start=1.25), kind="render")
    assert job.wait(120) and job.ok
    chunks = [e for e in job.stages if e.name == "sources" and e.total]
    assert chunks and chunks[-1].done == chunks[-1].total  # "n/n" at the end
    denoise = next(i for i, e in enumerate(job.stages) if e.name == "denoise")
    assert job.stages.index(chunks[0]) < denoise


# -- compare ---------------------------------------------------------------------------------------
def test_plan_puts_modes_side_by_side_and_each_level_alone(params):
    plan = compare.plan(params, ["bands", "mix", "stems"], alone=True, without=True, audio_label="thunder")
    assert plan.columns == 4 and len(plan.rows) == 4
    first = [c.key for c in plan.rows[0][1]]
    assert first == ["no_audio", "mix", "stems", "bands"]  # display order, whatever the choice order
    for cell in plan.generated:  # the same seed, prompt and size everywhere
        p = cell.params
        assert (p.seed, p.prompt, p.width, p.steps) == (params.seed, params.prompt, params.width, params.steps)
    assert plan.rows[0][1][0].params.audio_strength == 0
    for sources in ("stems", "bands"):  # the reference needs no separation, whatever Generate's mode
        reference = compare.plan(params.replace(sources=sources), ["mix"]).rows[0][1][0].params
        assert (reference.audio_strength, reference.sources) == (0, "mix")
    for title, cells in plan.rows[1:]:
        level = title.split()[0].lower()
        assert cells[0].params is None  # the corner under "without audio"
        for cell in cells[1:]:
            assert cell.level == level and cell.params.sources == cell.mode
            assert cell.params.switch_points == SOLO_SWITCH_POINTS[level]
    # Each level alone switches hard: Generate's smooth fade would let the neighbours in at the ends.
    alone = [c for c in compare.plan(params.replace(switch_style="smooth"), ["mix"]).generated if c.level]
    assert len(alone) == 3 and all(c.params.switch_style == "hard" for c in alone)
    assert "thunder" in plan.title and f"seed {params.seed}" in plan.title
    small = compare.plan(params, ["stems"], alone=False, without=False)
    assert [c.key for c in small.cells] == ["stems"] and small.columns == 1


def test_a_stopped_comparison_exports_what_was_made_and_says_what_was_not(engine, params):
    """Cancelled after the no-audio tile: the grid keeps the mixed tile's place, captioned as not
    generated and without params; the ZIP has the one image, as 01."""
    import zipfile

    from core.export import png_bytes, read_grid

    the_plan = compare.plan(params.replace(steps=2), ["mix"], alone=False, without=True)
    reference, mixed = the_plan.cells
    result = engine.generate(reference.params)
    run = compare.CompareRun(the_plan, [(reference, result, png_bytes(result.image, result.params))], {})
    run.cancelled = True
    grid, archive = compare.compare_files(run)
    tiles = read_grid(grid)
    assert [t.caption for t in tiles] == [
        compare.grid_text(reference.caption),
        f"{compare.grid_text(mixed.caption)}: not generated",
    ]
    assert tiles[0].params is not None and tiles[1].params is None
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert [n for n in zf.namelist() if n.endswith(".png")] == ["01_no_audio.png", compare.GRID_IN_ZIP]


def test_plan_skips_levels_without_an_audible_source(params):
    available = {
        "bands": compare.Availability(frozenset({"ambience", "background"}), frozenset({"foreground"})),
        "stems": compare.Availability(frozenset({"foreground", "background"})),
    }
    stems_map = params.replace(
        stem_map=(("drums", "background"), ("bass", "background"), ("other", "background"), ("vocals", "foreground"))
    )
    plan = compare.plan(stems_map, ["bands", "stems"], available=available)
    cells = {c.key: c for c in plan.cells}
    assert cells["bands_foreground"].params is None and "near-silent" in cells["bands_foreground"].caption
    assert cells["stems_ambience"].params is None and "no stem mapped" in cells["stems_ambience"].caption
    assert cells["bands_ambience"].params is not None and cells["stems_foreground"].params is not None


def test_each_level_alone_conditions_every_step(engine, params):
    plan = compare.plan(params, ["mix"], alone=True, without=True)
    for cell in plan.generated:
        trace = engine.generate(cell.params).trace
        if cell.level:
            assert set(trace.dominant_levels()) == {cell.level}, cell.caption
        elif cell.key == compare.NO_AUDIO:
            assert not np.asarray(trace.ratios).any()


def test_level_captions_name_bands_and_stems(params):
    assert "Hz" in level_origin(params.replace(sources="bands"), "ambience")
    assert level_origin(params.replace(sources="stems"), "foreground") == "vocals"
    assert level_origin(params, "background") == "tokens 36–56"
    assert compare.mode_caption(params.replace(sources="stems")) == "Demucs stems · vocals→fg, drums+other→bg, bass→amb"


def test_mode_view_puts_every_part_on_one_db_scale(engine, params):
    import soundfile as sf

    from core.parts import mode_view

    for mode, names in (
        ("mix", ["mix"]),
        ("bands", ["low", "mid", "high"]),
        ("stems", ["drums", "bass", "other", "vocals"]),
    ):
        view = mode_view(engine, params.replace(sources=mode))
        assert [p.name for p in view.parts] == names
        refs = {p.mel.ref_power for p in view.parts}
        assert len(refs) == 1, refs  # one reference: the window's mix
        for part in view.parts:
            wave, rate = sf.read(io.BytesIO(part.player))
            assert rate == view.sources.sample_rate and wave.ndim == 1
            assert part.heard  # zero-shot: what CLAP heard in this part
        assert view.end > view.start


def test_mode_view_says_what_each_part_feeds_its_loudness_and_its_band(engine, params):
    """Mix mode feeds no level by name and leaves none unfed (the page would warn of all three);
    bands name their frequency range; a stem map that routes nothing to two levels says so."""
    from core.parts import mode_view

    mix = mode_view(engine, params)
    assert [(p.level, p.db, p.origin) for p in mix.parts] == [(None, 0.0, "")]
    assert mix.unfed == [] and mix.heard_levels == {}
    bands = mode_view(engine, params.replace(sources="bands", crossovers=(300.0, 3000.0)))
    assert [(p.name, p.level, p.origin) for p in bands.parts] == [
        ("low", "ambience", "< 300 Hz"),
        ("mid", "background", "300–3000 Hz"),
        ("high", "foreground", "> 3000 Hz"),
    ]
    assert [p.db for p in bands.parts] == [bands.sources.part_db[n] for n in ("low", "mid", "high")]
    assert bands.unfed == [] and set(bands.heard_levels) == set(bands.sources.levels)
    from core.clip_cache import load_clip_cached
    from core.sources import window_mix
    from core.spectrum import mel_spectrogram

    mix_wave = window_mix(load_clip_cached(params.audio_path), bands.sources)
    reference = mel_spectrogram(mix_wave, bands.sources.sample_rate, max_frames=300).ref_power
    assert all(p.mel.ref_power == reference for p in bands.parts)  # 0 dB: the mix's loudest bin, not a band's
    one_level = tuple((stem, "background") for stem in ("drums", "bass", "other", "vocals"))
    stems = mode_view(engine, params.replace(sources="stems", stem_map=one_level))
    assert stems.unfed == ["foreground", "ambience"] and all(p.origin == "" for p in stems.parts)


def test_compare_job_keeps_what_was_done_when_cancelled(engine, params):
    job = jobs.compare_job(engine, params.replace(steps=50), ["mix", "bands"], alone=True, without=False)
    _wait_until(lambda: job.completed >= 50, job)  # the first image is done
    job.request_cancel()
    assert job.wait(120)
    assert job.cancelled and job.error is None
    run = job.result
    assert 1 <= len(run.done) < len(run.plan.generated)
    assert run.done[0][0].key == "mix"


# -- charts ----------------------------------------------------------------------------------------
def test_charts_draw_a_trace_with_exact_hover_values(engine, params):
    trace = engine.generate(params).trace
    gates = charts.gate_figure(trace)
    assert sum(len(bar.y) for bar in gates.data) == len(trace.layer_names)
    heat = charts.ratio_figure(trace)
    assert np.asarray(heat.data[0].z).shape == (6, len(trace.layer_names))
    assert "%{z:.4f}" in heat.data[0].hovertemplate
    timeline = charts.level_timeline_figure(trace)
    assert {bar.name for bar in timeline.data} == {"ambience", "background", "foreground"}
    norms = charts.norms_figure(trace)
    assert len(norms.data) == 4 and any(s.type == "line" for s in norms.layout.shapes)  # text-norm line
    assert norms.data[3].name == f"text tokens {trace.text_norm:.2f}"  # named in the legend, not on the bars
    heard = charts.heard_figure(trace.heard["mix"])
    assert heard.data[0].orientation == "h" and heard.layout.yaxis.showticklabels is False
    labels = trace.heard["mix"][::-1]  # strongest on top: the last bar
    assert [a.text for a in heard.layout.annotations] == [h.label for h in labels]  # each name above its bar
    assert list(heard.data[0].text) == [f"{h.weight:.0%}" for h in labels]  # the share inside it
    # No audio: the figures say so instead of failing.
    silent = engine.generate(params.replace(audio_path=None)).trace
    for build in (charts.ratio_figure, charts.norms_figure):
        assert build(silent).layout.annotations


def test_spectrum_helpers_for_the_spectrogram_page():
    from core.spectrum import mel_spectrogram, waveform_envelope

    sr = 16000
    t = np.arange(sr * 2) / sr
    wave = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    db, freqs, times = mel_spectrogram(wave, sr, n_mels=64)
    assert db.shape == (64, times.size) and freqs.size == 64 and freqs[0] >= 20
    assert db.max() == pytest.approx(0.0, abs=1e-3) and db.min() >= -80.0
    peak_band = freqs[int(np.argmax(db.mean(axis=1)))]
    assert 700 < peak_band < 1400  # the 1 kHz tone lands in its band
    long = np.zeros(sr * 600, dtype=np.float32)
    long[::1000] = 1.0
    _, _, times = mel_spectrogram(long, sr)
    assert times.size <= 2001  # long clips are drawn with a larger hop
    tt, low, high = waveform_envelope(wave, sr, points=100)
    assert tt.size == low.size == high.size == 100 and (low <= high).all()


# -- uploads ---------------------------------------------------------------------------------------
def test_uploads_older_than_a_day_are_pruned_and_nothing_else(tmp_path, monkeypatch):
    from studio import uploads

    monkeypatch.setenv(uploads.UPLOADS_ENV, str(tmp_path))
    old = uploads.save_upload("old.wav", b"old clip")
    fresh = uploads.save_upload("fresh.wav", b"fresh clip")
    stale_tmp = old.parent / ".old.wav.tmp"
    stale_tmp.write_bytes(b"half")
    foreign = tmp_path / "notes.txt"  # not in a <digest>/ folder: never touched
    foreign.write_text("mine")
    other = tmp_path / "my-folder" / "keep.wav"
    other.parent.mkdir()
    other.write_bytes(b"x")
    day_ago = time.time() - 2 * 24 * 3600
    for p in (old, stale_tmp, foreign, other):
        os.utime(p, (day_ago, day_ago))

    removed = uploads.prune_uploads()
    assert set(removed) == {old, stale_tmp}
    assert not old.parent.exists()  # its folder was left empty
    assert fresh.exists() and foreign.exists() and other.exists()
    assert uploads.prune_uploads() == []  # nothing more to do

    # Saving the same content again refreshes it, so a clip still in use survives the next start.
    again = uploads.save_upload("fresh.wav", b"fresh clip")
    os.utime(again, (day_ago, day_ago))
    uploads.save_upload("fresh.wav", b"fresh clip")
    assert uploads.prune_uploads() == [] and again.exists()


def test_pruning_a_missing_uploads_folder_is_a_no_op(tmp_path):
    from studio import uploads

    assert uploads.prune_uploads(folder=tmp_path / "never-made") == []


def test_pruning_keeps_an_upload_exactly_as_old_as_the_limit(tmp_path):
    from studio import uploads

    kept = tmp_path / "0123456789abcdef" / "edge.wav"
    kept.parent.mkdir()
    kept.write_bytes(b"x")
    os.utime(kept, (1_700_000_000.0, 1_700_000_000.0))
    assert uploads.prune_uploads(max_age_s=10.0, now=1_700_000_010.0, folder=tmp_path) == []
    assert uploads.prune_uploads(max_age_s=10.0, now=1_700_000_010.5, folder=tmp_path) == [kept]


def test_only_a_file_save_upload_made_is_deleted_and_not_one_saved_again_since(tmp_path, monkeypatch):
    """delete_upload (the janitor's) never follows a link out of the uploads area, never deletes in a
    folder save_upload did not make, and keeps a file saved at or after the session left."""
    from studio import uploads

    monkeypatch.setenv(uploads.UPLOADS_ENV, str(tmp_path / "up"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mine.wav").write_bytes(b"x")
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "fedcba9876543210").symlink_to(outside)  # a digest-shaped link to another folder
    assert not uploads.delete_upload(tmp_path / "up" / "fedcba9876543210" / "mine.wav")
    own = tmp_path / "up" / "my-folder" / "keep.wav"  # the operator's folder beside the uploads
    own.parent.mkdir()
    own.write_bytes(b"x")
    assert not uploads.delete_upload(own)
    link = tmp_path / "up" / "0123456789abcdef" / "link.wav"  # a link in a digest folder: save_upload makes none
    link.parent.mkdir()
    link.symlink_to(outside / "mine.wav")
    assert not uploads.delete_upload(link) and link.is_symlink()
    assert (outside / "mine.wav").exists() and own.exists()
    saved = uploads.save_upload("take.wav", b"take")
    os.utime(saved, (1_700_000_000.0, 1_700_000_000.0))
    assert not uploads.delete_upload(saved, unless_saved_since=1_700_000_000.0) and saved.exists()
    assert uploads.delete_upload(saved, unless_saved_since=1_700_000_000.5) and not saved.parent.exists()


def test_a_full_quota_is_said_as_a_full_disk():
    import errno

    from studio.uploads import save_problem

    said = save_problem("take.wav", OSError(errno.EDQUOT, "Disk quota exceeded"), then="record it again")
    assert said == (
        "take.wav could not be saved: the server's disk is full. Free some space there (or ask the studio's "
        "operator to), then record it again; your settings and results are kept."
    )


def test_compare_leaves_out_a_mode_whose_separation_fails(engine, params):
    from core.separation import SeparationError

    class NoDemucs:
        """The engine, as on a machine without Demucs weights (offline)."""

        def __getattr__(self, name):
            return getattr(engine, name)

        def listen(self, p, **kwargs):
            if p.sources == "stems":
                raise SeparationError("htdemucs is not in the local caches and downloads are off.")
            return engine.listen(p, **kwargs)

    job = jobs.compare_job(NoDemucs(), params, ["mix", "stems"], alone=False, without=False)
    assert job.wait(120) and job.ok
    assert [c.key for c in job.result.plan.cells] == ["mix"] and list(job.result.views) == ["mix"]
    assert "Demucs stems left out" in job.result.notes[0]
    only = jobs.compare_job(NoDemucs(), params, ["stems"], alone=False, without=False)
    assert only.wait(120) and isinstance(only.error, SeparationError)


# -- the session's job slots -----------------------------------------------------------------------
def test_a_job_slot_follows_the_usual_lifecycle():
    import threading

    from core.params import ParamsError
    from studio.session import JobSlot

    slot: JobSlot[int] = JobSlot()
    gate = threading.Event()
    stale = slot.start(jobs.Job("edit", lambda job: gate.wait(30) and 1))
    stale.key = "old"
    fresh = jobs.Job("edit", lambda job: 42)
    fresh.key = "new"
    slot.start(fresh.start())  # a new job supersedes the running one: it is cancelled
    assert stale.cancel.is_set()
    gate.set()
    assert fresh.wait(30) and slot.running  # ended, not collected: the page must still follow and collect it
    assert slot.collect() is fresh and not slot.running
    assert (slot.result, slot.key, slot.error, slot.note) == (42, "new", None, None)
    assert slot.collect() is None  # collected once

    def boom(job):
        raise ParamsError("steps", "must be between 1 and 500 (got 0)")

    slot.start(jobs.Job("edit", boom).start())
    assert slot.job.wait(30) and slot.collect() is not None
    assert slot.result == 42 and "**Steps**" in slot.error  # the last good result stays
    cancelled = slot.start(jobs.Job("edit", lambda job: None))
    cancelled.request_cancel()
    cancelled.start()
    assert cancelled.wait(30) and slot.collect() is cancelled
    assert slot.note and slot.error is None
    slot.fail("Choose a clip first.")
    assert slot.error == "Choose a clip first." and not slot.running


def test_a_settings_error_follows_the_settings_and_a_runs_error_stays():
    from studio.session import JobSlot

    slot: JobSlot[int] = JobSlot(error="**Generation failed**: boom")  # a run's failure, not the settings'
    slot.refresh_input_problem(None)
    assert slot.error == "**Generation failed**: boom"
    slot.fail("Choose a clip first.")
    slot.refresh_input_problem("Upload a clip first.")  # wrong another way: the new message
    assert (slot.error, slot.input_problem) == ("Upload a clip first.", True)
    slot.refresh_input_problem(None)  # fixed: gone
    assert (slot.error, slot.input_problem) == (None, False)


def test_the_sidebar_shows_sd15_by_its_hub_id_as_the_sd15_choice():
    from core.models import SD15_HUB_ID

    assert bindings._models_choice(SD15_HUB_ID) == bindings._models_choice("sd15") == ("sd15", "")
    assert bindings._models_choice("tiny") == ("tiny", "") and bindings._models_choice("a/b") == ("custom", "a/b")


def test_restored_images_go_first_and_numbers_go_on_after_the_highest():
    """A gallery read back from disk: its images come before this session's, and the next number is
    past every one of them (never one the Gallery already shows)."""
    from types import SimpleNamespace

    from studio.session import Session

    s = Session(params=GenerationParams())
    s.history.append(SimpleNamespace(id=1))
    s.restore_history([SimpleNamespace(id=3), SimpleNamespace(id=5)])
    assert [h.id for h in s.history] == [3, 5, 1] and s.new_id() == 6 and s.new_id() == 7


def test_a_preview_keeps_the_renders_aspect_even_at_64_px(monkeypatch):
    from core.params import GenerationParams
    from studio import bindings

    state = {"ui_preview_steps": 4, "ui_preview_side": 64}
    monkeypatch.setattr(bindings, "value", lambda key, default=None: state.get(key, default))
    tall = bindings.preview_params(GenerationParams(width=512, height=768, steps=25))
    assert (tall.width, tall.height, tall.steps) == (64, 96, 4)
    state["ui_preview_side"] = 256
    assert (bindings.preview_params(GenerationParams(width=512, height=768)).width, 256) == (168, 256)
    small = bindings.preview_params(GenerationParams(width=128, height=128))
    assert (small.width, small.height) == (128, 128)  # never larger than the render


def test_a_preview_never_takes_more_steps_than_its_render_and_its_boxes_stay_in_range(monkeypatch):
    """The preview-steps box caps a preview; a render of fewer steps previews with its own. A number
    typed outside a box's range is used as the nearest allowed one (the box says so)."""
    from core.params import GenerationParams
    from studio import bindings

    state = {"ui_preview_steps": 8, "ui_preview_side": 64}
    monkeypatch.setattr(bindings, "value", lambda key, default=None: state.get(key, default))
    assert bindings.preview_params(GenerationParams(width=64, height=64, steps=3)).steps == 3
    state.update(ui_preview_steps=10**6, ui_preview_side=0)
    assert (bindings.ui_number("ui_preview_steps"), bindings.ui_number("ui_preview_side")) == (50, 64)
    assert bindings.preview_params(GenerationParams(width=512, height=512, steps=80)).steps == 50
    state["ui_preview_steps"] = "4.5 typed"
    assert bindings.ui_number("ui_preview_steps") == bindings.UI_DEFAULTS["ui_preview_steps"]


def test_a_loop_that_traced_the_compiled_unet_is_timed_as_the_compile():
    from studio.widgets import loop_time

    assert loop_time({"denoise": 0.1234}) == "0.12 s"
    assert loop_time({"denoise": 70.59, "compile": 70.59}) == "70.6 s with the one-time compile"


def test_the_seed_line_names_a_trained_checkpoint_by_its_run():
    from studio.widgets import seed_line

    p = GenerationParams(seed=7, width=64, height=64, steps=6)
    assert seed_line(p, 1.23) == "seed **7** · 64×64 · 6 steps · 1.2 s"
    trained = p.replace(mode="trained", checkpoint="/srv/runs/city/final")
    assert seed_line(trained) == "seed **7** · 64×64 · 6 steps · trained `city/final`"  # no server folder


class _FakeJob:
    """What `widgets.follow` reads of a Job, on a fake clock: each `wait(poll)` is `poll` seconds and
    one step (a fast loop: its status changes at every look)."""

    def __init__(self, clock: list[float], steps: int, moving: bool = True):
        self.id, self.partial, self.waiting = 1, [], False
        self.clock, self.steps, self.moving, self.step = clock, steps, moving, 0

    @property
    def fraction(self) -> float:
        return self.step / self.steps if self.moving else 0.0

    @property
    def status(self) -> str:
        return f"step {self.step}/{self.steps}" if self.moving else "Starting…"

    def wait(self, poll: float) -> bool:
        self.clock[0] = round(self.clock[0] + poll, 6)
        self.step += 1
        return self.step >= self.steps


class _FakeBar:
    def __init__(self, clock: list[float]):
        self.clock, self.drawn, self.cleared = clock, [], False

    def empty(self):
        if self.drawn:
            self.cleared = True
        return self

    def progress(self, value: float, text: str):
        self.drawn.append((self.clock[0], value, text))
        return self


def test_following_a_job_redraws_its_bar_on_a_change_at_most_every_half_second(monkeypatch):
    """Each redraw is a message the browser renders: at one per 0.1 s poll, the reloaded page's
    toast (an element whose code the page loads lazily) mounted only when the render ended, 13-36 s
    late (tests/e2e/test_browser.py's reload test). The job's end is still seen at the next poll."""
    from types import SimpleNamespace

    from studio.widgets import results

    clock = [100.0]
    monkeypatch.setattr(results, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    job, where = _FakeJob(clock, steps=40), _FakeBar(clock)
    results.follow(job, where, poll=0.1)
    times = [t for t, _, _ in where.drawn]
    assert results.REDRAW_S == 0.5
    assert times == [100.0 + 0.5 * i for i in range(8)]  # the first at once, then every 0.5 s of the 4 s
    for t, value, text in where.drawn[1:]:  # each redraw shows the job as it is then, never an older look
        step = round((t - 100.0) / 0.1)
        assert (value, text) == (step / 40, f"step {step}/40")
    assert clock[0] == 104.0 and where.cleared  # stopped at the poll that saw the end; the bar goes

    clock[0] = 100.0  # nothing changes: nothing is sent after the first drawing
    job, where = _FakeJob(clock, steps=40, moving=False), _FakeBar(clock)
    results.follow(job, where, poll=0.1)
    assert where.drawn == [(100.0, 0.0, "Starting…")]


def test_a_waiting_job_shows_the_hourglass_from_its_first_drawing():
    from studio.widgets import results

    job = _FakeJob([0.0], steps=1)
    job.waiting, where = True, _FakeBar([0.0])
    results.follow(job, where, poll=0.0)
    assert where.drawn[0][2] == ":material/hourglass_top: step 0/1"


def test_gates_shows_a_render_first_over_a_later_preview_of_its_own_settings(engine, params, monkeypatch):
    """A Render with a new seed queues that seed's preview too, which often finishes after it: the
    Gates page opened on the preview's 3-step trace of the image just rendered. A preview of other
    settings (a moved slider) is what finished last, and comes first."""
    from studio import traces, worker
    from studio.session import Session

    monkeypatch.setattr(worker, "session_owner", lambda: "tab-traces")
    s = Session(params=params)

    def finish(slot, p: GenerationParams, kind: str) -> None:
        job = slot.start(jobs.generation_job(engine, p, kind=kind))
        assert job.wait(120) and job.ok, job.error
        s.collect_jobs()

    def first() -> str:
        choices = traces.trace_choices(s)
        return list(choices)[traces.first_choice(s, choices)]

    finish(s.render, params, "render")
    finish(s.preview, params.replace(steps=3), "preview")  # the render's settings at preview quality
    assert s.last_trace == ("render", s.history[-1].id) and first().startswith("Render #")
    finish(s.preview, params.replace(steps=3, level_weights=(0.4, 0.5, 0.3)), "preview")  # a slider moved
    assert s.last_trace == ("preview", 0) and first() == "Latest live preview"
    finish(s.render, params.replace(seed=4), "render")  # a render that finishes last is first, as before
    assert s.last_trace == ("render", s.history[-1].id) and first().startswith("Render #")
