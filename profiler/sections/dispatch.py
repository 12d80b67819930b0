"""How much the framework dispatched per step: ops, tracer records, kernels, runtime calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.ops import dispatch_counts
from profiler.analysis.variant import VariantInputs
from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View, calls


@dataclass(frozen=True)
class Dispatch:
    ops: float = 0.0
    top_level_ops: float = 0.0
    records: float | None = None
    kernels: float = 0.0
    runtime_calls: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def show(d: Dispatch, view: View) -> tuple[Block, ...]:
    rec = f"; {d.records:,.0f} tracer records" if d.records else ""
    return (Line(f"dispatch per step: {d.ops:,.0f} framework ops ({d.top_level_ops:,.0f} top-level{rec}), "
                 f"{d.kernels:,.0f} device kernels, {d.runtime_calls:,.0f} runtime calls", "dim"),)


SECTION = Section(
    key="dispatch", title="dispatch", scope=VARIANT, model=Dispatch, show=show,
    compute=calls(dispatch_counts, VariantInputs.in_steps), when=VariantInputs.has_steps, order=35, detail=True,
)
