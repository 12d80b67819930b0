"""Per-op tables over the traced steps: calls, inclusive and self time, category; dispatch counts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow
from profiler.analysis.intervals import innermost_segments
from profiler.core.events import DEVICE_TID_BASE, KERNEL, MEMCPY, MEMSET, OP, RUNTIME, EventTable
from profiler.core.opkinds import op_kind


def _in_steps(starts: np.ndarray, steps: list[StepWindow]) -> np.ndarray:
    m = np.zeros(len(starts), bool)
    for w in steps:
        m |= (starts >= w.start_ns) & (starts < w.end_ns)
    return m


def op_table(
    table: EventTable, pid: int | None, steps: list[StepWindow], top: int = 15
) -> list[dict[str, Any]]:
    """The ops (host) and kernels (device) that took the most self time per step, busiest first."""
    sp = table.spans
    n_steps = max(1, len(steps))
    pid_mask = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    rows = np.flatnonzero(
        pid_mask & table.cat_mask(OP, KERNEL, MEMCPY, MEMSET) & _in_steps(sp["start_ns"], steps)
    )
    if not len(rows):
        return []
    ends = sp["start_ns"] + sp["dur_ns"]
    self_ns = np.zeros(table.n_spans, np.int64)
    for tid in np.unique(sp["tid"][rows]).tolist():
        r = rows[sp["tid"][rows] == tid]
        if tid >= DEVICE_TID_BASE:
            self_ns[r] = sp["dur_ns"][r]
            continue
        s, e, owner = innermost_segments(sp["start_ns"][r], ends[r])
        np.add.at(self_ns, r[owner], e - s)
    agg: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "total_ns": 0, "self_ns": 0, "flops": 0.0}
    )
    names = table.strings.strings
    for r in rows.tolist():
        where = "device" if sp["tid"][r] >= DEVICE_TID_BASE else "host"
        a = agg[(names[sp["name"][r]], where)]
        a["calls"] += 1
        a["total_ns"] += int(sp["dur_ns"][r])
        a["self_ns"] += int(self_ns[r])
        f = float(sp["flops"][r])
        if f == f:
            a["flops"] += f
    out = []
    for (name, where), a in agg.items():
        kind, cat = op_kind(name)
        out.append(
            {
                "name": name,
                "where": where,
                "kind": kind,
                "category": cat,
                "calls_per_step": a["calls"] / n_steps,
                "self_ms_per_step": a["self_ns"] / n_steps / 1e6,
                "total_ms_per_step": a["total_ns"] / n_steps / 1e6,
                "flops_per_step": a["flops"] / n_steps if a["flops"] else None,
            }
        )
    out.sort(key=lambda d: -d["self_ms_per_step"])
    return out[:top]


def dispatch_counts(table: EventTable, pid: int | None, steps: list[StepWindow]) -> dict[str, float]:
    """Per step: framework ops dispatched (every level of nesting; the tracer's autograd bookkeeping
    records are not dispatches), top-level ops, all op records, device kernels, runtime calls."""
    sp = table.spans
    n = max(1, len(steps))
    pid_mask = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    ins = _in_steps(sp["start_ns"], steps)
    records = np.flatnonzero(pid_mask & ins & table.cat_mask(OP))
    names = table.strings.strings
    uniq = np.unique(sp["name"][records]) if len(records) else np.empty(0, np.int64)
    bookkeeping = [int(i) for i in uniq.tolist() if op_kind(names[i])[0] == "autograd"]
    ops = records[~np.isin(sp["name"][records], bookkeeping)] if bookkeeping else records
    top = 0
    if len(ops):
        # top-level: not inside another op of the same thread
        for tid in np.unique(sp["tid"][ops]).tolist():
            r = ops[sp["tid"][ops] == tid]
            order = np.argsort(sp["start_ns"][r], kind="stable")
            s = sp["start_ns"][r][order]
            e = (sp["start_ns"] + sp["dur_ns"])[r][order]
            run_end = np.maximum.accumulate(np.concatenate([[np.iinfo(np.int64).min], e[:-1]]))
            top += int((s >= run_end).sum())
    return {
        "ops": len(ops) / n,
        "top_level_ops": top / n,
        "records": len(records) / n,
        "kernels": int((pid_mask & ins & table.cat_mask(KERNEL)).sum()) / n,
        "runtime_calls": int((pid_mask & ins & table.cat_mask(RUNTIME)).sum()) / n,
    }
