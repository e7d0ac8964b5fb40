"""The docs list what the code has, so that they cannot drift silently: every CLAP2DIFF_ variable the
code reads is in OPERATIONS.md's settings table with the code's default (README's table too), every
browser test file is in TESTING.md's table, every core/ and studio/ module is named in
ARCHITECTURE.md, every file and test the docs cite exists, README's page table and download
commands are the studio's and the models-missing message's, and SCORES.md defines every score."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = (
    "README.md",
    "docs/ARCHITECTURE.md",
    "docs/OPERATIONS.md",
    "docs/PERFORMANCE.md",
    "docs/SCORES.md",
    "docs/TESTING.md",
)


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


def _named_in(text: str, tokens: set[str], module: Path) -> bool:
    """Is `module` (core/x.py, core/train/y.py, studio/widgets/z.py) named in `text` (whose `tokens`
    are given): as `x.py`, `parent/x`, `parent.x`, or (inside a package) as `x` on a line that names
    its package?"""
    parent, stem = module.parent.name, module.stem
    if {f"{stem}.py", f"{parent}/{stem}", f"{parent}/{stem}.py"} & tokens:
        return True
    dotted = re.compile(rf"(^|[./]){re.escape(parent)}\.{re.escape(stem)}(\.|$)")
    if any(t.endswith((f"/{parent}/{stem}", f"/{parent}/{stem}.py")) or dotted.search(t) for t in tokens):
        return True
    if parent in ("core", "studio"):
        return False
    return any(f"`{stem}`" in line and re.search(rf"(^|\W){parent}[/.]", line) for line in text.splitlines())


def test_every_core_and_studio_module_is_in_the_architecture():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = [p for folder in ("core", "studio") for p in (ROOT / folder).rglob("*.py") if p.name != "__init__.py"]
    assert len(modules) > 80  # the scan finds them
    tokens = {token.rstrip(".") for token in re.findall(r"[\w./]+", text)}
    missing = sorted(str(p.relative_to(ROOT)) for p in modules if not _named_in(text, tokens, p.relative_to(ROOT)))
    assert not missing, f"docs/ARCHITECTURE.md never names {missing}"


def test_every_path_the_docs_name_exists():
    named = {
        (doc, path)
        for doc in DOCS
        for path in re.findall(
            r"\b(?:core|studio|pages|tests|bench|scripts|assets)/[\w/]+\.(?:py|sh|csv|md|json)\b",
            (ROOT / doc).read_text(encoding="utf-8"),
        )
    }
    assert len(named) > 60  # the scan finds them
    missing = sorted(f"{doc}: {path}" for doc, path in named if not (ROOT / path).exists())
    assert not missing, f"the docs name files that do not exist: {missing}"


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


def _defaults(table: str) -> dict[str, str]:
    """`VAR` -> its default cell, from a Markdown table whose first two columns are variable and default."""
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2:
            for var in re.findall(r"`(CLAP2DIFF_[A-Z_]+)`", cells[0]):
                out[var] = cells[1]
    return out


def _number(cell: str) -> float:
    return float(re.match(r"`?([\d.]+)", cell).group(1))


def test_the_settings_tables_give_each_variables_default_as_the_code_has_it(monkeypatch):
    import tempfile

    from core.clip_cache import DEFAULT_CLIP_CACHE_MB
    from core.models import CLAP_HUB_ID, TAESD_HUB_ID
    from studio import gallery_store, training, uploads
    from studio.limits import ENV, ServerLimits, configured_models

    for var in ("CLAP2DIFF_DATASETS", "CLAP2DIFF_RUNS", "CLAP2DIFF_UPLOADS"):
        monkeypatch.delenv(var, raising=False)
    numbers = {var: getattr(ServerLimits, name) for name, var in ENV.items()}
    numbers |= {
        gallery_store.DAYS_ENV: gallery_store.DEFAULT_DAYS,
        gallery_store.MB_ENV: gallery_store.DEFAULT_MB,
        "CLAP2DIFF_CLIP_CACHE_MB": DEFAULT_CLIP_CACHE_MB,
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc, table in (("OPERATIONS.md", _settings_table()), ("README.md", readme)):
        defaults = _defaults(table)
        for var, value in numbers.items():
            if var in defaults:
                assert _number(defaults[var]) == value, f"{doc}: {var}'s default is {value}, not {defaults[var]}"
        if "CLAP2DIFF_MODELS" in defaults:
            assert defaults["CLAP2DIFF_MODELS"].strip("`") == ",".join(configured_models({})), doc
    ops = _defaults(_settings_table())
    assert ops["CLAP2DIFF_CLAP"] == f"`{CLAP_HUB_ID}`"
    assert ops["CLAP2DIFF_TAESD"] == f"`{TAESD_HUB_ID}`"
    roots = [Path(p.strip("` ")).expanduser() for p in ops["CLAP2DIFF_DATASETS"].split(",")]
    assert roots == [training.datasets_root(), training.runs_root()]  # the row names both, in that order
    assert uploads.uploads_dir() == Path(tempfile.gettempdir()) / ops["CLAP2DIFF_UPLOADS"].strip("`").split("/", 1)[1]
    assert ops["CLAP2DIFF_UPLOADS"].startswith("`<temp>/")
    assert len(set(numbers) & set(_defaults(readme))) >= 6  # README's operator table is read too


def test_every_score_is_defined_in_scores_md():
    from core.score_names import SCORE_NAMES

    text = (ROOT / "docs" / "SCORES.md").read_text(encoding="utf-8")
    rows = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", text, re.M)}
    assert rows == set(SCORE_NAMES), "docs/SCORES.md's table defines exactly the scores core/score_names.py names"


def test_the_readmes_studio_table_lists_the_studios_pages():
    from studio.nav import SPECS

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The studio\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [title for _, title, _ in SPECS], "README's page table, in the navigation's order"


def test_the_readmes_download_commands_are_the_ones_the_models_missing_message_gives():
    from core.models import CLAP_HUB_ID, SD15_HUB_ID, download_command

    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    shown = [" ".join(line.split()[1:]) for line in text.splitlines() if line.startswith(".venv/bin/hf download ")]
    assert shown == [" ".join(download_command(hub_id).split()[1:]) for hub_id in (SD15_HUB_ID, CLAP_HUB_ID)]


def test_the_readmes_sweep_limits_are_the_codes():
    from core.sweep.axes import MAX_TILES, MAX_VALUES

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"At most {MAX_VALUES} values an axis and {MAX_TILES} tiles a sweep" in text
