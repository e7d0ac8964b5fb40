"""The formats CLAP2Diff writes (PNG chunk keys, JSON format names, the ZIP manifest) and the one
error for files that cannot be read back or written."""

from __future__ import annotations

from core.errors import UserError

PARAMS_FORMAT = "clap2diff/params"
GRID_FORMAT = "clap2diff/grid"
MANIFEST_FORMAT = "clap2diff/manifest"
FORMAT_VERSION = 1
METADATA_KEY = "clap2diff"  # the PNG text chunk holding our JSON
PARAMETERS_KEY = "parameters"  # the A1111-style readable text chunk
MANIFEST_NAME = "params.json"  # the manifest inside every ZIP we write
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Settings every writer of format version 1 has stored, from the first build on. A PNG without one
# was edited by hand: refused, since a silent default (seed 0) would draw another image. Settings
# added later may be absent (an older PNG) and take their defaults.
WRITTEN_SINCE_V1 = (
    "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler", "audio_path",
    "mode", "audio_strength", "norm_target", "level_weights", "switch_points", "sources",
)  # fmt: skip


class ExportError(UserError, ValueError):
    """A PNG/ZIP could not be read back or written. The message is meant for the user.

    `field` names the parameter at fault when the embedded params fail validation (else None),
    so the studio can point at it the same way it does for a ParamsError.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


__all__ = [
    "ExportError",
    "FORMAT_VERSION",
    "GRID_FORMAT",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "METADATA_KEY",
    "PARAMETERS_KEY",
    "WRITTEN_SINCE_V1",
    "PARAMS_FORMAT",
    "PNG_SIGNATURE",
]
