"""The one registry of report sections, and the typed report every renderer draws.

A section is one module here defining ``SECTION``: its key (in ``run.json`` and every ``--json``
document), title, scope (``variant``: per measured worker; ``run``: per record), result type (frozen
dataclasses, :mod:`profiler.sections.typed`), ``compute`` (the pure analysis function of its scope's
inputs, ``analysis.variant.VariantInputs``/``RunInputs``, called by :mod:`profiler.sections.compute`)
and ``show`` (its blocks, :mod:`profiler.sections.blocks`). Modules are found by listing this package,
so adding a section is its module plus its test (docs/sections.md).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from profiler.core.record import RunRecord, VariantEntry
from profiler.sections.blocks import Block
from profiler.sections.typed import convert, dump, schema_of

VARIANT, RUN = "variant", "run"


@dataclass(frozen=True)
class View:
    """What ``show`` may read beside its own result: the run, the entry, how much to show."""

    record: RunRecord
    entry: VariantEntry | None = None
    top: int = 10
    run_dir: str | None = None


def calls(fn: Callable[..., Any], args: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], Any]:
    """A section's ``compute`` that calls the pure analysis function ``fn`` with ``args(inputs)``
    (``calls(op_table, VariantInputs.in_steps)``); the section is then computed by ``fn``."""

    def compute(inputs: Any) -> Any:
        return fn(*args(inputs))

    compute.__wrapped__ = fn  # type: ignore[attr-defined]  # what computed_by names
    compute.__qualname__ = f"calls({fn.__qualname__})"
    return compute


def qualified_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of the function behind a ``compute`` (through :func:`calls`)."""
    fn = inspect.unwrap(fn)
    return f"{fn.__module__}.{fn.__qualname__}"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    scope: str  # VARIANT | RUN
    model: Any  # the result's type (a dataclass, or tuple[Dataclass, ...])
    show: Callable[[Any, View], tuple[Block, ...]]
    #: the pure function that makes it ("profiler.analysis.launches.launch_stats"): drawn from
    #: ``compute`` where the section has one; named here only for a figure made elsewhere (the core
    #: analysis of ``analysis.variant``, a worker's own facts, the run's files)
    computed_by: str = ""
    order: int = 100  # position in every output
    detail: bool = False  # the terminal shows it with --detail only (files always)
    #: where the raw value lives when not under ``key`` in the entry/record dictionary
    raw: Callable[[dict[str, Any]], Any] | None = None
    #: the raw value (stored under ``key``) from the scope's context: ``VariantInputs`` or ``RunInputs``
    compute: Callable[[Any], Any] | None = None
    #: whether there is anything to compute (``None``: always); where not, the key is left out
    when: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        if self.compute is not None:
            name = qualified_name(self.compute)
            if self.computed_by and self.computed_by != name:
                raise ValueError(f"section {self.key}: computed_by {self.computed_by!r} is not its compute {name!r}")
            object.__setattr__(self, "computed_by", name)
        elif not self.computed_by:
            raise ValueError(f"section {self.key}: no compute and no computed_by")
        if self.compute is not None and self.raw is not None:
            raise ValueError(f"section {self.key}: a computed section is stored under its key, not read by raw=")

    def computes(self, inputs: Any) -> bool:
        """Whether :mod:`profiler.sections.compute` computes this section from ``inputs``."""
        return self.compute is not None and (self.when is None or bool(self.when(inputs)))

    def raw_value(self, d: dict[str, Any]) -> Any:
        return self.raw(d) if self.raw is not None else d.get(self.key)

    def load(self, raw: Any, where: str) -> Any:
        return convert(self.model, raw, f"{where}.{self.key}")

    def schema(self) -> dict[str, Any]:
        s = schema_of(self.model)
        return {"anyOf": [s, {"type": "null"}], "description": f"{self.title} ({self.computed_by})"}


@cache
def sections() -> tuple[Section, ...]:
    """Every registered section, in report order."""
    found: list[Section] = []
    pkg = Path(__file__).parent
    for m in sorted(pkgutil.iter_modules([str(pkg)]), key=lambda m: m.name):
        if m.name in ("registry", "typed", "blocks", "document", "compute") or m.name.startswith("_"):
            continue
        mod = importlib.import_module(f"profiler.sections.{m.name}")
        s = getattr(mod, "SECTION", None)
        if isinstance(s, Section):
            found.append(s)
    keys = [s.key for s in found]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise RuntimeError(f"sections registered twice: {sorted(dup)}")
    return tuple(sorted(found, key=lambda s: (s.order, s.key)))


def variant_sections() -> tuple[Section, ...]:
    return tuple(s for s in sections() if s.scope == VARIANT)


def run_sections() -> tuple[Section, ...]:
    return tuple(s for s in sections() if s.scope == RUN)


def section(key: str) -> Section:
    for s in sections():
        if s.key == key:
            return s
    raise KeyError(key)


__all__ = ["RUN", "VARIANT", "Section", "View", "calls", "dump", "qualified_name", "run_sections", "section", "sections", "variant_sections"]
