"""``profiler explain``'s result as blocks (:mod:`profiler.sections.blocks`), so every renderer draws
it as it draws a run's sections: the sentence, the gap split by category, the ops behind it, the
warnings. Not a registered section (no ``SECTION``): an explanation is about two runs, not one."""

from __future__ import annotations

from typing import Any

from profiler.core.categories import CATEGORIES, LABELS
from profiler.sections.blocks import Block, Column, Line, Table


def _ms(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "–"


def explanation_blocks(e: dict[str, Any]) -> tuple[Block, ...]:
    """The blocks of one explanation (:func:`profiler.analysis.explain.explain_runs`' result)."""
    out: list[Block] = [Line(str(e["sentence"]), "strong")]
    comp = e.get("compares") or {}
    out += [Line(f"{side}: {comp[side]}", "dim") for side in ("fast", "slow") if comp.get(side)]
    basis = e.get("gap_basis") or "traced steps (uncompensated)"
    cat_ms = e.get("category_ms") or {}
    fast_ms, slow_ms = cat_ms.get("fast") or {}, cat_ms.get("slow") or {}
    cols = [Column("category")]
    if cat_ms:
        cols += [Column(f"fast: {e['fast']}"[:40], True), Column(f"slow: {e['slow']}"[:40], True)]
    cols += [Column("Δ ms/step", True), Column("share of gap", True)]
    rows = []
    for c in CATEGORIES:
        row = [LABELS[c]]
        if cat_ms:
            row += [_ms(fast_ms.get(c)), _ms(slow_ms.get(c))]
        share = e["category_share_pct"][c]
        rows.append((*row, f"{e['category_delta_ms'][c]:+.3f}", f"{share:.0f}%" if round(share) else "0%"))
    out.append(Table(f"where the gap comes from (ms per step of {basis}; fast, slow, slow − fast)",
                     tuple(cols), tuple(rows), key="gap"))
    if e.get("top_op_deltas"):
        out.append(Table(
            "ops that account for it",
            (Column("op"), Column("where"), Column("calls/step fast", True), Column("calls/step slow", True),
             Column("Δ self ms/step", True)),
            tuple((o["name"][:48], o["where"], f"{o['calls_fast']:,.0f}", f"{o['calls_slow']:,.0f}",
                   f"{o['delta_ms']:+.3f}") for o in e["top_op_deltas"]),
            key="ops",
        ))
    out += [Line(f"warning: {w}", "warn") for w in e.get("warnings") or []]
    for side in ("a", "b"):
        src = (e.get("imported") or {}).get(side)
        if src:
            out.append(Line(f"{src}: imported as {(e.get('runs') or {}).get(side)}", "dim"))
    return tuple(out)
