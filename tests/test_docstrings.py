"""Module docstrings stay short: what the module is for, its entry points, what it may not do, and a
pointer to the doc that holds the design (rules, rationale, figures live in docs/, not in code)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "profiler"

#: The most lines a module docstring of ``profiler/`` may have.
MAX_LINES = 10

#: Modules whose docstrings still hold design prose, to be shortened (their prose moved to docs/)
#: and then removed from this list. Each entry is a path relative to the repository root.
ALLOWED_LONGER: set[str] = set()  # none now; a module listed here must name the doc its prose went to


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _docstring_lines(path: Path) -> int:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return len(doc.splitlines()) if doc else 0


def test_the_allow_list_names_existing_modules():
    missing = sorted(p for p in ALLOWED_LONGER if not (ROOT / p).is_file())
    assert missing == [], f"allow-listed modules that do not exist: {missing}"


def test_every_module_docstring_is_short():
    too_long = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        n = _docstring_lines(path)
        if n > MAX_LINES and rel not in ALLOWED_LONGER:
            too_long.append(f"{rel} ({n} lines)")
    assert too_long == [], (
        f"module docstrings over {MAX_LINES} lines: {too_long}; keep what a reader of the file needs "
        "and move the design prose to docs/")


def test_the_line_count_is_that_of_the_docstring(tmp_path: Path):
    f = tmp_path / "m.py"
    f.write_text('"""One.\n\nTwo\nthree."""\n\nX = """not\na\ndocstring"""\n', encoding="utf-8")
    assert _docstring_lines(f) == 4
    f.write_text("X = 1\n", encoding="utf-8")
    assert _docstring_lines(f) == 0
