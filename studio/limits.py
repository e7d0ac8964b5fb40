"""What one render may cost on a shared studio: the operator's limits, declared once.

The CLI keeps GenerationParams' full ranges (the user runs it on their own machine); a studio
shared by many people caps the side, the steps and the upload size so that one job cannot hold the
single render queue for hours or fill the server's memory, and the number of jobs one session may
have waiting, so that one tab cannot fill the queue ahead of everyone else. Each limit is an environment variable
read when the studio starts; the defaults fit one GPU. A render beyond them is refused with a
message that names the limit; a recalled PNG beyond them is clamped, and the studio says so.

Which models a studio user may load is the operator's too: the ones CLAP2DIFF_MODELS names (and
the built-in tiny demo and SD 1.5), unless CLAP2DIFF_ANY_MODELS=1 opens it to any folder or Hub id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.models import SD15_HUB_ID
from core.params import GenerationParams
from studio.markdown import escape_md


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
                f"({self.max_side} px a side, `{ENV['max_side']}`)"
            )
        if params.steps > self.max_steps:
            out.append(f"{params.steps} steps is more than this studio allows ({self.max_steps}, `{ENV['max_steps']}`)")
        return out

    def check(self, params: GenerationParams) -> GenerationParams:
        """`params` if within the limits; else a LimitError naming every limit passed."""
        if problems := self.problems(params):
            raise LimitError("; ".join(problems) + ": lower them, or ask the operator to raise the limit.")
        return params

    def clamp(self, params: GenerationParams) -> tuple[GenerationParams, list[str]]:
        """`params` brought within the limits (a recalled PNG) and what was changed, for the user.
        Sides beyond it are scaled keeping the aspect ratio, rounded down to the sliders' step of 64 px."""
        notes = self.problems(params)
        if not notes:
            return params, []
        changes: dict[str, int] = {"steps": min(params.steps, self.max_steps)}
        if max(params.width, params.height) > self.max_side:  # a size within it is kept as it is (520x200)
            scale = self.max_side / max(params.width, params.height)
            for side in ("width", "height"):
                changes[side] = max(64, int(getattr(params, side) * scale) // 64 * 64)
        clamped = params.replace(**changes)
        return clamped, [*notes, f"lowered to {clamped.width}x{clamped.height} px, {clamped.steps} steps"]

    def starting_params(self, spec: str) -> GenerationParams:
        """Where a new session (and Reset) starts with these models: core's starting params within
        the limits. A studio capped at 20 steps started at 25, beyond its own steps slider's end."""
        from core.models import starting_params

        return self.clamp(starting_params(spec))[0]

    def check_upload(self, name: str, size: int, advice: str = "cut the part you want and upload that") -> None:
        """Refuse an upload over CLAP2DIFF_MAX_UPLOAD_MB; `advice` says how to make it fit (a clip is
        cut, a photo saved smaller)."""
        if size > self.max_upload_mb * 2**20:
            mb = size / 2**20  # 200.3 MB is not "200 MB, more than this studio accepts (200 MB)"
            said = f"{mb:.0f} MB" if round(mb) > self.max_upload_mb else f"over {self.max_upload_mb} MB"
            raise LimitError(
                f"{name} is {said}, more than this studio accepts ({self.max_upload_mb} MB, "
                f"`{ENV['max_upload_mb']}`): {advice}."
            )

    def check_queue(self, active: int) -> None:
        """Refuse one more job for a session that has `active` jobs queued or running already."""
        if active >= self.max_queue:
            raise QueueFull(
                f"You already have {active} job{'s' if active != 1 else ''} queued or running on this studio, its limit per session "
                f"({self.max_queue}, `{ENV['max_queue']}`): wait for one to finish or cancel one, then try again. "
                "Your settings are kept."
            )


class QueueFull(LimitError):
    """One session asked for more queued/running jobs than CLAP2DIFF_MAX_QUEUE allows."""


# -- which models a user of the studio may make the server load -----------------------------------
MODELS_ENV = "CLAP2DIFF_MODELS"  # the models offered, comma-separated; the first is where a session starts
ANY_MODELS_ENV = "CLAP2DIFF_ANY_MODELS"  # "1": any folder or Hub id typed, linked or recalled loads
BUILT_IN_MODELS = ("tiny", "sd15")  # always offered: the offline demo and the sidebar's SD 1.5
_SAME = {SD15_HUB_ID: "sd15"}


def configured_models(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The specs the operator names in CLAP2DIFF_MODELS (default sd15), in order."""
    env = os.environ if env is None else env
    specs = tuple(dict.fromkeys(part.strip() for part in (env.get(MODELS_ENV) or "").split(",") if part.strip()))
    return specs or ("sd15",)


def offered_models(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every spec this studio loads on request: the operator's, then the built-in ones."""
    return tuple(dict.fromkeys((*configured_models(env), *BUILT_IN_MODELS)))


def _canonical(spec: str) -> str:
    spec = spec.strip()
    if spec.startswith(("/", "~", ".")):  # a folder: the same folder however it is written
        return str(Path(spec).expanduser().resolve())
    return _SAME.get(spec, spec)


def model_allowed(spec: str, env: Mapping[str, str] | None = None) -> bool:
    """May a studio user (the sidebar's box, a `?models=` link, a recalled PNG) load `spec`?
    Only the offered ones, unless the operator opted in to any (CLAP2DIFF_ANY_MODELS=1): with a
    network, an arbitrary Hub id would make the server download whatever a stranger names."""
    env = os.environ if env is None else env
    if env.get(ANY_MODELS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    return _canonical(spec) in {_canonical(s) for s in offered_models(env)}


def not_offered(spec: str) -> str:
    """Why `spec` is not loaded here, for people (the operator's specs are text too: escaped)."""
    offered = ", ".join(map(escape_md, offered_models()))
    return (
        f"This studio does not offer the models **{escape_md(spec)}**; it offers {offered}. "
        f"Its operator can add them to `{MODELS_ENV}`, or allow any folder or Hub id with `{ANY_MODELS_ENV}=1`."
    )


def linked_models(linked: str | None, default: str) -> tuple[str, str | None]:
    """The models a session opened by a `?models=` link starts on, and a note when the link named
    models this studio does not offer (then it starts on `default`)."""
    linked = (linked or "").strip()
    if linked and not model_allowed(linked):
        return default, f"The link asked for other models. {not_offered(linked)}"
    return linked or default, None


def limits() -> ServerLimits:
    """This server's limits (read from the environment each time: cheap, and tests can set it)."""
    return ServerLimits.from_env()


__all__ = [
    "ANY_MODELS_ENV",
    "ENV",
    "MODELS_ENV",
    "LimitError",
    "QueueFull",
    "ServerLimits",
    "configured_models",
    "limits",
    "linked_models",
    "model_allowed",
    "not_offered",
    "offered_models",
]
