"""CLIP scores in the studio: the scorer, and the jobs that score a render or a comparison.

Why the scorer loads inside a job: a button callback that loaded it (`worker.call(Scorer, ...)`)
held the session's script until the engine thread was free, behind another session's render or a
sweep's next tile, and then through CLIP's first load, with no progress shown. Now the job that
first needs it loads it on the engine thread, saying so as a stage of its progress bar; it is kept
once per server under a lock, so two sessions scoring at once never load it twice.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from core.events import Stage
from studio.jobs import Job

if TYPE_CHECKING:
    from core import Scorer
    from core.engine import Engine
    from core.params import GenerationParams
    from core.scoring import Scores

LOADING = Stage("scorer", "Loading CLIP for the scores")

_scorers: dict[str, Scorer] = {}
_lock = threading.Lock()


def scorer_spec(engine: Engine) -> str:
    """Which CLIP scores images of these models: the tiny one with the tiny models, the real one otherwise."""
    return "tiny" if engine.spec.tiny else ""


def load_scorer(engine: Engine, job: Job | None = None) -> Scorer:
    """The CLIP scorer for `engine`'s models, loaded on first use (said as a stage of `job`) and kept
    once per server. Raises ModelUnavailable (its message says what to do) when it cannot load."""
    from core import Scorer

    spec = scorer_spec(engine)
    with _lock:
        if spec not in _scorers:
            if job is not None:
                job.on_status(LOADING)
            _scorers[spec] = Scorer(spec, engine.device)
        return _scorers[spec]


def score_job(engine: Engine, scorer: Scorer | None, params: GenerationParams, image: Any, heard: Any, key: Any) -> Job:
    """A job whose result is the CLIP `Scores` of one finished image (its strength-0 twin generated for the audio effect);
    `scorer` None: the task loads it (`load_scorer`)."""
    from core.sweep import heard_overall, needs_twin, no_audio_twin

    def task(job: Job) -> Scores:  # the twin is a generation like any: Cancel, progress and "waiting" reach it
        clip = scorer or load_scorer(engine, job)
        twin = no_audio_twin(engine, params, image, job.on_progress, job.cancel, job.on_status)
        return clip.score(image, params.prompt, heard_overall(heard), engine.vocabulary, twin)

    job = Job("scores", task, total=params.steps if needs_twin(params) else 1)  # no twin: no steps to show
    job.key = key
    return job.start()


def compare_scores_job(engine: Engine, scorer: Scorer | None, items: dict[str, Any], key: Any) -> Job:
    """CLIP scores of every image of a comparison: its "without audio" tile is the strength-0 twin
    of the others (same seed and prompt), so the audio effect needs no extra generation."""
    from core.sweep import heard_overall

    twin = items["no_audio"].image if "no_audio" in items else None

    def task(job: Job) -> list[tuple[str, Scores]]:
        clip = scorer or load_scorer(engine, job)
        rows = []
        for key_, item in items.items():
            p = item.params
            scores = clip.score(
                item.image, p.prompt, heard_overall(item.trace.heard), engine.vocabulary, None if p.audio_path is None
                else (item.image if key_ == "no_audio" else twin),
            )  # fmt: skip
            rows.append((item.caption or key_, scores))
            job.completed += 1
        return rows

    job = Job("scores", task, total=max(1, len(items)))
    job.key = key
    return job.start()


__all__ = ["LOADING", "compare_scores_job", "load_scorer", "score_job", "scorer_spec"]
