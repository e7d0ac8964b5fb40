"""A render's Score (studio/scoring.py score_job) generates the image's strength-0 twin: that
generation reports its steps and stops on Cancel (or a departed tab's cancel) like any other."""

from __future__ import annotations

import numpy as np

from studio import scoring
from tests.waiting import wait_until


class _Scorer:
    """Stands in for CLIP: what the test checks is the generation before it."""

    def __init__(self) -> None:
        self.calls = 0

    def score(self, *args, **kwargs) -> dict:
        self.calls += 1
        return {}


def test_a_scores_twin_shows_its_steps_and_stops_on_cancel(tiny_engine, tiny_params):
    params = tiny_params.replace(steps=200)  # long enough to be caught mid-way
    scorer = _Scorer()
    image = np.zeros((64, 64, 3), np.uint8)
    job = scoring.score_job(tiny_engine, scorer, params, image, {}, key=1)
    wait_until(lambda: job.step >= 2 or job.done.is_set(), "the twin's steps")
    assert not job.done.is_set() and job.total == 200  # the progress bar moves
    job.request_cancel()
    assert job.wait(60) and job.cancelled and scorer.calls == 0
    assert job.step < 200  # stopped within a step or two, not at the end


def test_a_score_that_needs_no_twin_shows_no_steps_it_will_not_run(tiny_engine, tiny_params):
    """A text-only or strength-0 render is its own twin: its Score job's bar counted the render's
    steps and never moved."""
    scorer = _Scorer()
    image = np.zeros((64, 64, 3), np.uint8)
    for params in (tiny_params.replace(audio_path=None), tiny_params.replace(audio_strength=0.0)):
        job = scoring.score_job(tiny_engine, scorer, params, image, {}, key=1)
        assert job.total == 1
        assert job.wait(60) and job.ok and job.step == 0
    assert scorer.calls == 2
