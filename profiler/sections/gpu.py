"""The device timeline: busy and idle time per device, idle gaps, launches; the whole trace's figures
(window = first to last device activity, as HTA and TraceLens take it) where the analysis gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.gpu import gpu_summary
from profiler.analysis.variant import VariantInputs
from profiler.sections.blocks import Block, Line, Table, cols
from profiler.sections.registry import VARIANT, Section, View, calls
from profiler.sections.typed import number

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


def _timeline(w: dict[str, Any] | None, per: dict[str, Any] | None) -> tuple[Block, ...]:
    """The device timeline as HTA and TraceLens define it: the whole trace and the mean step."""
    keys = [(k, label) for k, label in WHOLE_TRACE if number(w, k) is not None or number(per, k) is not None]
    if not keys:
        return ()
    win = number(w, "window_ms")
    rows = []
    for k, label in keys:
        v, p = number(w, k), number(per, k)
        rows.append((label, "–" if v is None else f"{v:,.3f}", f"{100 * v / win:.1f}" if v is not None and win else "",
                     "–" if p is None else f"{p:,.3f}"))
    dev = (w or per or {}).get("device")
    out: list[Block] = [Table(f"device {dev} timeline: whole trace (first to last device activity) and the mean step",
                              cols("figure", "whole trace ms>", "% of window>", "per step ms>"), tuple(rows),
                              key="timeline")]
    ov = number(w, "comm_overlap_pct")
    if ov is not None:
        out.append(Line(f"communication overlapped by computation (HTA's definition): {ov:.1f}% over the whole trace",
                        "dim"))
    return tuple(out)


def _idle_split(d: dict[str, Any]) -> Line | None:
    h, k, o = number(d, "host_wait_ms"), number(d, "kernel_wait_ms"), number(d, "other_ms")
    if h is None or k is None or o is None:
        return None
    return Line(f"idle split (HTA's, summed over streams): host wait {h:,.3f} ms, kernel wait {k:,.3f} ms "
                f"(gaps < {number(d, 'kernel_wait_threshold_us') or 30:g} µs), other {o:,.3f} ms", "dim")


def show(g: Gpu, view: View) -> tuple[Block, ...]:
    out: list[Block] = []
    hta_idle = isinstance(g.extra.get("idle_split"), dict)
    for d, dv in g.devices.items():
        # where HTA's idle split is given, it is the one split shown (two rules for one word mislead)
        gaps = None if hta_idle else dv.idle_gaps_ms_per_step
        line = f"GPU {d}: busy {dv.busy_pct or 0:.1f}% of step ({dv.kernels_per_step or 0:,.0f} kernels/step)"
        if gaps is not None:
            line += (f"; idle gaps per step: host-launch-bound {gaps.host_launch_bound:.3f} ms, kernel wait "
                     f"{gaps.kernel_wait:.3f} ms, other {gaps.other:.3f} ms")
        line += (f"; occupancy ≈ {100 * dv.occupancy_estimate:.0f}%" if dv.occupancy_estimate is not None
                 else f"; occupancy {dv.occupancy_note}" if dv.occupancy_note else "")
        out.append(Line(line, "dim"))
    # the launch statistics have a section of their own (one count, one delay): said there only
    has_launches = view.entry is not None and bool(view.entry.sections.get("launches"))
    if g.launch_calls_per_step is not None and not has_launches:
        ld = g.launch_delay_us or {}
        delay = (f", launch delay median {ld['median']:,.1f} µs (p90 {ld.get('p90') or 0:,.1f})"
                 if isinstance(ld.get("median"), (int, float)) else "")
        out.append(Line(f"launches: {g.launch_calls_per_step:,.0f} launch calls per step{delay}", "dim"))
        if isinstance(ld.get("definition"), str):
            out.append(Line(f"launch delay: {ld['definition']}", "dim"))
    per = g.extra.get("per_step") if isinstance(g.extra.get("per_step"), dict) else None
    out.extend(_timeline(g.whole_trace, per))
    idle = g.extra.get("idle_split")
    line = _idle_split(idle) if isinstance(idle, dict) else None
    if line is not None:
        out.append(line)
    return tuple(out)


SECTION = Section(
    key="gpu", title="device timeline", scope=VARIANT, model=Gpu, show=show,
    compute=calls(gpu_summary, VariantInputs.on_device), when=VariantInputs.has_steps, order=20,
)
