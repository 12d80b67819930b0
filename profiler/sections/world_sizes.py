"""The seed's 1 × GPU vs N × GPU columns: step time, throughput, speedup, efficiency per world size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.ranks import scaling_table
from profiler.sections.blocks import Block, Table, cols, fmt_ms
from profiler.sections.registry import RUN, Section, View, calls


@dataclass(frozen=True)
class WorldSize:
    framework: str
    variant: str
    mode: str
    world_size: int
    step_ms: float | None
    speedup: float
    efficiency: float
    time_ratio: float
    items_per_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def show(rows: tuple[WorldSize, ...], view: View) -> tuple[Block, ...]:
    if not rows:
        return ()
    return (Table("scaling: same per-rank batch, 1 vs N ranks",
                  cols("variant", "ranks>", "step ms>", "items/s>", "speedup>", "efficiency>", "time for same data>"),
                  tuple((f"{r.framework} · {r.variant} · {r.mode}", str(r.world_size), fmt_ms(r.step_ms),
                         f"{r.items_per_s:,.0f}" if r.items_per_s else "–", f"{r.speedup:.2f}×",
                         f"{100 * r.efficiency:.0f}%", f"{r.time_ratio:.2f}×") for r in rows), key="world_sizes"),)


SECTION = Section(
    key="world_sizes", title="world sizes", scope=RUN, model=tuple[WorldSize, ...], show=show,
    compute=calls(scaling_table, lambda run: (run.variants,)),
    when=lambda run: run.by_world_size, order=90,
)
