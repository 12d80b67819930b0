"""The layout's rules, checked on the source: layers import only from the layers above them, no import
circles (imports inside functions count), few top-level modules, one category vocabulary."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "profiler"

#: Each layer and the layers it may import from (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "importers": {"core"},
    "probes": {"core", "importers"},
    "analysis": {"core", "probes"},
    "sections": {"core", "probes", "analysis"},
    "export": {"core", "analysis", "sections"},
    "report": {"core", "probes", "analysis", "export", "sections"},
    "render": {"core", "probes", "analysis", "export", "sections", "report"},
    "inject": {"core", "probes", "analysis"},
    "store": {"core"},
    "run": {"core", "importers", "probes", "analysis", "export", "sections", "report", "render"},
    "api": {"core", "store", "importers", "probes", "analysis", "export", "sections", "report", "render", "inject", "run"},
    "cli": {"core", "store", "importers", "probes", "analysis", "export", "sections", "report", "render", "inject", "run"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(mod: str, path: Path, mods: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in mods:
                n = n.rpartition(".")[0]
            if n and n != mod and n != "profiler":
                found.add(n)
    return found


def _layer(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_layers_import_only_from_layers_above():
    mods = _modules()
    bad = []
    for mod, path in mods.items():
        me = _layer(mod)
        if me is None:
            continue
        for dep in _imports(mod, path, mods):
            other = _layer(dep)
            if other is not None and other != me and other not in ALLOWED[me]:
                bad.append(f"{mod} imports {dep} ({me} may import {sorted(ALLOWED[me]) or 'nothing'})")
    assert not bad, "\n".join(bad)


def test_no_import_circles():
    mods = _modules()
    graph = {m: {d for d in _imports(m, p, mods) if not (mods[d].name == "__init__.py" and m.startswith(d + "."))}
             for m, p in mods.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        stack.append(m)
        for d in graph[m]:
            if state.get(d) == 1:
                cycles.append([*stack[stack.index(d):], d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
    assert not cycles, cycles[:3]


def test_few_top_level_modules():
    top = [f.name for f in PKG.glob("*.py") if f.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= 8, top


def test_one_category_vocabulary():
    """Labels and colours of the categories are defined once, in core/categories.py."""
    rx = re.compile(r'(?:"memory_io"|MEMORY_IO)\s*:\s*"')
    where = [str(f.relative_to(ROOT)) for f in PKG.rglob("*.py") if rx.search(f.read_text())]
    assert where == ["profiler/core/categories.py"], where


#: The two packages beside ``profiler/`` and what of ``profiler`` they may import (docs/architecture.md):
#: scenario declarations and implementations use the core's scenario types, clock and errors; the
#: kernels raise the core's errors and nothing else.
BESIDE: dict[str, tuple[str, ...]] = {
    "scenarios": ("profiler.core",),
    "kernels": ("profiler.core.errors",),
}


def test_scenarios_and_kernels_import_only_the_core():
    bad = []
    for pkg, allowed in BESIDE.items():
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for n in names:
                    if (n == "profiler" or n.startswith("profiler.")) and not any(
                            n == a or n.startswith(a + ".") for a in allowed):
                        bad.append(f"{f.relative_to(ROOT)} imports {n} ({pkg} may import {', '.join(allowed)})")
    assert not bad, "\n".join(bad)


#: What a command module of ``profiler/cli/`` may import of the package (docs/architecture.md, "The
#: command line"): the core (defaults, errors, files), the run layer (the one function a command
#: calls), the store (``sql``), and the drawing side: ``report/``, ``render/``, and the sections'
#: typed document and blocks. The layers that compute (analysis, importers, probes, export, inject,
#: the sections' registry and computation) are reached only through ``run/``.
CLI_MAY_IMPORT = ({"core", "run", "store", "report", "render", "cli"},
                  {"profiler.sections.document", "profiler.sections.explanation", "profiler.sections.blocks"})


def test_the_command_line_only_parses_calls_run_and_renders():
    mods = _modules()
    layers, modules = CLI_MAY_IMPORT
    bad = [f"{mod} imports {dep}"
           for mod, path in mods.items() if _layer(mod) == "cli"
           for dep in sorted(_imports(mod, path, mods)) if _layer(dep) not in layers and dep not in modules]
    assert not bad, "\n".join(bad)
