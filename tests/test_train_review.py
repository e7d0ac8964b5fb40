"""Training as a user met it in a hands-on review (own data with bad rows, a full disk, the CLI's
words): each test names what went wrong before its fix."""

from __future__ import annotations

import json

from core.train.loop import train
from core.train.runs import run_info
from tests.train_helpers import tiny_config, write_pair


def _dataset_with_many_bad_rows(root):
    """Two good rows, 22 rows whose audio is missing, and a silent clip last: only decoding tells
    that one, so it came last among the skipped rows and fell outside the twenty status.json names."""
    good = [write_pair(root, i) for i in range(2)]
    silent = write_pair(root, 2, silent=True)
    rows = [*good, *({"audio": f"clips/gone{i}.wav", "image": good[0]["image"], "caption": "x"} for i in range(22))]
    rows.insert(3, silent)  # line 4: among the missing ones, not after them
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_every_skipped_row_is_listed_by_line_in_the_run_folder(train_bundle, tmp_path):
    data = _dataset_with_many_bad_rows(tmp_path / "data")
    said: list[str] = []
    config = tiny_config(data, tmp_path / "run", 1, stage_steps=(1, 1, 1), val_rows=0)
    result = train(config, bundle=train_bundle, progress=False, images=False, log=said.append)
    assert result.state == "done" and result.rows_used == 2
    listed = (tmp_path / "run" / "skipped_rows.txt").read_text().splitlines()
    assert len(listed) == 23 and listed[1].startswith("line 4: audio clips/2.wav is silent")
    assert listed[0] == "line 3: audio clips/gone0.wav does not exist" and listed[-1].startswith("line 25: ")
    assert [row.line for row in run_info(tmp_path / "run").skipped()] == [3, 4, *range(5, 26)]
    data_line = next(s for s in said if s.startswith("data: "))
    assert data_line.endswith(
        "and 20 more (20x audio file missing); every skipped row and why: run/skipped_rows.txt"
    ), data_line
