"""CUDA/HIP launch statistics: launch delay distribution, short kernels, outliers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.launches import launch_stats
from profiler.analysis.variant import VariantInputs
from profiler.sections.blocks import Block, Line, Table, cols, short
from profiler.sections.registry import VARIANT, Section, View, calls


@dataclass(frozen=True)
class Delay:
    median: float
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    histogram: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Named:
    name: str
    count: int | None = None
    us: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShortKernels:
    count: int = 0
    definition: str = ""
    share_pct: float = 0.0
    time_share_pct: float = 0.0
    top: tuple[Named, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outliers:
    count: int = 0
    cutoff_us: float = 0.0
    top: tuple[Named, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Launches:
    sentence: str
    launch_delay_us: Delay
    short_kernels: ShortKernels | None = None
    runtime_outliers: Outliers | None = None
    launch_delay_outliers: Outliers | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def show(la: Launches, view: View) -> tuple[Block, ...]:
    d = la.launch_delay_us
    head = (f"median {d.median:.1f} µs · p90 {d.p90 or 0:.1f} · p99 {d.p99 or 0:.1f} · max {d.max or 0:.1f}")
    out: list[Block] = [Line("launches: " + la.sentence, "strong"),
                        Table("launch delay", cols("launch delay", *(f"{k}>" for k in d.histogram)),
                              ((head, *(f"{v:,}" for v in d.histogram.values())),), key="delay")]
    if isinstance(d.extra.get("definition"), str):
        out.append(Line(f"launch delay: {d.extra['definition']}", "dim"))
    s = la.short_kernels
    if s is not None and s.count:
        out.append(Line(f"short kernels ({s.definition}): {s.count:,} ({s.share_pct:.0f}% of kernels, "
                        f"{s.time_share_pct:.1f}% of kernel time): "
                        + ", ".join(f"{short(x.name)} ×{x.count}" for x in s.top), "dim"))
    for o, what in ((la.runtime_outliers, "launch calls over"), (la.launch_delay_outliers, "launch delays over")):
        if o is not None and o.count:
            out.append(Line(f"{o.count:,} {what} {o.cutoff_us:g} µs, worst: "
                            + ", ".join(f"{short(x.name, 30)} {x.us or 0:.0f} µs" for x in o.top[:3]), "warn"))
    return tuple(out)


SECTION = Section(
    key="launches", title="launches", scope=VARIANT, model=Launches, show=show,
    compute=calls(launch_stats, VariantInputs.in_steps), when=VariantInputs.has_steps, order=25,
)
