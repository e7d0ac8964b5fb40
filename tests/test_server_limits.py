"""The operator's limits on a shared studio (studio/limits.py): declared once, read from the
environment, enforced on renders, recalls and uploads; the CLI keeps the full ranges."""

from __future__ import annotations

import pytest

from core.params import GenerationParams
from studio.limits import ENV, LimitError, ServerLimits, limits

HUGE = GenerationParams(prompt="a city", width=2048, height=1536, steps=500, seed=1)


def test_defaults_and_environment_overrides():
    assert limits() == ServerLimits() == ServerLimits.from_env({})
    got = ServerLimits.from_env({ENV["max_side"]: "768", ENV["max_steps"]: " 40 ", ENV["max_upload_mb"]: "5"})
    assert (got.max_side, got.max_steps, got.max_upload_mb) == (768, 40, 5)
    assert ServerLimits.from_env({ENV["max_steps"]: "   ", ENV["max_side"]: ""}) == ServerLimits()  # blank: the default
    for bad in ("0", "-3", "lots"):
        with pytest.raises(LimitError, match=f"CLAP2DIFF_MAX_STEPS='{bad}': give a whole number of at least 1"):
            ServerLimits.from_env({ENV["max_steps"]: bad})


def test_a_huge_render_is_refused_under_the_default_limits():
    with pytest.raises(LimitError) as err:
        ServerLimits().check(HUGE)
    text = str(err.value)
    assert "2048x1536 px is larger than this studio allows (1024 px a side, `CLAP2DIFF_MAX_SIDE`)" in text
    assert "500 steps is more than this studio allows (150, `CLAP2DIFF_MAX_STEPS`)" in text
    tall = HUGE.replace(width=512, height=2048, steps=25)  # each side counts, the height too
    assert ServerLimits().problems(tall) == [
        "512x2048 px is larger than this studio allows (1024 px a side, `CLAP2DIFF_MAX_SIDE`)"
    ]
    ok = HUGE.replace(width=1024, height=512, steps=150)
    assert ServerLimits().check(ok) is ok


def test_a_recalled_png_beyond_the_limits_is_clamped_keeping_its_aspect():
    clamped, notes = ServerLimits().clamp(HUGE)
    assert (clamped.width, clamped.height, clamped.steps) == (1024, 768, 150)
    assert clamped.seed == HUGE.seed and clamped.prompt == HUGE.prompt
    assert notes[-1] == "lowered to 1024x768 px, 150 steps" and len(notes) == 3
    assert ServerLimits().clamp(clamped) == (clamped, [])
    small, _ = ServerLimits(max_side=100).clamp(HUGE.replace(width=2048, height=64))
    assert (small.width, small.height) == (64, 64)  # never below the smallest size a render has


def test_a_clamp_changes_only_the_limit_that_was_passed():
    """A PNG beyond the steps only keeps its size (never scaled up to the side limit); one beyond the
    side only keeps its steps (never raised to the steps limit)."""
    many_steps, notes = ServerLimits().clamp(HUGE.replace(width=512, height=384))
    assert (many_steps.width, many_steps.height, many_steps.steps) == (512, 384, 150)
    assert notes[-1] == "lowered to 512x384 px, 150 steps"
    too_wide, _ = ServerLimits().clamp(HUGE.replace(steps=25))
    assert (too_wide.width, too_wide.height, too_wide.steps) == (1024, 768, 25)
    cli_made, notes = ServerLimits().clamp(HUGE.replace(width=520, height=200))  # the CLI's multiples of 8
    assert (cli_made.width, cli_made.height, cli_made.steps) == (520, 200, 150)  # not 512x192: only steps passed
    assert notes[-1] == "lowered to 520x200 px, 150 steps"
    odd, _ = ServerLimits().clamp(HUGE.replace(width=2048, height=1535))  # 767.5 px: down to the step of 64
    assert (odd.width, odd.height) == (1024, 704)


def test_uploads_beyond_the_size_limit_are_refused():
    ServerLimits(max_upload_mb=1).check_upload("ok.wav", 2**20)
    with pytest.raises(LimitError, match=r"big.wav is 3 MB, more than this studio accepts \(1 MB"):
        ServerLimits(max_upload_mb=1).check_upload("big.wav", 3 * 2**20)
    with pytest.raises(LimitError, match=r"^near.wav is over 200 MB, more than this studio accepts \(200 MB, "):
        ServerLimits().check_upload("near.wav", 200 * 2**20 + 300 * 2**10)  # rounds to 200: said as over it
    ServerLimits().check_upload("at.wav", 200 * 2**20)  # the limit itself is accepted


def test_the_studio_refuses_a_render_beyond_the_limits_before_any_step(monkeypatch):
    from core.engine import Engine
    from core.samples import sample_paths
    from studio import jobs, worker

    monkeypatch.setenv(ENV["max_steps"], "4")
    engine = worker.call(Engine, "tiny")
    params = GenerationParams(
        prompt="a city", audio_path=str(sample_paths()["thunder"]), steps=5, width=64, height=64, models="tiny", seed=3
    )
    job = jobs.generation_job(engine, params, kind="render")
    assert job.wait(60)
    assert isinstance(job.error, LimitError) and job.step == 0
    assert "5 steps is more than this studio allows (4, `CLAP2DIFF_MAX_STEPS`)" in str(job.error)
    ok = jobs.generation_job(engine, params.replace(steps=4), kind="render")
    assert ok.wait(60) and ok.ok and ok.result[0].params.steps == 4


def test_the_gallery_recalls_a_huge_png_clamped_and_says_so(monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_MODELS", "tiny")
    from PIL import Image

    from core.export import png_bytes
    from tests.studio_helpers import app, ok, session

    at = app()
    at.switch_page("../pages/gallery.py").run()
    data = png_bytes(Image.new("RGB", (64, 64)), HUGE.replace(models="tiny", width=2048, height=2048))
    at.file_uploader(key="gallery_png").set_value(("huge.png", data, "image/png")).run()
    ok(at)
    at.button(key="recall_upload").click().run()
    ok(at)
    values = {key: at.session_state[key] for key in ("w_width", "w_height", "w_steps", "w_seed", "w_prompt")}
    assert values == {"w_width": 1024, "w_height": 1024, "w_steps": 150, "w_seed": 1, "w_prompt": "a city"}
    notes = session(at).recall_notes  # what the Generate page shows in its warning
    assert notes[-1] == "lowered to 1024x1024 px, 150 steps" and "CLAP2DIFF_MAX_SIDE" in notes[0]
    shown = [w.value for w in at.warning]  # and the page shows it (after the new preview's rerun too)
    assert any("except what this studio does not allow" in w and "lowered to 1024x1024 px" in w for w in shown), shown
    assert not at.success, "no 'the sliders hold this image's values' beside a warning that they do not"


def test_a_limit_refusal_reads_as_its_own_message_not_an_unexpected_error():
    from studio.errors import describe
    from studio.limits import LimitError

    text = describe(LimitError("width 2048 is over CLAP2DIFF_MAX_SIDE=1024: lower it"))
    assert text == "**Cannot do this**: width 2048 is over CLAP2DIFF\\_MAX\\_SIDE=1024: lower it"
