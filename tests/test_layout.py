"""The shape of the tree: small modules, a light lazy facade, pages that import only the facade and
the studio, and one owner of the studio's session state."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def _modules(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def test_no_module_is_over_400_lines():
    long = {p.relative_to(ROOT).as_posix(): n for p in _modules("core", "studio", "pages")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}  # fmt: skip
    assert not long, f"split these modules (one job each): {long}"


def test_the_facade_loads_lazily_and_stays_light():
    code = (
        "import sys, core.params, core.export, core\n"
        "assert core.GenerationParams is core.params.GenerationParams and core.read_params\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'params pulled in torch'\n"
        "assert 'Engine' not in vars(core) and 'core.engine' not in sys.modules  # loads on first use\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_facade_names_match_what_type_checkers_see():
    tree = ast.parse((ROOT / "core" / "__init__.py").read_text(encoding="utf-8"))
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    seen = {alias.asname or alias.name for node in guarded.body for alias in node.names}
    assert seen == set(core.__all__)
    for name in core.__all__:
        assert getattr(core, name) is not None, name


def test_only_the_session_and_the_binding_table_touch_session_state():
    owners = {"studio/session.py", "studio/bindings.py"}
    touching = {p.relative_to(ROOT).as_posix() for p in _modules("studio", "pages")
                if "session_state" in p.read_text(encoding="utf-8")}  # fmt: skip
    assert touching <= owners, f"go through studio.session / studio.bindings instead: {sorted(touching - owners)}"


def test_pages_import_the_studio_and_the_core_facade_only():
    wrong = []
    for page in _modules("pages"):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [a.name for a in node.names]
                ok = (node.module == "core" and set(names) <= set(core.__all__)) or not node.module.startswith("core")
            elif isinstance(node, ast.Import):
                names, ok = [a.name for a in node.names], not any(a.name.startswith("core") for a in node.names)
            else:
                continue
            if not ok:
                wrong.append(f"{page.name}: {ast.unparse(node)}")
    assert not wrong, "pages import `from core import <facade name>` and studio modules only:\n" + "\n".join(wrong)
