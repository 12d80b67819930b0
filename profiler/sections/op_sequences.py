"""Repeated chains of small ops per step: fusion candidates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.op_sequences import op_sequences
from profiler.analysis.variant import VariantInputs
from profiler.sections.blocks import Block, Line, Table, cols, fmt_ms, short
from profiler.sections.registry import VARIANT, Section, View, calls

SHOWN = 5


@dataclass(frozen=True)
class Chain:
    ops: tuple[str, ...]
    per_step: float
    ms_per_step: float
    step_pct: float | None = None
    inside: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpSequences:
    basis: str = ""
    sentence: str = ""
    sequences: tuple[Chain, ...] = ()
    share_of: str = "the step"
    total_pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def show(sq: OpSequences, view: View) -> tuple[Block, ...]:
    if not sq.sequences:
        return ()
    rows = []
    for f in sq.sequences[:SHOWN]:
        ops = [short(o.removeprefix("aten::"), 22) for o in f.ops]
        chain = " → ".join(ops if len(ops) <= 6 else [*ops[:5], f"… ({len(ops)} ops)"])
        rows.append((chain, short(f.inside or "top level", 24), f"{f.per_step:.0f}", fmt_ms(f.ms_per_step),
                     f"{f.step_pct:.0f}" if f.step_pct is not None else ""))
    pct = "% step" if sq.share_of == "the step" else "% op time"
    total = (f"; the chains together: {sq.total_pct:.0f}% of {sq.share_of}, each instant counted once"
             if sq.total_pct is not None else "")
    return (Table(f"repeated op chains per step ({sq.basis})", cols("chain", "inside", "×/step>", "ms/step>", f"{pct}>"),
                  tuple(rows), key="chains"), Line(sq.sentence + total, "dim"))


SECTION = Section(
    key="op_sequences", title="repeated op chains", scope=VARIANT, model=OpSequences, show=show,
    compute=calls(op_sequences, VariantInputs.in_steps), when=VariantInputs.has_steps, order=45,
)
