"""What ``--trace-budget`` dropped from the Chrome trace, per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import RUN, Section, View


@dataclass(frozen=True)
class TraceBudget:
    dropped_spans: int = 0
    kept_share_pct: float = 0.0
    min_ops_per_step: int = 0
    steps_with_ops: int = 0
    steps: int = 0
    per_step: tuple[dict[str, Any], ...] = ()
    dropped: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def show(tb: TraceBudget, view: View) -> tuple[Block, ...]:
    if not tb.dropped_spans:
        return ()
    line = (f"trace budget: kept {tb.kept_share_pct:.0f}% of each step's spans by size, every step keeps "
            f"{tb.min_ops_per_step:,}+ ops ({tb.steps_with_ops} of {tb.steps} steps with ops)")
    lost = [p.get("dropped", 0) for p in tb.per_step]
    if lost:
        line += f"; dropped per step {min(lost):,}–{max(lost):,} spans"
    if tb.dropped:
        line += "; dropped: " + ", ".join(
            f"{c} {v.get('count', 0):,} ({v.get('time_ms', 0):.1f} ms, ≤ {v.get('longest_us', 0):.1f} µs)"
            for c, v in tb.dropped.items())
    return (Line(line, "warn"),)


SECTION = Section(
    key="trace_budget", title="trace budget", scope=RUN, model=TraceBudget, show=show,
    computed_by="profiler.export.chrome.ChromeTraceExporter._budget", order=85,
)
