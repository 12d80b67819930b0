"""What ``--trace-budget`` dropped from the Chrome trace, per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import RUN, Section, View


@dataclass(frozen=True)
class TraceBudget:
    budget_mb: float | None = None
    dropped_spans: int = 0
    dropped_up_to_us: float | None = None
    dropped_time_ms: float | None = None
    counters_downsampled: dict[str, int] | None = None
    kept_share_pct: float = 0.0
    min_ops_per_step: int = 0
    steps_with_ops: int = 0
    steps: int = 0
    per_step: tuple[dict[str, Any], ...] = ()
    dropped: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def show(tb: TraceBudget, view: View) -> tuple[Block, ...]:
    out: list[Block] = []
    if tb.dropped_spans and tb.dropped_up_to_us is not None:
        out.append(Line(f"trace budget {tb.budget_mb:g} MB: dropped {tb.dropped_spans:,} spans of ≤ "
                        f"{tb.dropped_up_to_us:.1f} µs ({tb.dropped_time_ms or 0:.1f} ms in all)", "warn"))
    if tb.counters_downsampled:
        out.append(Line(f"trace budget: counters kept every {tb.counters_downsampled.get('every_kth')}th sample",
                        "warn"))
    if not tb.dropped_spans:
        return tuple(out)
    line = (f"trace budget: kept {tb.kept_share_pct:.0f}% of each step's spans by size, every step keeps "
            f"{tb.min_ops_per_step:,}+ ops ({tb.steps_with_ops} of {tb.steps} steps with ops)")
    lost = [p.get("dropped", 0) for p in tb.per_step]
    if lost:
        line += f"; dropped per step {min(lost):,}–{max(lost):,} spans"
    if tb.dropped:
        line += "; dropped: " + ", ".join(
            f"{c} {v.get('count', 0):,} ({v.get('time_ms', 0):.1f} ms, ≤ {v.get('longest_us', 0):.1f} µs)"
            for c, v in tb.dropped.items())
    return (*out, Line(line, "warn"))


SECTION = Section(
    key="trace_budget", title="trace budget", scope=RUN, model=TraceBudget, show=show,
    computed_by="profiler.export.chrome.ChromeTraceExporter._budget", order=85,
)
