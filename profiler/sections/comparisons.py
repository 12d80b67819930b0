"""Why the runs differ: each pair fast-then-slow, the gap by category, the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.variant import comparisons
from profiler.core.categories import CATEGORIES, LABELS
from profiler.sections.blocks import Block, Line, Table, cols, short
from profiler.sections.registry import RUN, Section, View, calls


@dataclass(frozen=True)
class Comparison:
    fast: str
    slow: str
    speedup: float
    sentence: str
    category_delta_ms: dict[str, float] = field(default_factory=dict)
    ratio_ci95: tuple[float, ...] | None = None
    verdict: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def show(cs: tuple[Comparison, ...], view: View) -> tuple[Block, ...]:
    if not cs:
        return ()
    rows = []
    for c in cs:
        ci = f" ({c.ratio_ci95[0]:.2f}–{c.ratio_ci95[1]:.2f})" if c.ratio_ci95 and len(c.ratio_ci95) == 2 else ""
        rows.append((short(c.fast, 22), short(c.slow, 22), f"{c.speedup:.2f}{ci}",
                     *(f"{c.category_delta_ms.get(k, 0.0):+.2f}" for k in CATEGORIES)))
    t = Table("why they differ: the slower run's extra ms per step, by category (within each framework, then each "
              "framework's best against the fastest)", cols("faster", "slower", "×>", *(f"{LABELS[k]}>" for k in CATEGORIES)),
              tuple(rows), key="pairs")
    return (t, *(Line("• " + c.sentence) for c in cs))


SECTION = Section(
    key="comparisons", title="comparisons", scope=RUN, model=tuple[Comparison, ...], show=show,
    compute=calls(comparisons, lambda run: (run.variants, run.by_world_size)), order=80,
)
