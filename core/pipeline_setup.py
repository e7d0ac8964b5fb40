"""How the engine sets up the diffusers pipeline it composes (never forks): which scheduler class a
`scheduler` knob names, and the one per-call cost of diffusers' it removes."""

from __future__ import annotations

from typing import Any

SCHEDULER_CLASSES = {
    "dpmpp": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
}


def pin_execution_device(pipe):
    """Fix `pipe._execution_device` at its current answer. diffusers recomputes it on every call by
    walking every module of every component for offload hooks (the largest per-tile cost of a sweep
    outside the VAE decode on the tiny models: bench/sweep.py --profile); the engine never offloads
    or moves its pipeline, so the answer cannot change. The same pipeline object, a subclass."""
    if not getattr(pipe, "_pinned_execution_device", False):
        device, cls = pipe._execution_device, type(pipe)
        pinned = {"_execution_device": property(lambda _: device), "_pinned_execution_device": True}
        pipe.__class__ = type(cls.__name__, (cls,), {**pinned, "__module__": cls.__module__})
    return pipe


def use_scheduler(pipe, name: str, base_config: dict[str, Any]) -> None:
    """Give `pipe` the scheduler `name` (core.params SCHEDULERS), built from the model's own
    scheduler config; kept when it already is that one (a slider change makes no new scheduler)."""
    import diffusers

    class_name, overrides = SCHEDULER_CLASSES[name]
    if type(pipe.scheduler).__name__ != class_name or any(
        pipe.scheduler.config.get(k) != v for k, v in overrides.items()
    ):
        pipe.scheduler = getattr(diffusers, class_name).from_config(base_config, **overrides)


__all__ = ["SCHEDULER_CLASSES", "pin_execution_device", "use_scheduler"]
