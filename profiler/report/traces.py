"""Rich renderables of the trace analyses: CUDA launch statistics, frequent op sequences (fusion
candidates) and what ``--trace-budget`` dropped per step.

They read a variant entry's dictionary form (``launches``, ``op_sequences``) and the record's
``trace_budget`` section, never events, so a saved run re-renders identically.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from profiler.report.bars import fmt_ms


def _short(name: str, n: int = 40) -> str:
    name = name.removeprefix("autograd::engine::evaluate_function: ")
    return name if len(name) <= n else name[: n - 1] + "…"


class LaunchReport:
    """Launch delay distribution, short kernels, outliers (``launches``)."""

    def __init__(self, variant: dict[str, Any]) -> None:
        self.la = variant.get("launches") or {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        la = self.la
        if not la:
            return
        d = la["launch_delay_us"]
        yield Text("CUDA launches: " + la["sentence"], style="bold")
        t = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("launch delay", *d["histogram"]):
            t.add_column(col, justify="left" if col == "launch delay" else "right")
        t.add_row(f"median {d['median']:.1f} µs · p90 {d['p90']:.1f} · p99 {d['p99']:.1f} · max {d['max']:.1f}",
                  *[f"{v:,}" for v in d["histogram"].values()])
        yield t
        s = la["short_kernels"]
        if s.get("count"):
            yield Text(f"short kernels ({s['definition']}): {s['count']:,} ({s['share_pct']:.0f}% of kernels, "
                       f"{s['time_share_pct']:.1f}% of kernel time): "
                       + ", ".join(f"{_short(x['name'])} ×{x['count']}" for x in s["top"]), style="dim")
        for key, what in (("runtime_outliers", "launch calls over"), ("launch_delay_outliers", "launch delays over")):
            o = la.get(key) or {}
            if o.get("count"):
                yield Text(f"{o['count']:,} {what} {o['cutoff_us']:g} µs, worst: "
                           + ", ".join(f"{_short(x['name'], 30)} {x['us']:.0f} µs" for x in o["top"][:3]),
                           style="yellow")


class OpSequenceReport:
    """The repeated chains of small ops per step (``op_sequences``)."""

    def __init__(self, variant: dict[str, Any], top: int = 5) -> None:
        self.sq = variant.get("op_sequences") or {}
        self.top = top

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        sq = self.sq
        if not sq or not sq.get("sequences"):
            return
        t = Table(title=f"repeated op chains per step ({sq['basis']})", title_justify="left",
                  header_style="bold", box=None, pad_edge=False)
        t.add_column("chain")
        t.add_column("inside")
        t.add_column("×/step", justify="right")
        t.add_column("ms/step", justify="right")
        t.add_column("% step", justify="right")
        for f in sq["sequences"][: self.top]:
            ops = [_short(o.removeprefix("aten::"), 22) for o in f["ops"]]
            chain = " → ".join(ops if len(ops) <= 6 else [*ops[:5], f"… ({len(ops)} ops)"])
            t.add_row(chain, _short(f.get("inside") or "top level", 24), f"{f['per_step']:.0f}",
                      fmt_ms(f["ms_per_step"]), f"{f['step_pct']:.0f}" if f.get("step_pct") is not None else "")
        yield t
        yield Text(sq["sentence"], style="dim")


class TraceBudgetReport:
    """What ``--trace-budget`` dropped, per step (the record's ``trace_budget`` section)."""

    def __init__(self, budget: dict[str, Any] | None) -> None:
        self.tb = budget or {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        tb = self.tb
        if not tb.get("dropped_spans"):
            return
        per = tb.get("per_step") or []
        lost = [p["dropped"] for p in per]
        line = (f"trace budget: kept {tb.get('kept_share_pct', 0):.0f}% of each step's spans by size, every step "
                f"keeps {tb.get('min_ops_per_step', 0):,}+ ops ({tb.get('steps_with_ops', 0)} of {tb.get('steps', 0)} "
                "steps with ops)")
        if lost:
            line += f"; dropped per step {min(lost):,}–{max(lost):,} spans"
        by = tb.get("dropped") or {}
        if by:
            line += "; dropped: " + ", ".join(f"{c} {v['count']:,} ({v['time_ms']:.1f} ms, ≤ {v['longest_us']:.1f} µs)"
                                              for c, v in by.items())
        yield Text(line, style="yellow")


def trace_sections(variant: dict[str, Any]) -> list[Any]:
    """The renderables of one variant's trace analyses, in report order."""
    return [LaunchReport(variant), OpSequenceReport(variant)]
