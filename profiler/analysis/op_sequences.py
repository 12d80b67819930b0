"""Frequent op sequences: the chains of small ops a step repeats, with their time (fusion candidates).

An unfused ``nn.LSTMCell`` runs the same chain of small ops (``linear``, ``linear``, ``add``,
``unsafe_chunk``, three ``sigmoid_``, ``tanh`` ...) once per time step, forward and backward; a fused
kernel (cuDNN's RNN, a compiled graph) runs it as one. Such chains are found as repeated n-grams of
**sibling** ops (consecutive children of one parent op, or top-level ops, on one thread) of
:data:`MIN_LEN`–:data:`MAX_LEN` ops, each op shorter than :data:`SMALL_OP_US`, inside the steps:

* an occurrence's time is its wall time (first op's start to last op's end): what fusing the chain
  into one kernel could shrink;
* a chain is reported when it repeats at least :data:`MIN_PER_STEP` times per step; one that only
  occurs inside a longer reported chain (as often) is left out, so the longest form is shown;
* ranked by time per step; its share of the step is given.

Nesting is computed once per thread with numpy (depth from the open/close order, parent by search);
n-grams are hashed into int64 keys and counted with ``np.unique``. Linear in ops (times ``MAX_LEN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow
from profiler.core.events import DEVICE_TID_BASE, OP, EventTable

MIN_LEN, MAX_LEN = 2, 16
#: an op longer than this (µs) is not a "small op" a fused kernel would absorb
SMALL_OP_US = 200.0
#: a chain repeated fewer times than this per step is not reported
MIN_PER_STEP = 2.0
TOP = 8
_P = np.int64(1_000_003)


def _parents(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Per span (sorted by start, longer first on ties) its parent's index, -1 at top level."""
    n = len(s)
    par = np.full(n, -1, np.int64)
    if n < 2:
        return par
    # depth at open from the open/close order (closes first at equal times)
    times = np.concatenate([s, e])
    kind = np.concatenate([np.ones(n, np.int8), np.zeros(n, np.int8)])
    owner = np.concatenate([np.arange(n), np.arange(n)])
    length = e - s
    order = np.lexsort((np.concatenate([np.arange(n), -np.arange(n)]), np.concatenate([-length, length]),
                        kind, times))
    k = kind[order]
    depth_after = np.cumsum(np.where(k == 1, 1, -1))
    depth = np.empty(n, np.int64)
    opens = k == 1
    depth[owner[order][opens]] = depth_after[opens] - 1
    idx = np.arange(n)
    for d in range(1, int(depth.max()) + 1):
        kids = idx[depth == d]
        ups = idx[depth == d - 1]
        if not len(kids) or not len(ups):
            continue
        j = np.searchsorted(ups, kids, side="right") - 1  # the last shallower span opened before
        ok = j >= 0
        par[kids[ok]] = ups[j[ok]]
    return par


