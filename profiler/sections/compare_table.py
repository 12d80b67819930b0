"""``compare``'s side-by-side table: each framework's headline (pooled over its processes, with the
95% CI), the unit the seed's table uses, throughput and the breakdown's shares; the spread verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.core.categories import CATEGORIES, SHORT
from profiler.sections.blocks import Bar, Block, Line, Table, cols, fmt_ms
from profiler.sections.registry import RUN, Section, View


@dataclass(frozen=True)
class Row:
    framework: str
    variant: str
    status: str
    display: str | None = None
    step_ms: float | None = None
    step_ci95_low: float | None = None
    step_ci95_high: float | None = None
    n_processes: int | None = None
    headline_s: float | None = None
    headline_unit: str | None = None
    items_per_s: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompareTable:
    rows: tuple[Row, ...]
    unit: str = "step"
    spread: str | None = None
    origin: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _raw(d: dict[str, Any]) -> Any:
    if d.get("kind") != "compare":
        return None
    from profiler.analysis.compare import saved_result

    return saved_result(d)


def show(t: CompareTable, view: View) -> tuple[Block, ...]:
    rows = []
    for r in t.rows:
        ci = (f"{fmt_ms(r.step_ci95_low)}–{fmt_ms(r.step_ci95_high)}"
              if r.step_ci95_low is not None and r.step_ci95_high is not None else "–")
        pct = {c: float(r.extra.get(f"{c}_pct") or 0.0) for c in CATEGORIES}
        top = " ".join(f"{SHORT[c]} {p:.0f}%" for p, c in sorted(((p, c) for c, p in pct.items()), reverse=True)[:2]
                       if p >= 0.5)
        unit = (f"{r.headline_s:,.3f} s" if r.headline_s is not None and r.headline_unit not in (None, "step")
                else "–")
        rows.append((r.display or r.framework, r.variant, r.status if r.status == "ok" else f"{r.status}: {r.error or ''}",
                     fmt_ms(r.step_ms), ci, str(r.n_processes or "–"), unit,
                     "–" if r.items_per_s is None else f"{r.items_per_s:,.1f}", Bar.of(pct), top))
    unit = t.unit if t.unit != "step" else "per step"
    out: list[Block] = [Table(f"frameworks side by side (pooled over each one's processes; {unit})",
                              cols("framework", "variant", "status", "step ms>", "95% CI>", "processes>",
                                   f"{t.unit}>", "items/s>", "breakdown", "largest"), tuple(rows), key="frameworks")]
    if t.spread:
        out.append(Line(t.spread, "strong"))
    if t.origin:
        out.append(Line(f"reference: {t.origin}", "dim"))
    return tuple(out)


SECTION = Section(
    key="compare_table", title="frameworks side by side", scope=RUN, model=CompareTable, show=show,
    computed_by="profiler.analysis.compare.saved_result", order=75, raw=_raw,
)
