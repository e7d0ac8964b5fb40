"""The operator's and tester's docs list what the code has: every CLAP2DIFF_ variable the code reads
is in OPERATIONS.md's settings table, and every browser test file is in TESTING.md's table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings_table() -> str:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    section = text.split("## Settings (every variable)\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_every_variable_the_code_reads_is_in_the_settings_table():
    used = set()
    for folder in ("core", "studio", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sh") and path.is_file():
                used |= set(re.findall(r"CLAP2DIFF_[A-Z_]+", path.read_text(encoding="utf-8")))
    assert {"CLAP2DIFF_MODELS", "CLAP2DIFF_TAESD"} <= used  # the scan finds them
    table = _settings_table()
    missing = sorted(v for v in used if f"`{v}`" not in table)
    assert not missing, f"docs/OPERATIONS.md's settings table leaves out {missing}"
    assert "`PORT`" in table  # scripts/studio.sh's


def test_every_browser_test_file_is_in_the_testing_table():
    text = (ROOT / "docs" / "TESTING.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `e2e/test_")]
    listed = {re.match(r"\| `e2e/(test_\w+\.py)`", line).group(1) for line in rows}
    assert listed == {p.name for p in (ROOT / "tests" / "e2e").glob("test_*.py")}
