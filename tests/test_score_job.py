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
