"""`python -m core compare` writes the Compare page's grid and ZIP: the same plan (core.compare), the
same tiles, every tile's params inside."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from core import compare
from core.cli import main
from core.export import read_grid, read_metadata, read_params


@pytest.fixture
def args(samples, tmp_path):
    return ["--audio", str(samples["street"]), "--prompt", "a harbour", "--models", "tiny", "--seed", "3",
            "--steps", "2", "--size", "64x64", "--quiet", "--out", str(tmp_path)]  # fmt: skip


def test_cli_compare_writes_the_pages_grid_and_zip(args, tmp_path, tiny_engine, tiny_params, samples, capsys):
    assert main(["compare", *args, "--sources", "bands,mix"]) == 0
    grid_path, zip_path = tmp_path / compare.GRID_FILE, tmp_path / compare.ZIP_FILE
    assert capsys.readouterr().out.split()[:2] == [str(grid_path), str(zip_path)]

    # The plan the Compare page would make for the same params (with what the engine hears).
    params = tiny_params.replace(audio_path=str(Path(samples["street"]).resolve()), prompt="a harbour", seed=3,
                                 steps=2, width=64, height=64)  # fmt: skip
    available = {m: compare.availability(tiny_engine.listen(params.replace(sources=m))) for m in ("mix", "bands")}
    plan = compare.plan(params, ["bands", "mix"], True, True, available, audio_label="street.wav")
    sha = tiny_engine.listen(params).clip.sha256

    tiles = read_grid(grid_path)
    assert [t.caption for t in tiles] == [compare.grid_text(c.caption) for c in plan.cells]
    assert [t.params for t in tiles] == [
        None if c.params is None else c.params.replace(audio_sha256=sha).shareable() for c in plan.cells
    ]
    assert [c.key for c in plan.rows[0][1]] == ["no_audio", "mix", "bands"]  # display order, not the flag's
    assert tiles[0].params.audio_strength == 0 and len(plan.rows) == 4

    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        pngs = [n for n in names if n.endswith(".png") and n != compare.GRID_IN_ZIP]
        assert len(pngs) == len(plan.generated) and "params.json" in names
        assert len(plan.cells) > len(plan.generated)  # the grid has empty places...
        want = [f"{i:02d}_{c.key}.png" for i, c in enumerate(plan.generated, 1)]
        assert pngs == want  # ...which the files' numbers do not skip: 01, 02, 03, ... in grid order
        assert [read_params(zf.read(n)) for n in pngs] == [t.params for t in tiles if t.params is not None]
        assert read_metadata(zf.read(compare.GRID_IN_ZIP))["format"] == "clap2diff/grid"
        assert not [n for n in names if n.endswith(".wav")]


def test_cli_compare_options_and_wavs(args, tmp_path):
    assert main(["compare", *args, "--sources", "bands", "--no-alone", "--no-without", "--wavs"]) == 0
    tiles = read_grid(tmp_path / compare.GRID_FILE)
    assert [t.params.sources for t in tiles] == ["bands"]
    with zipfile.ZipFile(tmp_path / compare.ZIP_FILE) as zf:
        wavs = sorted(n for n in zf.namelist() if n.endswith(".wav"))
        assert wavs == ["bands-high.wav", "bands-low.wav", "bands-mid.wav"]
        import soundfile as sf

        assert sf.read(io.BytesIO(zf.read("bands-low.wav")))[0].size > 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sources", "karaoke"], "expected source modes"),
        (["--audio", "/no/such.wav"], "does not exist"),
    ],
)
def test_cli_compare_bad_input_is_one_line(args, extra, message, capsys):
    assert main(["compare", *args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err


def test_each_tile_is_handed_over_as_soon_as_it_is_made(tiny_engine, tiny_params):
    """on_tile hears every image in plan order, with the exact PNG the run keeps, right after it is
    made and before the next one starts (the parts come last): the studio shows tiles as they finish.
    Between every two parts (a mode listened to, an image, a mode's parts) `between_parts` is called:
    the studio runs waiting previews there, so none waits for a whole separation pass either."""
    from core.compare import run_compare
    from core.events import Phase

    order: list[str] = []
    tiles: list[tuple[str, bytes]] = []

    def on_tile(cell, png):
        tiles.append((cell.key, png))
        order.append(f"tile {cell.key}")

    def on_status(event):
        if isinstance(event, Phase):
            order.append(event.label.split(" ")[0])

    run = run_compare(
        tiny_engine,
        tiny_params.replace(steps=2),
        ["mix", "bands"],
        alone=False,
        without=True,
        on_tile=on_tile,
        on_status=on_status,
        between_parts=lambda: order.append("between"),
    )
    assert tiles == [(c.key, png) for c, _, png in run.done] and len(tiles) == 3
    keys = [c.key for c in run.plan.generated]
    parts = [o for o in order if o in ("Listening", "Parts", "between") or o[0].isdigit()]
    assert (
        parts
        == ["Listening", "between"] * 2
        + ["1/3", "between", "2/3", "between", "3/3", "between"]
        + [
            "Parts",
            "between",
        ]
        * 2
    )
    generated = [o for o in order if o not in ("between",) and not o.startswith("Listening")]
    assert generated[:6] == ["1/3", f"tile {keys[0]}", "2/3", f"tile {keys[1]}", "3/3", f"tile {keys[2]}"]
    assert generated[6:] and all(o == "Parts" for o in generated[6:])
