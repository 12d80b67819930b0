"""The roofline: each costed op's achieved FLOP/s and bytes/s against the calibrated ceilings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line, Table, cols, short
from profiler.sections.registry import VARIANT, Section, View

SHOWN = 8


@dataclass(frozen=True)
class Ceilings:
    peak_gflops: float
    peak_gbs: float
    balance_flops_per_byte: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RooflineOp:
    name: str
    time_ms_per_step: float
    achieved_gflops: float | None = None
    achieved_gbs: float | None = None
    intensity: float | None = None
    frac_peak_flops: float | None = None
    frac_peak_bw: float | None = None
    bound: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Roofline:
    ops: tuple[RooflineOp, ...] = ()
    ceilings: Ceilings | None = None
    not_measured: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _n(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def show(r: Roofline, view: View) -> tuple[Block, ...]:
    if r.not_measured:
        return (Line(f"roofline: not measured — {r.not_measured}", "warn"),)
    if not r.ops:
        return ()
    c = r.ceilings
    title = "roofline (cost model from recorded shapes" + (
        f"; ceilings {c.peak_gflops:,.1f} GFLOP/s, {c.peak_gbs:,.1f} GB/s, balance {c.balance_flops_per_byte:.1f} FLOP/B)"
        if c else "; not calibrated: run `profiler calibrate`)")
    rows = tuple(
        (short(o.name, 40), f"{o.time_ms_per_step:.3f}", _n(o.intensity, ".2f"), _n(o.achieved_gflops, ".2f"),
         _n(o.achieved_gbs, ".2f"), _n(None if o.frac_peak_flops is None else 100 * o.frac_peak_flops, ".1f"),
         _n(None if o.frac_peak_bw is None else 100 * o.frac_peak_bw, ".1f"), o.bound or "not classified")
        for o in r.ops[:SHOWN]
    )
    return (Table(title, cols("op", "ms/step>", "FLOP/B>", "GFLOP/s>", "GB/s>", "% peak FLOP/s>", "% peak GB/s>",
                              "bound"), rows, key="ops"),)


SECTION = Section(
    key="roofline", title="roofline", scope=VARIANT, model=Roofline, show=show,
    computed_by="profiler.analysis.roofline.roofline_table", order=40, detail=True,
)
