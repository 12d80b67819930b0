"""Queue length per stream (HTA's): how many launched device operations wait to start. A stream
whose queue stays long is fed faster than it runs (the device bounds the step); one that empties
between launches starves (the host bounds it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line, Table, cols
from profiler.sections.registry import VARIANT, Section, View

SHOWN = 8


@dataclass(frozen=True)
class StreamQueue:
    changes: float
    mean: float
    median: float
    max: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Queue:
    devices: dict[str, dict[str, StreamQueue]]
    definition: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _raw(d: dict[str, Any]) -> Any:
    g = d.get("gpu")
    return g.get("queue") if isinstance(g, dict) else None


def show(q: Queue, view: View) -> tuple[Block, ...]:
    rows = [(dev, stream, f"{s.mean:,.1f}", f"{s.median:,.0f}", f"{s.max:,.0f}", f"{s.changes:,.0f}")
            for dev, streams in q.devices.items()
            for stream, s in sorted(streams.items(), key=lambda kv: -kv[1].mean)[:SHOWN]]
    if not rows:
        return ()
    out: list[Block] = [Table("queue length per stream (operations launched, not yet started)",
                              cols("device", "stream", "mean>", "median>", "max>", "changes>"), tuple(rows),
                              key="streams")]
    deep = max(((s.mean, dev, st) for dev, ss in q.devices.items() for st, s in ss.items()), default=None)
    if deep is not None and deep[0] >= 2:
        out.append(Line(f"stream {deep[2]} of device {deep[1]} keeps {deep[0]:,.1f} operations queued on average: "
                        "the host launches ahead of the device there, so that stream's device work bounds it", "dim"))
    if q.definition:
        out.append(Line(f"queue length: {q.definition}", "dim"))
    return tuple(out)


SECTION = Section(
    key="gpu_queue", title="queue length", scope=VARIANT, model=Queue, show=show,
    computed_by="profiler.analysis.gpu_timeline.queue_length", order=22, raw=_raw,
)
