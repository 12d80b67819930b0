"""Per-op tables over the traced steps: calls, inclusive and self time, category; dispatch counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow, in_steps, kind_mask
from profiler.analysis.nesting import self_segments
from profiler.core.events import DEVICE_TID_BASE, KERNEL, MEMCPY, MEMSET, OP, RUNTIME, EventTable
from profiler.core.opkinds import op_kind


def op_table(
    table: EventTable, pid: int | None, steps: list[StepWindow], top: int = 15
) -> list[dict[str, Any]]:
    """The ops (host) and kernels (device) that took the most self time per step, busiest first."""
    sp = table.spans
    n_steps = max(1, len(steps))
    pid_mask = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    rows = np.flatnonzero(
        pid_mask & table.cat_mask(OP, KERNEL, MEMCPY, MEMSET) & in_steps(sp["start_ns"], steps)
    )
    if not len(rows):
        return []
    ends = sp["start_ns"] + sp["dur_ns"]
    self_ns = np.zeros(table.n_spans, np.int64)
    # a host thread is cut whole, as the breakdown cuts it (the same segments, computed once); only
    # the rows in the steps are counted
    thread_ops = pid_mask & table.cat_mask(OP) & (sp["tid"] < DEVICE_TID_BASE)
    for tid in np.unique(sp["tid"][rows]).tolist():
        r = rows[sp["tid"][rows] == tid]
        if tid >= DEVICE_TID_BASE:
            self_ns[r] = sp["dur_ns"][r]
            continue
        whole = np.flatnonzero(thread_ops & (sp["tid"] == tid))
        s, e, owner = self_segments(sp["start_ns"][whole], ends[whole])
        np.add.at(self_ns, whole[owner], e - s)
    names = table.strings.strings
    # one group per (name, host or device): sums by group, no per-row Python
    device = (sp["tid"][rows] >= DEVICE_TID_BASE).astype(np.int64)
    key = sp["name"][rows].astype(np.int64) * 2 + device
    uk, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1)
    calls = np.bincount(inv, minlength=len(uk))
    total = np.bincount(inv, weights=sp["dur_ns"][rows].astype(np.float64), minlength=len(uk))
    own = np.bincount(inv, weights=self_ns[rows].astype(np.float64), minlength=len(uk))
    fl = sp["flops"][rows].astype(np.float64)
    flops = np.bincount(inv, weights=np.where(np.isnan(fl), 0.0, fl), minlength=len(uk))
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    for j, k in enumerate(uk.tolist()):
        agg[(names[k // 2], "device" if k % 2 else "host")] = {
            "calls": int(calls[j]), "total_ns": float(total[j]), "self_ns": float(own[j]), "flops": float(flops[j])
        }
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
    ins = in_steps(sp["start_ns"], steps)
    records = np.flatnonzero(pid_mask & ins & table.cat_mask(OP))
    ops = records[~kind_mask(table, records, "autograd")]
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