def op_sequences(table: EventTable, pid: int | None, steps: Sequence[StepWindow]) -> dict[str, Any] | None:
    """The repeated chains of small sibling ops in ``steps`` (``None`` without steps or ops)."""
    if not steps:
        return None
    sp = table.spans
    m = table.cat_mask(OP) & (sp["tid"] < DEVICE_TID_BASE)
    if pid is not None:
        m &= sp["pid"] == pid
    ws = np.array([w.start_ns for w in steps], np.int64)
    we = np.array([w.end_ns for w in steps], np.int64)
    rows = np.flatnonzero(m)
    k = np.searchsorted(ws, sp["start_ns"][rows], side="right") - 1
    rows = rows[(k >= 0) & (sp["start_ns"][rows] < we[np.maximum(k, 0)])]
    if len(rows) < MIN_LEN:
        return None
    n_steps = len(steps)
    step_ms = float((we - ws).sum()) / 1e6 / n_steps
    small_ns = SMALL_OP_US * 1e3
    # per thread: order, parents, then one long array of sibling runs
    names_l, par_l, s_l, e_l, pn_l = [], [], [], [], []
    base = 0
    for tid in np.unique(sp["tid"][rows]).tolist():
        r = rows[sp["tid"][rows] == tid]
        r = r[np.lexsort((-sp["dur_ns"][r], sp["start_ns"][r]))]
        s, e = sp["start_ns"][r], sp["start_ns"][r] + sp["dur_ns"][r]
        par = _parents(s, e)
        # siblings together: by parent (top level: -1 → its own group per thread), then start
        o = np.lexsort((s, par))
        names_l.append(sp["name"][r][o].astype(np.int64))
        pn_l.append(np.where(par[o] >= 0, sp["name"][r][np.maximum(par[o], 0)], -1))
        par_l.append(np.where(par[o] >= 0, par[o] + base, -1 - tid % (1 << 20)))
        s_l.append(s[o])
        e_l.append(e[o])
        base += len(r)
    names = np.concatenate(names_l)
    parent = np.concatenate(par_l)
    start = np.concatenate(s_l)
    end = np.concatenate(e_l)
    parent_name = np.concatenate(pn_l)
    small = (end - start) <= small_ns
    n = len(names)
    strings = table.strings.strings
    # 1. every length's frequent chains, keys grown one op at a time (a rolling hash)
    per_len: dict[int, list[tuple[int, int, float]]] = {}  # length -> (first row, count, wall ns)
    key = names.copy()
    same = np.ones(n, bool)  # all ops of the chain under one parent
    allsmall = small.copy()
    for length in range(2, MAX_LEN + 1):
        m_ = n - length + 1
        if m_ <= 0:
            break
        key = key[:m_] * _P + names[length - 1:]  # wraps modulo 2**64: a hash, collisions negligible
        same = same[:m_] & (parent[:m_] == parent[length - 1:])
        allsmall = allsmall[:m_] & small[length - 1:]
        if length < MIN_LEN:
            continue
        at = np.flatnonzero(same & allsmall)
        if not len(at):
            continue
        _, first_i, inv, cnt = np.unique(key[at], return_index=True, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        wall = np.bincount(inv, weights=(end[at + length - 1] - start[at]).astype(np.float64))
        good = np.flatnonzero(cnt / n_steps >= MIN_PER_STEP)
        best = good[np.argsort(-wall[good])][: 4 * TOP]
        # the most frequent first: of a repeated unit's rotations ("x y" vs "y x") the one that
        # starts where the repetition starts occurs most often
        best = best[np.lexsort((-wall[best], -cnt[best]))]
        per_len[length] = [(int(at[first_i[g]]), int(cnt[g]), float(wall[g])) for g in best.tolist()]
    # 2. the longest forms first; windows of what is already shown are left out
    found: list[dict[str, Any]] = []
    chosen: list[tuple[tuple[int, ...], float]] = []
    for length in sorted(per_len, reverse=True):
        for first, count, wall_ns in per_len[length]:
            chain = tuple(int(x) for x in names[first: first + length])
            if _period(chain) < length:
                continue  # "a b a b a": a shorter unit repeated; the unit itself says it
            c = count / n_steps
            # a window of a longer chain, or of its repetition (the autograd thread runs the cells'
            # backward chains back to back): the same repeated work, already shown
            if any((_inside(chain, big) and bc >= 0.9 * c) or (_inside(chain, big + big) and bc >= 0.45 * c)
                   for big, bc in chosen):
                continue
            chosen.append((chain, c))
            ms = wall_ns / 1e6 / n_steps
            found.append({
                "ops": [strings[i] for i in chain],
                "length": length,
                "per_step": c,
                "ms_per_step": ms,
                "step_pct": 100.0 * ms / step_ms if step_ms else None,
                "mean_us": wall_ns / 1e3 / count,
                "inside": strings[int(parent_name[first])] if parent_name[first] >= 0 else None,
            })
    found.sort(key=lambda f: -f["ms_per_step"])
    found = found[:TOP]
    out: dict[str, Any] = {
        "basis": f"repeated chains of {MIN_LEN}–{MAX_LEN} sibling ops, each under {SMALL_OP_US:g} µs, "
                 f"at least {MIN_PER_STEP:g}× per step; time = the chain's wall time",
        "steps": n_steps,
        "sequences": found,
    }
    if found:
        f = found[0]
        out["sentence"] = (
            f"fusion candidate: {' → '.join(_short(o) for o in f['ops'])} runs {f['per_step']:.0f}× per step, "
            f"{f['ms_per_step']:.2f} ms ({f['step_pct']:.0f}% of the step)"
            + (f", inside {_short(f['inside'])}" if f.get("inside") else "")
            + "; a fused kernel would run it once"
        )
    else:
        out["sentence"] = "no chain of small ops repeats within the steps"
    return out


def _inside(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    n = len(small)
    return len(big) > n and any(big[i: i + n] == small for i in range(len(big) - n + 1))


def _period(chain: tuple[int, ...]) -> int:
    """The shortest p with chain[i] == chain[i + p] for every i (len(chain) when none)."""
    n = len(chain)
    return next((p for p in range(1, n) if chain[p:] == chain[:-p]), n)


def _short(name: str) -> str:
    return name.removeprefix("aten::").removeprefix("autograd::engine::evaluate_function: ")
