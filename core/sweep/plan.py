"""A sweep's plan: the base settings and its axes, checked and laid out before any model loads.

Apart from the run (run.py) so that the CLI can read and check a plan without importing torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..params import GenerationParams, ParamsError
from .axes import Axis, SweepError, check_axes

CSV_FILE = "scores.csv"  # a sweep's folder: named here, so the CLI checks the folder before torch loads
ZIP_FILE = "sweep.zip"


@dataclass(frozen=True)
class SweepPlan:
    """The base settings and up to three axes: X columns, Y rows, Z one grid each."""

    base: GenerationParams
    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        check_axes(list(self.axes))
        swept = {a.base_field: a for a in self.axes}
        if "checkpoint" in swept and self.base.mode != "trained" and "mode" not in swept:  # tiles that all look alike
            raise SweepError(
                "a checkpoint is used in trained mode only (zero-shot ignores it): choose trained mode (--mode trained) first",
                swept["checkpoint"].name, "checkpoint",
            )  # fmt: skip
        self._check_combinations()

    def _check_combinations(self) -> None:
        """Each axis's values are checked alone (parse_axis), but two axes can clash only together
        (switch points out of order): every tile is checked here, so none fails mid-sweep."""
        if len(self.axes) < 2:
            return
        for at in self.positions():
            try:
                self.params_at(*at).validate()
            except ParamsError as exc:
                reason = exc.problem
                tile = " · ".join(self.labels_at(*at).values())
                raise SweepError(
                    f"the tile {tile} cannot be made ({reason}): change these axes' values so that every "
                    "combination is allowed"
                ) from None

    def axis(self, name: str) -> Axis | None:
        return next((a for a in self.axes if a.name == name), None)

    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) counts; a missing axis counts 1."""
        return tuple(len(a.values) if (a := self.axis(n)) else 1 for n in ("z", "y", "x"))  # type: ignore[return-value]

    def positions(self) -> Iterator[tuple[int, int, int]]:
        """(z, y, x) indices in reading order: grid by grid, row by row."""
        nz, ny, nx = self.shape()
        for z in range(nz):
            for y in range(ny):
                for x in range(nx):
                    yield z, y, x

    def params_at(self, z: int, y: int, x: int) -> GenerationParams:
        params = self.base
        for name, i in (("z", z), ("y", y), ("x", x)):
            if (a := self.axis(name)) is not None:
                params = a.apply(params, i)
        return params

    def labels_at(self, z: int, y: int, x: int) -> dict[str, str]:
        """{'x': 'norm_target=40', ...} for the axes present."""
        return {n: a.label(i) for n, i in (("z", z), ("y", y), ("x", x)) if (a := self.axis(n)) is not None}

    def __len__(self) -> int:
        nz, ny, nx = self.shape()
        return nz * ny * nx
