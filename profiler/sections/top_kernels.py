"""HTA's kernel breakdown: per kind of device work (computation, communication, memory), the
kernels that took the most time, with their count and spread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Table, cols, short
from profiler.sections.registry import VARIANT, Section, View

SHOWN = 5


@dataclass(frozen=True)
class Kernel:
    name: str
    count: int
    total_us: float
    mean_us: float
    max_us: float | None = None
    min_us: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TopKernels:
    devices: dict[str, dict[str, tuple[Kernel, ...]]]
    definition: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _raw(d: dict[str, Any]) -> Any:
    g = d.get("gpu")
    return g.get("top_kernels") if isinstance(g, dict) else None


def show(t: TopKernels, view: View) -> tuple[Block, ...]:
    rows = [(dev, kind, short(k.name, 60), f"{k.count:,}", f"{k.total_us / 1e3:,.3f}", f"{k.mean_us:,.1f}")
            for dev, kinds in t.devices.items() for kind, ks in kinds.items() for k in ks[:SHOWN]]
    if not rows:
        return ()
    return (Table("kernels with the most device time, by kind (HTA's kernel breakdown)",
                  cols("device", "kind", "kernel", "count>", "total ms>", "mean µs>"), tuple(rows), key="kernels"),)


SECTION = Section(
    key="top_kernels", title="top kernels", scope=VARIANT, model=TopKernels, show=show,
    computed_by="profiler.analysis.gpu_timeline.top_kernels", order=32, raw=_raw, detail=True,
)
