"""A sweep's files: one captioned grid PNG per Z value that has a tile (every tile's params in its
metadata; the rows a stopped sweep never reached left out), a ZIP of the tiles and grids, and scores.csv (one row per tile made: its axis values and
every score). A Z value a stopped sweep never reached has no grid: it would be placeholders only."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from PIL import Image

from ..compare import grid_text, grid_tile
from ..export import atomic_write, grid_png_bytes, zip_bytes
from ..export.atomic import prune_earlier
from ..score_names import SCORE_NAMES
from .plan import CSV_FILE, ZIP_FILE
from .run import SweepRun

OWN_NAMES = re.compile(r"sweep_grid_\d{2}\.png|z\d{2}_y\d{2}_x\d{2}\.png")  # grid_name, tile_name


def grid_name(z: int) -> str:
    return f"sweep_grid_{z + 1:02d}.png"


def tile_name(z: int, y: int, x: int) -> str:
    return f"z{z + 1:02d}_y{y + 1:02d}_x{x + 1:02d}.png"


def grids(run: SweepRun) -> list[bytes]:
    """One grid per Z value: X across, Y down, empty tiles where a cancel stopped the run inside a
    row, the rows it never reached left out (`SweepRun.rows_at`); b"" for a Z value without any
    tile (`made_grids` leaves it out of the files)."""
    plan = run.plan
    nz, _, nx = plan.shape()
    done = {(t.z, t.y, t.x): t for t in run.tiles}
    if not done:
        raise ValueError("nothing was generated: there is no sweep to export")
    size = grid_tile(next(iter(done.values())).result.image).size
    made, out = {z for z, _, _ in done}, []
    for z in range(nz):
        if z not in made:
            out.append(b"")
            continue
        images, captions, params = [], [], []
        for y in run.rows_at(z):
            for x in range(nx):
                tile = done.get((z, y, x))
                labels = plan.labels_at(z, y, x)
                caption = " · ".join(v for k, v in labels.items() if k != "z") or "base"
                if tile is None:
                    images.append(Image.new("RGB", size, (236, 238, 242)))
                    params.append(None)
                    captions.append(grid_text(f"{caption}: not generated"))
                else:
                    images.append(grid_tile(tile.result.image))
                    params.append(tile.result.params)
                    captions.append(grid_text(caption))
        title = "Sweep · " + " · ".join(
            f"{n.upper()}: {a.named}" + (f" = {a.shown(z)}" if n == "z" else "")
            for n in ("x", "y", "z")
            if (a := plan.axis(n))
        )
        out.append(grid_png_bytes(images, captions, params, title=grid_text(title), columns=nx))
    return out


def made_grids(grid_pngs: list[bytes]) -> list[tuple[str, bytes]]:
    """(file name, PNG) of each grid with a tile in it: what the ZIP and the folder hold."""
    return [(grid_name(z), g) for z, g in enumerate(grid_pngs) if g]


def scores_csv(run: SweepRun) -> bytes:
    """scores.csv: z, y, x indices, each axis's value, the seed, every score (empty: n/a), and the
    CLIP that scored the tile (scores of two CLIPs do not compare)."""
    buf = io.StringIO()
    names = [a.name for a in run.plan.axes]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", *[f"{n}_{a.field}" for n, a in zip(names, run.plan.axes, strict=True)], "seed",
                     *SCORE_NAMES, "clip_top_event", "scored_by"])  # fmt: skip
    for t in run.tiles:
        values = [run.plan.axis(n).shown({"x": t.x, "y": t.y, "z": t.z}[n]) for n in names]
        scores = t.scores.as_row() if t.scores is not None else {}
        row = [tile_name(t.z, t.y, t.x), *values, t.result.params.seed]
        row += ["" if scores.get(s) is None else f"{scores[s]:.6f}" for s in SCORE_NAMES]
        row += [scores.get("clip_top_event") or "", run.scored_by if t.scores is not None else ""]
        writer.writerow(row)
    return buf.getvalue().encode("utf-8")


def sweep_files(run: SweepRun) -> tuple[list[bytes], bytes, bytes]:
    """(grid PNGs, one per Z value, b"" where none was made; ZIP; CSV) in memory: the studio's downloads
    and `save_sweep` alike."""
    grid_pngs = grids(run)
    csv_bytes = scores_csv(run)
    items = [(tile_name(t.z, t.y, t.x), t.png) for t in run.tiles]
    items += made_grids(grid_pngs)
    items.append((CSV_FILE, csv_bytes))
    return grid_pngs, zip_bytes(items), csv_bytes


def save_sweep(run: SweepRun, folder: str | Path) -> list[Path]:
    """Every file of the sweep into `folder` (atomically): the grids, the tiles, the ZIP, the CSV."""
    folder = Path(folder)
    grid_pngs, archive, csv_bytes = sweep_files(run)
    written = [atomic_write(folder / name, g) for name, g in made_grids(grid_pngs)]
    written += [atomic_write(folder / tile_name(t.z, t.y, t.x), t.png) for t in run.tiles]
    written.append(atomic_write(folder / ZIP_FILE, archive))
    written.append(atomic_write(folder / CSV_FILE, csv_bytes))
    prune_earlier(folder, OWN_NAMES, {p.name for p in written})  # an earlier, larger sweep's tiles and grids
    return written


__all__ = ["CSV_FILE", "ZIP_FILE", "grid_name", "grids", "save_sweep", "scores_csv", "sweep_files", "tile_name"]
