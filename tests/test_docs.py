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


def _named_in(text: str, module: Path) -> bool:
    """Is `module` (core/x.py, core/train/y.py, studio/widgets/z.py) named in `text`: as `x.py`,
    `parent/x`, `parent.x`, or (inside a package) as `x` on a line that names its package?"""
    parent, stem = module.parent.name, module.stem
    for token in re.findall(r"[\w./]+", text):
        token = token.rstrip(".")
        if token in (f"{stem}.py", f"{parent}/{stem}", f"{parent}/{stem}.py") or token.endswith(
            (f"/{parent}/{stem}", f"/{parent}/{stem}.py")
        ):
            return True
        if re.search(rf"(^|[./]){re.escape(parent)}\.{re.escape(stem)}(\.|$)", token):
            return True
    if parent in ("core", "studio"):
        return False
    return any(f"`{stem}`" in line and re.search(rf"(^|\W){parent}[/.]", line) for line in text.splitlines())


def test_every_core_and_studio_module_is_in_the_architecture():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = [p for folder in ("core", "studio") for p in (ROOT / folder).rglob("*.py") if p.name != "__init__.py"]
    assert len(modules) > 80  # the scan finds them
    missing = sorted(str(p.relative_to(ROOT)) for p in modules if not _named_in(text, p.relative_to(ROOT)))
    assert not missing, f"docs/ARCHITECTURE.md never names {missing}"


def test_every_path_the_architecture_names_exists():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:core|studio|pages|tests|bench|scripts|assets)/[\w/]+\.(?:py|sh|csv|md)\b", text))
    assert len(named) > 20
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"docs/ARCHITECTURE.md names files that do not exist: {missing}"


DOCS = (
    "README.md",
    "docs/ARCHITECTURE.md",
    "docs/OPERATIONS.md",
    "docs/PERFORMANCE.md",
    "docs/SCORES.md",
    "docs/TESTING.md",
)


def test_every_test_the_docs_name_exists():
    """A test file or `file::test` the docs cite as proof is there (`…::name` is the last file's)."""
    wrong, cited = [], 0
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for name in set(re.findall(r"\b(?:e2e/)?test_\w+\.py\b", text)):
            cited += 1
            if not (ROOT / "tests" / name).exists():
                wrong.append(f"{doc}: {name}")
        last = None
        for match in re.finditer(r"`(?:tests/)?((?:e2e/)?test_\w+\.py|…)::(\w+)`", text):
            file, test = match.groups()
            last = last if file == "…" else file
            if last is None:  # a pattern such as `…::prerequisites`, no file before it
                continue
            cited += 1
            path = ROOT / "tests" / last
            if not path.is_file() or not re.search(rf"\b{test}\b", path.read_text(encoding="utf-8")):
                wrong.append(f"{doc}: {last}::{test}")
    assert cited > 80  # the scan finds them
    assert not wrong, f"the docs cite tests that do not exist: {wrong}"
