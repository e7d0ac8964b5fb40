"""Export that reproduces an image exactly: PNGs with embedded parameters, grids, ZIPs, WAVs.

One module per job, all re-exported here (``from core.export import png_bytes, read_params``):

- ``formats``   chunk keys, format names and versions, ``ExportError``
- ``metadata``  the ``clap2diff`` JSON chunk of a PNG: write (``png_bytes``, ``save_png``,
                ``save_result``) and read back (``read_metadata``, ``read_params``, ``read_grid``)
- ``infotext``  the readable A1111-style ``parameters`` chunk
- ``grid``      comparison grids: layout, Unicode captions, every tile's params in the PNG
- ``archive``   safe file names, ZIPs with a ``params.json`` manifest
- ``wav``       WAV files for stems and bands
- ``atomic``    ``atomic_write``: the one way any file of the project is written

No torch, no streamlit: the CLI, the studio and the tests import this alike.
"""

from __future__ import annotations

from .archive import default_filename, sanitize_filename, write_zip, zip_bytes
from .atomic import atomic_write, check_folder, check_target
from .formats import (
    FORMAT_VERSION,
    GRID_FORMAT,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    METADATA_KEY,
    PARAMETERS_KEY,
    PARAMS_FORMAT,
    ExportError,
)
from .grid import GridLayout, grid_layout, grid_metadata, grid_png_bytes, make_grid, save_grid_png
from .infotext import escape_line, parameters_text, unescape_line
from .metadata import (
    GridItem,
    extra_from_result,
    params_metadata,
    png_bytes,
    read_grid,
    read_metadata,
    read_params,
    save_png,
    save_result,
)
from .wav import wav_bytes, write_wav

__all__ = [
    "ExportError",
    "FORMAT_VERSION",
    "GRID_FORMAT",
    "GridItem",
    "GridLayout",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "METADATA_KEY",
    "PARAMETERS_KEY",
    "PARAMS_FORMAT",
    "atomic_write",
    "check_folder",
    "check_target",
    "default_filename",
    "escape_line",
    "extra_from_result",
    "grid_layout",
    "grid_metadata",
    "grid_png_bytes",
    "make_grid",
    "parameters_text",
    "unescape_line",
    "params_metadata",
    "png_bytes",
    "read_grid",
    "read_metadata",
    "read_params",
    "sanitize_filename",
    "save_grid_png",
    "save_png",
    "save_result",
    "wav_bytes",
    "write_wav",
    "write_zip",
    "zip_bytes",
]
