"""What one render may cost on a shared studio: the operator's limits, declared once.

The CLI keeps GenerationParams' full ranges (the user runs it on their own machine); a studio
shared by many people caps the side, the steps and the upload size so that one job cannot hold the
single render queue for hours or fill the server's memory, and the number of jobs one session may
have waiting, so that one tab cannot fill the queue ahead of everyone else. Each limit is an environment variable
read when the studio starts; the defaults fit one GPU. A render beyond them is refused with a
message that names the limit; a recalled PNG beyond them is clamped, and the studio says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import UserError
from core.params import GenerationParams


class LimitError(UserError, ValueError):
    """A render (or upload) beyond what this studio's operator allows."""


ENV = {
    "max_side": "CLAP2DIFF_MAX_SIDE",
    "max_steps": "CLAP2DIFF_MAX_STEPS",
    "max_upload_mb": "CLAP2DIFF_MAX_UPLOAD_MB",
    "max_queue": "CLAP2DIFF_MAX_QUEUE",
}


@dataclass(frozen=True)
class ServerLimits:
    max_side: int = 1024  # px, width and height each: SD 1.x at 1024² fits a 24 GB GPU
    max_steps: int = 150  # ~1 min at 512² on one GPU; beyond, a job holds everyone's queue
    max_upload_mb: int = 200  # about an hour of 16-bit stereo at 44.1 kHz is 600 MB: cut first
    max_queue: int = 4  # jobs one session may have queued or running: a render, its preview, a listen, one more

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerLimits:
        """The limits the operator set (ENV names); a bad value stops the studio with a clear line."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for name, var in ENV.items():
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                values[name] = 0
            if values[name] < 1:
                raise LimitError(f"{var}={raw!r}: give a whole number of at least 1 (default {getattr(cls, name)})")
        return cls(**values)

    def problems(self, params: GenerationParams) -> list[str]:
        """What in `params` is beyond these limits, one sentence each (empty: within)."""
        out = []
        if max(params.width, params.height) > self.max_side:
            out.append(
                f"{params.width}x{params.height} px is larger than this studio allows "
                f"({self.max_side} px a side, {ENV['max_side']})"
            )
        if params.steps > self.max_steps:
            out.append(f"{params.steps} steps is more than this studio allows ({self.max_steps}, {ENV['max_steps']})")
        return out

    def check(self, params: GenerationParams) -> GenerationParams:
        """`params` if within the limits; else a LimitError naming every limit passed."""
        if problems := self.problems(params):
            raise LimitError("; ".join(problems) + ": lower them, or ask the operator to raise the limit.")
        return params

    def clamp(self, params: GenerationParams) -> tuple[GenerationParams, list[str]]:
        """`params` brought within the limits (a recalled PNG) and what was changed, for the user.
        The side is scaled keeping the aspect ratio, rounded down to the sliders' step of 64 px."""
        notes = self.problems(params)
        if not notes:
            return params, []
        changes: dict[str, int] = {"steps": min(params.steps, self.max_steps)}
        scale = min(1.0, self.max_side / max(params.width, params.height))
        for side in ("width", "height"):
            changes[side] = max(64, int(getattr(params, side) * scale) // 64 * 64)
        clamped = params.replace(**changes)
        return clamped, [*notes, f"lowered to {clamped.width}x{clamped.height} px, {clamped.steps} steps"]

    def check_upload(self, name: str, size: int) -> None:
        if size > self.max_upload_mb * 2**20:
            raise LimitError(
                f"{name} is {size / 2**20:.0f} MB, more than this studio accepts ({self.max_upload_mb} MB, "
                f"{ENV['max_upload_mb']}): cut the part you want and upload that."
            )

    def check_queue(self, active: int) -> None:
        """Refuse one more job for a session that has `active` jobs queued or running already."""
        if active >= self.max_queue:
            raise QueueFull(
                f"You already have {active} jobs queued or running on this studio, its limit per session "
                f"({self.max_queue}, {ENV['max_queue']}): wait for one to finish or cancel one, then try again. "
                "Your settings are kept."
            )


class QueueFull(LimitError):
    """One session asked for more queued/running jobs than CLAP2DIFF_MAX_QUEUE allows."""


def limits() -> ServerLimits:
    """This server's limits (read from the environment each time: cheap, and tests can set it)."""
    return ServerLimits.from_env()


__all__ = ["ENV", "LimitError", "QueueFull", "ServerLimits", "limits"]
