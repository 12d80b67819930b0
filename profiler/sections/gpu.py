"""The device timeline: busy and idle time per device, idle gaps, launches; the whole trace's figures
(window = first to last device activity, as HTA and TraceLens take it) where the analysis gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line, Table, cols
from profiler.sections.registry import VARIANT, Section, View

#: whole-trace figures in the order a reader compares them with HTA's and TraceLens's
WHOLE_TRACE = (
    ("window_ms", "window"), ("busy_ms", "busy"), ("idle_ms", "idle"), ("computation_ms", "computation"),
    ("comm_ms", "communication"), ("memcpy_ms", "memcpy + memset"), ("exposed_comm_ms", "exposed communication"),
    ("exposed_memcpy_ms", "exposed memcpy"),
)


@dataclass(frozen=True)
class IdleGaps:
    host_launch_bound: float = 0.0
    kernel_wait: float = 0.0
    other: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Device:
    busy_pct: float | None = None
    kernels_per_step: float | None = None
    idle_gaps_ms_per_step: IdleGaps | None = None
    occupancy_estimate: float | None = None
    occupancy_note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Gpu:
    devices: dict[str, Device] = field(default_factory=dict)
    launch_calls_per_step: float | None = None
    launch_delay_us: dict[str, Any] | None = None
    whole_trace: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _whole(w: dict[str, Any]) -> tuple[Block, ...]:
    """The whole-trace figures: flat (one device) or one row per device."""
    per = w.get("devices") if isinstance(w.get("devices"), dict) else {"": w}
    keys = [(k, label) for k, label in WHOLE_TRACE if any(isinstance(d.get(k), (int, float)) for d in per.values())]
    if not keys:
        return ()
    rows = []
    for dev, d in per.items():
        if not isinstance(d, dict):
            continue
        win = d.get("window_ms")
        for k, label in keys:
            v = d.get(k)
            share = f"{100 * v / win:.1f}" if isinstance(v, (int, float)) and isinstance(win, (int, float)) and win else ""
            rows.append((str(dev), label, "–" if not isinstance(v, (int, float)) else f"{v:,.3f}", share))
    out: list[Block] = [Table("device timeline over the whole trace (first to last device activity)",
                              cols("device", "figure", "ms>", "% of window>"), tuple(rows), key="whole_trace")]
    ov = w.get("comm_overlap_pct")
    if isinstance(ov, (int, float)):
        out.append(Line(f"communication overlapped by computation: {ov:.1f}%", "dim"))
    return tuple(out)


def show(g: Gpu, view: View) -> tuple[Block, ...]:
    out: list[Block] = []
    for d, dv in g.devices.items():
        gaps = dv.idle_gaps_ms_per_step
        line = f"GPU {d}: busy {dv.busy_pct or 0:.1f}% of step ({dv.kernels_per_step or 0:,.0f} kernels/step)"
        if gaps is not None:
            line += (f"; idle gaps per step: host-launch-bound {gaps.host_launch_bound:.3f} ms, kernel wait "
                     f"{gaps.kernel_wait:.3f} ms, other {gaps.other:.3f} ms")
        line += (f"; occupancy ≈ {100 * dv.occupancy_estimate:.0f}%" if dv.occupancy_estimate is not None
                 else f"; occupancy {dv.occupancy_note}" if dv.occupancy_note else "")
        out.append(Line(line, "dim"))
    if g.launch_calls_per_step is not None:
        ld = g.launch_delay_us or {}
        delay = (f", launch→start delay median {ld['median']:.1f} µs (p90 {ld.get('p90', 0):.1f})"
                 if isinstance(ld.get("median"), (int, float)) else "")
        out.append(Line(f"launches: {g.launch_calls_per_step:,.0f} per step{delay}", "dim"))
    if g.whole_trace:
        out.extend(_whole(g.whole_trace))
    return tuple(out)


SECTION = Section(
    key="gpu", title="device timeline", scope=VARIANT, model=Gpu, show=show,
    computed_by="profiler.analysis.gpu.gpu_summary", order=20,
)
