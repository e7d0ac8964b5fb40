"""core/pipeline_setup.py: the scheduler a knob names is built once and only when it differs, with its
overrides; the pipeline's execution device is pinned."""

from __future__ import annotations

from types import SimpleNamespace

from core.pipeline_setup import use_scheduler


def test_a_scheduler_is_built_only_when_the_knob_names_another_or_its_settings_differ():
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    pipe = SimpleNamespace(scheduler=DDIMScheduler())
    base = dict(pipe.scheduler.config)
    kept = pipe.scheduler
    use_scheduler(pipe, "ddim", base)
    assert pipe.scheduler is kept  # a slider change makes no new scheduler
    use_scheduler(pipe, "dpmpp", base)
    assert isinstance(pipe.scheduler, DPMSolverMultistepScheduler)
    assert (pipe.scheduler.config.algorithm_type, pipe.scheduler.config.solver_order) == ("dpmsolver++", 2)
    kept = pipe.scheduler
    use_scheduler(pipe, "dpmpp", base)
    assert pipe.scheduler is kept
    # The same class with other settings (a model whose own scheduler is a 3rd-order DPM-Solver++) is replaced.
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(base, algorithm_type="dpmsolver++", solver_order=3)
    use_scheduler(pipe, "dpmpp", base)
    assert (pipe.scheduler.config.algorithm_type, pipe.scheduler.config.solver_order) == ("dpmsolver++", 2)
    use_scheduler(pipe, "euler", base)
    assert isinstance(pipe.scheduler, EulerDiscreteScheduler)


def test_the_execution_device_is_pinned_once():
    from core.pipeline_setup import pin_execution_device

    class Pipe:
        looked = 0

        @property
        def _execution_device(self):
            Pipe.looked += 1
            return "cpu"

    pipe = pin_execution_device(Pipe())
    pinned = type(pipe)
    assert pinned.__name__ == "Pipe" and isinstance(pipe, Pipe) and pinned is not Pipe
    assert [pipe._execution_device for _ in range(3)] == ["cpu"] * 3 and Pipe.looked == 1
    assert pin_execution_device(pipe) is pipe and type(pipe) is pinned  # not subclassed again
