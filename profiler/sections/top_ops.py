"""The ops that took the most self time per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.ops import op_table
from profiler.analysis.variant import VariantInputs
from profiler.core.categories import LABELS
from profiler.sections.blocks import Block, Table, cols, fmt_ms, short
from profiler.sections.registry import VARIANT, Section, View, calls


@dataclass(frozen=True)
class Op:
    name: str
    where: str
    category: str
    calls_per_step: float
    self_ms_per_step: float
    extra: dict[str, Any] = field(default_factory=dict)


def show(ops: tuple[Op, ...], view: View) -> tuple[Block, ...]:
    if not ops:
        return ()
    rows = tuple((short(o.name, 48), o.where, LABELS.get(o.category, o.category), f"{o.calls_per_step:,.0f}",
                  fmt_ms(o.self_ms_per_step)) for o in ops[: view.top])
    return (Table("top ops by self time", cols("op", "where", "category", "calls/step>", "self ms/step>"), rows,
                  key="ops"),)


SECTION = Section(
    key="top_ops", title="top ops", scope=VARIANT, model=tuple[Op, ...], show=show,
    compute=calls(op_table, VariantInputs.in_steps), when=VariantInputs.has_steps, order=30, detail=True,
)
