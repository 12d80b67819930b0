"""Frequent op sequences: the chains of small ops a step repeats, with their time (fusion candidates).

:func:`op_sequences` finds repeated chains of sibling ops (consecutive children of one op, or
top-level ops, on one thread), each op shorter than :data:`SMALL_OP_US`, repeating at least
:data:`MIN_PER_STEP` times per step; it ranks them by their ops' time per step, each instant
counted for one chain only, the longest form shown. Pure, linear in ops. What is counted and why,
and the known answer (an unfused ``nn.LSTMCell``): ``docs/traces.md`` ("Analyses").
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
    names_l, par_l, s_l, e_l, pn_l, pp_l = [], [], [], [], [], []
    base = 0
    for tid in np.unique(sp["tid"][rows]).tolist():
        r = rows[sp["tid"][rows] == tid]
        r = r[np.lexsort((-sp["dur_ns"][r], sp["start_ns"][r]))]
        s, e = sp["start_ns"][r], sp["start_ns"][r] + sp["dur_ns"][r]
        par = _parents(s, e)
        # siblings together: by parent (top level: -1 → its own group per thread), then start
        o = np.lexsort((s, par))
        where = np.empty(len(o), np.int64)
        where[o] = np.arange(len(o))  # a span's position after the reordering
        names_l.append(sp["name"][r][o].astype(np.int64))
        pn_l.append(np.where(par[o] >= 0, sp["name"][r][np.maximum(par[o], 0)], -1))
        par_l.append(np.where(par[o] >= 0, par[o] + base, -1 - tid % (1 << 20)))
        pp_l.append(np.where(par[o] >= 0, where[np.maximum(par[o], 0)] + base, -1))
        s_l.append(s[o])
        e_l.append(e[o])
        base += len(r)
    names = np.concatenate(names_l)
    parent = np.concatenate(par_l)  # an id of the parent (equal for siblings), not a position
    parent_pos = np.concatenate(pp_l)  # the parent's position in these arrays, -1 at top level
    start = np.concatenate(s_l)
    end = np.concatenate(e_l)
    parent_name = np.concatenate(pn_l)
    dur = (end - start).astype(np.float64)
    small = (end - start) <= small_ns
    n = len(names)
    strings = table.strings.strings
    # each op's self time (its duration less its children's): the time that is the op's own, so a
    # chain's ops, their children and nothing else (not the parent's own time between them) is what
    # the chain costs, and no instant is counted twice
    child = np.zeros(n, np.float64)
    has_parent = parent_pos >= 0
    np.add.at(child, parent_pos[has_parent], dur[has_parent])
    self_ns = np.maximum(dur - child, 0.0)
    # 1. every length's frequent chains, keys grown one op at a time (a rolling hash); the time of an
    # occurrence is the sum of its ops' durations (rolling too)
    per_len: dict[int, list[tuple[int, int, float, float]]] = {}  # length -> (first row, count, op ns, wall ns)
    occ: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # length -> (positions, their keys)
    key = names.copy()
    acc = dur.copy()
    same = np.ones(n, bool)  # all ops of the chain under one parent
    allsmall = small.copy()
    for length in range(2, MAX_LEN + 1):
        m_ = n - length + 1
        if m_ <= 0:
            break
        key = key[:m_] * _P + names[length - 1:]  # wraps modulo 2**64: a hash, collisions negligible
        acc = acc[:m_] + dur[length - 1:]
        same = same[:m_] & (parent[:m_] == parent[length - 1:])
        allsmall = allsmall[:m_] & small[length - 1:]
        if length < MIN_LEN:
            continue
        at = np.flatnonzero(same & allsmall)
        if not len(at):
            continue
        _, first_i, inv, cnt = np.unique(key[at], return_index=True, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        optime = np.bincount(inv, weights=acc[at])
        wall = np.bincount(inv, weights=(end[at + length - 1] - start[at]).astype(np.float64))
        good = np.flatnonzero(cnt / n_steps >= MIN_PER_STEP)
        best = good[np.argsort(-optime[good])][: 4 * TOP]
        # the most frequent first: of a repeated unit's rotations ("x y" vs "y x") the one that
        # starts where the repetition starts occurs most often
        best = best[np.lexsort((-optime[best], -cnt[best]))]
        per_len[length] = [(int(at[first_i[g]]), int(cnt[g]), float(optime[g]), float(wall[g]))
                           for g in best.tolist()]
        if len(best):
            occ[length] = (at, key[at])
    # 2. the longest forms first; windows of what is already shown are left out
    cand: list[tuple[float, int, int, int, float]] = []  # (op ns, length, first row, count, wall ns)
    chosen: list[tuple[tuple[int, ...], float]] = []
    for length in sorted(per_len, reverse=True):
        for first, count, op_ns, wall_ns in per_len[length]:
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
            cand.append((op_ns, length, first, count, wall_ns))
    cand.sort(key=lambda x: -x[0])
    # 3. the time each chain shown adds: its ops and their children not already counted for another
    # chain (a chain inside another's ops, or sharing an op with it, is not counted twice), so the
    # chains' times add up and their shares sum to at most 100%. The deepest chains count first: the
    # small ops inside an outer op are the candidate, the outer chain keeps what is left of it
    depth = np.zeros(n, np.int64)
    for _ in range(n):
        d = np.where(has_parent, depth[np.maximum(parent_pos, 0)] + 1, 0)
        if np.array_equal(d, depth):
            break
        depth = d
    claimed = np.zeros(n, bool)
    found: list[dict[str, Any]] = []
    for op_ns, length, first, count, wall_ns in sorted(cand[: 2 * TOP], key=lambda x: (-depth[x[2]], -x[0])):
        at, keys = occ[length]
        pos = at[keys == key_of(names, first, length)]
        mark = np.zeros(n, bool)
        mark[(pos[:, None] + np.arange(length)).reshape(-1)] = True
        while True:  # their descendants, one nesting level per pass
            grow = has_parent & ~mark
            grow[grow] = mark[parent_pos[grow]]
            if not grow.any():
                break
            mark |= grow
        own = mark & ~claimed
        excl_ns = float(self_ns[own].sum())
        claimed |= mark
        if excl_ns <= 0:
            continue  # wholly inside a chain already counted
        found.append({
            "ops": [strings[i] for i in names[first: first + length].tolist()],
            "length": length,
            "per_step": count / n_steps,
            "ms_per_step": excl_ns / 1e6 / n_steps,
            "chain_ms_per_step": op_ns / 1e6 / n_steps,
            "span_ms_per_step": wall_ns / 1e6 / n_steps,
            "mean_us": op_ns / 1e3 / count,
            "inside": strings[int(parent_name[first])] if parent_name[first] >= 0 else None,
        })
    found.sort(key=lambda f: -f["ms_per_step"])
    found = found[:TOP]
    # the step the shares cite: its wall time, or where threads ran ops at the same time (their op
    # time per step exceeds the step), their op time, so that the shares still add up to ≤ 100%
    ops_ms = float(self_ns.sum()) / 1e6 / n_steps
    basis_ms = max(step_ms, ops_ms)
    share_of = "the step" if basis_ms == step_ms else "the op time of all threads (they overlapped)"
    for f in found:
        f["step_pct"] = 100.0 * f["ms_per_step"] / basis_ms if basis_ms else None
    out: dict[str, Any] = {
        "basis": f"repeated chains of {MIN_LEN}–{MAX_LEN} sibling ops, each under {SMALL_OP_US:g} µs, "
                 f"at least {MIN_PER_STEP:g}× per step; time = the chain's ops (their self time and "
                 "their children's), not the parent's own time between them, each instant counted once",
        "steps": n_steps,
        "share_of": share_of,
        "share_basis_ms": basis_ms,
        "total_pct": sum(f["step_pct"] or 0.0 for f in found),
        "sequences": found,
    }
    if found:
        f = found[0]
        out["sentence"] = (
            f"fusion candidate: {' → '.join(_short(o) for o in f['ops'])} runs {f['per_step']:.0f}× per step, "
            f"{f['ms_per_step']:.2f} ms of its ops ({f['step_pct']:.0f}% of {share_of})"
            + (f", inside {_short(f['inside'])}" if f.get("inside") else "")
            + "; a fused kernel would run it once"
        )
    else:
        out["sentence"] = "no chain of small ops repeats within the steps"
    return out


def key_of(names: np.ndarray, first: int, length: int) -> np.int64:
    """The rolling hash of ``names[first: first + length]``, as the search computes it."""
    k = names[first: first + 1].copy()
    for i in range(first + 1, first + length):
        k = k * _P + names[i: i + 1]
    return k[0]


def _inside(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    n = len(small)
    return len(big) > n and any(big[i: i + n] == small for i in range(len(big) - n + 1))


def _period(chain: tuple[int, ...]) -> int:
    """The shortest p with chain[i] == chain[i + p] for every i (len(chain) when none)."""
    n = len(chain)
    return next((p for p in range(1, n) if chain[p:] == chain[:-p]), n)


def _short(name: str) -> str:
    return name.removeprefix("aten::").removeprefix("autograd::engine::evaluate_function: ")
