"""Many ranks of one data-parallel run: clock alignment, merge, stragglers, overlap, scaling.

Pure functions of what the ranks recorded; nothing here imports a framework or touches files.
Entry points: :func:`pingpong_offset`/:func:`align_clocks` (NTP's four-timestamp exchange, the
fastest round's offset and its error bound), :func:`merge_rank_traces`, the straggler (most busy
time per step, the category with the largest excess), HTA's communication/computation overlap and
the scaling table. The rules, with the figures they were checked on: ``docs/distributed.md``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow
from profiler.analysis.intervals import clip, innermost_segments, merge
from profiler.core.categories import CATEGORIES
from profiler.core.events import COLLECTIVE, DEVICE_TID_BASE, KERNEL, OP, STEP, EventTable
from profiler.core.opkinds import op_kind

# ------------------------------------------------------------------------------------- clocks


@dataclass
class ClockAlignment:
    reference_rank: int
    #: add to rank r's timestamps to put them on the reference rank's clock
    offsets_ns: dict[int, int]
    #: the exchange's estimate, whether applied or not
    measured_offsets_ns: dict[int, int]
    #: how far rank r's aligned timestamps can still be off: 0 on a shared clock, else half the
    #: fastest round trip (the ping-pong's error bound)
    residual_ns: dict[int, int]
    #: half the fastest round trip per rank: the exchange's own error bound
    bound_ns: dict[int, int]
    #: per rank: "shared clock" (same host and boot) or "exchange" (offset applied)
    basis: dict[int, str]
    rounds: int
    drift_ns: dict[int, int] | None = None

    @property
    def max_residual_ns(self) -> int:
        return max(self.residual_ns.values(), default=0)

    @property
    def exchange_error_ns(self) -> int | None:
        """The largest measured offset between ranks that share a clock (truth 0): the method's
        error where it can be checked; None when no rank shares the reference's clock."""
        shared = [abs(self.measured_offsets_ns[r]) for r, b in self.basis.items()
                  if b == "shared clock" and r != self.reference_rank]
        return max(shared) if shared else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("offsets_ns", "measured_offsets_ns", "residual_ns", "bound_ns", "basis", "drift_ns"):
            if d[k] is not None:
                d[k] = {str(r): v for r, v in d[k].items()}
        d["max_residual_ns"] = self.max_residual_ns
        d["exchange_error_ns"] = self.exchange_error_ns
        d["method"] = "ping-pong (NTP-style), fastest round trip"
        return d


def pingpong_offset(rows: Sequence[Sequence[int]]) -> tuple[int, int]:
    """``(offset to add to the peer's clock, error bound)`` from ping-pong rounds.

    Each row is ``(t1, t2, t3, t4)``: the reference sends at ``t1`` (its clock), the peer receives
    at ``t2`` and replies at ``t3`` (its clock), the reference receives at ``t4``. With the round
    trip ``d = (t4 - t1) - (t3 - t2)``, the peer's clock leads by ``((t2 - t1) + (t3 - t4)) / 2``
    within ``± d / 2`` whatever the split of the delay between the two directions; the round with
    the smallest ``d`` (least queueing, least descheduling) gives the tightest bound.
    """
    if not rows:
        raise ValueError("no ping-pong rounds")
    best = min(rows, key=lambda t: (t[3] - t[0]) - (t[2] - t[1]))
    t1, t2, t3, t4 = (int(x) for x in best)
    lead = ((t2 - t1) + (t3 - t4)) // 2
    return -lead, max(0, (t4 - t1) - (t3 - t2)) // 2


def align_clocks(
    samples: Mapping[int, Sequence[Sequence[int]]],
    hosts: Sequence[str],
    end_samples: Mapping[int, Sequence[Sequence[int]]] | None = None,
    reference: int = 0,
) -> ClockAlignment:
    """Offsets that put every rank on the reference rank's clock (see the module docstring).

    ``samples``: per rank other than the reference, its ping-pong rounds with the reference
    (:func:`pingpong_offset`); ``hosts``: per rank, an id of the clock it reads (host name and boot
    id); ``end_samples``: the same exchange at the end of the run, for the drift.
    """
    world = len(hosts)
    missing = [r for r in range(world) if r != reference and not samples.get(r)]
    if missing:
        raise ValueError(f"no clock exchange with rank(s) {missing}")
    measured: dict[int, int] = {reference: 0}
    bound: dict[int, int] = {reference: 0}
    for r in range(world):
        if r != reference:
            measured[r], bound[r] = pingpong_offset(samples[r])
    offsets: dict[int, int] = {}
    basis: dict[int, str] = {}
    residual: dict[int, int] = {}
    for r in range(world):
        shared = hosts[r] == hosts[reference]
        # on a shared clock the true offset is 0: applying the estimate would only add its error
        offsets[r] = 0 if shared else measured[r]
        basis[r] = "shared clock" if shared else "exchange"
        residual[r] = 0 if shared else bound[r]
    drift = None
    if end_samples and all(end_samples.get(r) for r in range(world) if r != reference):
        drift = {r: (pingpong_offset(end_samples[r])[0] - measured[r]) if r != reference else 0
                 for r in range(world)}
    rounds = min(len(v) for k, v in samples.items() if k != reference) if world > 1 else 0
    return ClockAlignment(reference, offsets, measured, residual, bound, basis, rounds, drift)


# -------------------------------------------------------------------------------------- merge


def _with_pids(table: EventTable, moved: Mapping[int, int]) -> EventTable:
    """A copy of ``table`` with each process ``old`` of ``moved`` renumbered ``moved[old]`` (pids of
    two hosts can clash)."""
    t = EventTable(**{k: getattr(table, k) for k in table.__dataclass_fields__})
    old = np.array(sorted(moved), np.int64)
    new = np.array([moved[int(p)] for p in old], np.int64)

    def swap(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pid = cols["pid"]
        hit = np.isin(pid, old)
        if not hit.any():
            return cols
        out = pid.copy()
        out[hit] = new[np.searchsorted(old, pid[hit])]
        return dict(cols, pid=out)

    t.spans, t.counters = swap(table.spans), swap(table.counters)
    t.instants, t.samples = swap(table.instants), swap(table.samples)
    t.processes = {moved.get(p, p): n for p, n in table.processes.items()}
    t.threads = {(moved.get(p, p), tid): n for (p, tid), n in table.threads.items()}
    return t


def merge_ranks(
    tables: Mapping[int, EventTable], pids: Mapping[int, int], offsets_ns: Mapping[int, int],
    labels: Mapping[int, str],
) -> tuple[EventTable, dict[int, int]]:
    """One table with every rank on the reference clock, one process per rank.

    Returns the merged table and the pid each rank ended up with (a pid already taken by a lower
    rank, possible across hosts, is renumbered: :func:`_rank_part`).
    """
    used: set[int] = set()
    out_pids: dict[int, int] = {}
    parts = []
    for r in sorted(tables):
        t, out_pids[r] = _rank_part(tables[r], r, pids[r], offsets_ns.get(r, 0), labels.get(r, f"rank {r}"), used)
        parts.append(t)
    return EventTable.concat(parts), out_pids


#: the first number a process renumbered by :func:`_rank_part` takes (the next ones count up)
_MOVED_PIDS = 1 << 30


def _rank_part(table: EventTable, r: int, pid: int, offset_ns: int, label: str, used: set[int]) -> tuple[EventTable, int]:
    """Rank ``r``'s table as :func:`merge_ranks` puts it in the merged one: on the reference clock,
    its process named ``label``, and each of its processes with events that a lower rank's events
    already use (``used``, updated) renumbered: the host's, and those every rank's trace has
    (Kineto's ``Spans``/``Traces``), whose slices would otherwise overlap another rank's on one
    track. New numbers count up from 2**30: above any real pid (Linux's are below 2**22), positive and
    within the 32 bits trace viewers read a pid in (Perfetto truncates larger ones and files every
    negative one under one process)."""
    t = table.shifted(int(offset_ns))
    pid = int(pid)
    mine = {pid, *_event_pids(t)}
    taken = sum(1 for u in used if u >= _MOVED_PIDS)
    moved = {p: _MOVED_PIDS + taken + i for i, p in enumerate(sorted(mine & used))}
    if moved:
        t = _with_pids(t, moved)
        t.processes = {**t.processes, **{q: f"{t.processes.get(q, q)} (rank {r})" for p, q in moved.items() if p != pid}}
        pid = moved.get(pid, pid)
    used.update(moved.get(p, p) for p in mine)
    t.processes = {**t.processes, pid: label}
    return t, pid


def _event_pids(t: EventTable) -> set[int]:
    """The processes ``t`` has events of (spans, counters, instants, samples)."""
    return {int(p) for cols in (t.spans, t.counters, t.instants, t.samples) for p in np.unique(cols["pid"]).tolist()}


# ---------------------------------------------------------------------------------- overlap


def _in_windows(s: np.ndarray, e: np.ndarray, steps: Sequence[StepWindow]) -> tuple[np.ndarray, np.ndarray]:
    ss, ee = [], []
    for w in steps:
        a, b = clip(s, e, w.start_ns, w.end_ns)
        ss.append(a)
        ee.append(b)
    if not ss:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return merge(np.concatenate(ss), np.concatenate(ee))


def _intersection_ns(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """Length of the intersection of two sets of disjoint sorted intervals."""
    total, i, j = 0, 0, 0
    (as_, ae), (bs, be) = a, b
    while i < len(as_) and j < len(bs):
        lo, hi = max(as_[i], bs[j]), min(ae[i], be[j])
        if hi > lo:
            total += int(hi - lo)
        if ae[i] < be[j]:
            i += 1
        else:
            j += 1
    return total


def comm_overlap(table: EventTable, pid: int, steps: Sequence[StepWindow]) -> dict[str, Any]:
    """Communication time in ``steps`` and the share of it overlapped by computation (per step).

    On a device run: the union of communication kernels and of the other kernels (memcpy/memset
    are neither, as in HTA); on a host-only run: collective spans and communication ops against the
    self time of compute and memory-I/O ops. ``exposed_ms``: communication with no computation
    beside it."""
    sp = table.spans
    pm = sp["pid"] == pid
    ends = sp["start_ns"] + sp["dur_ns"]
    names = table.strings.strings
    comm_s, comm_e = [sp["start_ns"][pm & table.cat_mask(COLLECTIVE)]], [ends[pm & table.cat_mask(COLLECTIVE)]]
    comp_s: list[np.ndarray] = []
    comp_e: list[np.ndarray] = []
    dev = np.flatnonzero(pm & table.cat_mask(KERNEL))
    if len(dev):
        # HTA's and TraceLens' definition: communication kernels against computation kernels (not
        # memcpy/memset); the host's collective calls only enqueue the kernels, they are not counted
        basis = "device kernels"
        comm_s, comm_e = [], []
        comm = np.array([op_kind(names[int(sp["name"][r])])[1] == "communication" for r in dev.tolist()], bool)
        comm_s.append(sp["start_ns"][dev[comm]])
        comm_e.append(ends[dev[comm]])
        comp_s.append(sp["start_ns"][dev[~comm]])
        comp_e.append(ends[dev[~comm]])
    else:
        basis = "host ops"
        ops = np.flatnonzero(pm & table.cat_mask(OP) & (sp["tid"] < DEVICE_TID_BASE))
        for tid in np.unique(sp["tid"][ops]).tolist():
            rows = ops[sp["tid"][ops] == tid]
            s, e, owner = innermost_segments(sp["start_ns"][rows], ends[rows])
            cats = np.array([op_kind(names[int(sp["name"][r])])[1] for r in rows[owner].tolist()], dtype=object)
            c = cats == "communication"
            w = (cats == "compute") | (cats == "memory_io")
            comm_s.append(s[c])
            comm_e.append(e[c])
            comp_s.append(s[w])
            comp_e.append(e[w])
    comm = _in_windows(np.concatenate(comm_s), np.concatenate(comm_e), steps)
    comp = (
        _in_windows(np.concatenate(comp_s), np.concatenate(comp_e), steps)
        if comp_s
        else (np.empty(0, np.int64), np.empty(0, np.int64))
    )
    comm_ns = int((comm[1] - comm[0]).sum())
    both = _intersection_ns(comm, comp)
    n = max(1, len(steps))
    return {
        "basis": basis,
        "communication_ms": comm_ns / n / 1e6,
        "overlapped_ms": both / n / 1e6,
        "exposed_ms": (comm_ns - both) / n / 1e6,
        "overlap_pct": (100.0 * both / comm_ns) if comm_ns else None,
    }


# -------------------------------------------------------------------------------- stragglers

#: Busy times closer than this (max − min over min, %) name no straggler: that is noise here.
STRAGGLER_MIN_SPREAD_PCT = 5.0


def straggler_report(ranks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-rank step times, spread, slowest rank and the category that makes it slow.

    Each rank: ``{"rank": int, "step_ms": median clean step ms or None,
    "breakdown_ms": {category: ms} or None, "traced_step_ms": float or None}``.
    """
    rows = [r for r in ranks if r.get("step_ms")]
    out: dict[str, Any] = {"ranks": len(ranks), "measured": len(rows)}
    if not rows:
        out["sentence"] = "no rank measured any step"
        return out
    steps = {int(r["rank"]): float(r["step_ms"]) for r in rows}
    lo, hi = min(steps.values()), max(steps.values())
    out["step_ms"] = {str(k): v for k, v in sorted(steps.items())}
    out["step_spread_pct"] = 100.0 * (hi - lo) / lo if lo else 0.0
    # a category not measured is None: it adds nothing to a rank's busy time
    bds = {int(r["rank"]): {c: (v or 0.0) for c, v in r["breakdown_ms"].items()}
           for r in rows if r.get("breakdown_ms")}
    if len(bds) == len(rows) and len(rows) > 1:
        busy = {k: sum(v for c, v in bd.items() if c != "communication") for k, bd in bds.items()}
        slow = max(busy, key=lambda k: (busy[k], -k))
        others = [k for k in busy if k != slow]
        med_busy = statistics.median(busy[k] for k in others)
        excess = {
            c: bds[slow].get(c, 0.0) - statistics.median(bds[k].get(c, 0.0) for k in others)
            for c in CATEGORIES
            if c != "communication"
        }
        cat = max(excess, key=lambda c: excess[c])
        wait = statistics.median(bds[k].get("communication", 0.0) for k in others) - bds[slow].get(
            "communication", 0.0
        )
        b_lo = min(busy.values())
        out.update(
            basis="busy time (traced step minus communication)",
            busy_ms={str(k): v for k, v in sorted(busy.items())},
            busy_spread_pct=100.0 * (max(busy.values()) - b_lo) / b_lo if b_lo else 0.0,
            slowest_rank=slow,
            fastest_rank=min(busy, key=lambda k: (busy[k], k)),
            category=cat,
            category_excess_ms=excess[cat],
            excess_ms=busy[slow] - med_busy,
            others_wait_ms=wait,
        )
        if out["busy_spread_pct"] < STRAGGLER_MIN_SPREAD_PCT:
            out["sentence"] = (
                f"no straggler: busy time per step within {out['busy_spread_pct']:.1f}% across ranks "
                f"(rank {slow} busiest, {busy[slow]:.2f} ms)"
            )
        else:
            out["sentence"] = (
                f"rank {slow} is the slowest: {busy[slow]:.2f} ms busy per step vs {med_busy:.2f} ms "
                f"(median of the others), {busy[slow] - med_busy:+.2f} ms, mostly "
                f"{cat.replace('_', ' ')} ({excess[cat]:+.2f} ms)"
                + (f"; the others wait {wait:.2f} ms more per step in communication" if wait > 0 else "")
            )
    else:
        slow = max(steps, key=lambda k: (steps[k], -k))
        out.update(basis="clean step time", slowest_rank=slow, fastest_rank=min(steps, key=lambda k: (steps[k], k)))
        out["sentence"] = (
            f"rank {slow} has the slowest steps ({steps[slow]:.2f} ms, spread {out['step_spread_pct']:.1f}%); "
            "no breakdown per rank to say why"
        )
    return out


# --------------------------------------------------------------------- the straggler's cost

#: How the what-if is computed and what it assumes (quoted in ``straggler_cost["assumptions"]``).
STRAGGLER_COST_ASSUMPTIONS = (
    "a rank arrives at a collective when its communication kernel starts (on a host-only run: when "
    "its collective call starts), on the aligned clock (see alignment/clock); its wait in a step is "
    "the union of [its arrival, the last arrival] over the step's collectives",
    "the k-th collective of a step is the same collective on every rank (NCCL and Gloo require one "
    "order per group); a step whose ranks issue different numbers is matched on the first ones",
    "between collectives each rank computes on its own; a collective begins when the last rank "
    "arrives and then lasts as long as its shortest kernel on any rank (the rank that waited least)",
    "what-if: the rank's compute between collectives takes the median of the other ranks' in the "
    "same segment, the others unchanged; the step then waits in each segment for the slowest rank "
    "left; what_if_step_ms = measured job step x modelled what-if / modelled step (the model's "
    "share saved, applied to the measured step; model_error_pct says how far the model is off)",
    "a wait longer than the waiting rank's own collective kernel cannot have been spent in that "
    "collective: counted in waits_beyond_kernel (the ranks were not in one group there, or the "
    "clocks are further apart than the alignment says)",
    "an estimate: overlap of compute with communication inside a rank, other process groups and "
    "data-dependent work are not modelled",
)


def collective_timeline(table: EventTable, pid: int, steps: Sequence[StepWindow],
                        device: bool | None = None) -> dict[int, dict[str, Any]]:
    """One rank's steps and the collectives each holds, in time order: ``{step index: {"start_ns",
    "end_ns", "collectives": [(name, start_ns, end_ns), ...]}}``, the input of
    :func:`straggler_cost`.

    ``device`` (default: whether the rank ran any communication kernel): the collectives are its
    communication kernels (``op_kind`` "communication"), else its collective spans (outermost per
    thread). A collective belongs to the step whose window holds its start (the store's rule)."""
    sp = table.spans
    names = table.strings.strings
    pm = sp["pid"] == pid
    kern = np.flatnonzero(pm & table.cat_mask(KERNEL))
    comm_k = kern[np.array([op_kind(names[int(sp["name"][r])])[1] == "communication" for r in kern.tolist()], bool)] \
        if len(kern) else kern
    if device is None:
        device = bool(len(comm_k))
    if device:
        rows = comm_k
    else:
        rows = np.flatnonzero(pm & table.cat_mask(COLLECTIVE))
        keep = []
        last_end: dict[int, int] = {}
        for r in rows[np.lexsort((-sp["dur_ns"][rows], sp["start_ns"][rows]))].tolist():
            tid, s = int(sp["tid"][r]), int(sp["start_ns"][r])
            if tid in last_end and s < last_end[tid]:
                continue  # inside a collective span of the same thread: the outer one counts
            last_end[tid] = s + int(sp["dur_ns"][r])
            keep.append(r)
        rows = np.array(keep, np.int64)
    rows = rows[np.argsort(sp["start_ns"][rows], kind="stable")] if len(rows) else rows
    starts = sp["start_ns"][rows]
    out: dict[int, dict[str, Any]] = {}
    for w in steps:
        lo, hi = np.searchsorted(starts, [w.start_ns, w.end_ns], side="left")
        out[int(w.index)] = {
            "start_ns": int(w.start_ns),
            "end_ns": int(w.end_ns),
            "collectives": [(names[int(sp["name"][r])], int(sp["start_ns"][r]), int(sp["start_ns"][r] + sp["dur_ns"][r]))
                            for r in rows[lo:hi].tolist()],
        }
    return out


def straggler_cost(ranks: Mapping[int, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """Per step: which rank arrived last at each collective, how long each rank waited, and the
    step the job would have had had the step's straggler run at the others' median pace.

    ``ranks``: rank -> step index -> ``{"start_ns", "end_ns", "collectives": [(name, start_ns,
    end_ns), ...]}`` on one clock (:func:`collective_timeline`). Only steps every rank has are used.

    Per step, with ``a[r,k]``/``e[r,k]`` rank ``r``'s arrival at (start of) and end of its k-th
    collective: the last to arrive is ``argmax_r a[r,k]``; rank ``r`` waits ``max a[.,k] - a[r,k]``
    there, and its ``wait_ms`` in the step is the union of those intervals ``[a[r,k], max a[.,k]]``
    (collectives in flight together count their common wait once).
    The step's ``last_rank`` is the rank that kept the others waiting longest (the sum of their
    waits at the collectives it arrived last at). The what-if (:data:`STRAGGLER_COST_ASSUMPTIONS`):
    each rank's step is cut into segments of its own compute, ``D[r,0] = a[r,0] - start``,
    ``D[r,k] = a[r,k] - e[r,k-1]``, ``D[r,K] = end - e[r,K-1]`` (clipped at 0; differences on one
    rank's clock, so clock skew does not enter), and the collective's own time ``x[k]`` is its
    shortest kernel on any rank (the rank that waited least); the modelled step is ``sum_k max_r D[r,k] + sum_k x[k]``. With rank ``S``'s
    segments replaced by the median of the other ranks', each segment's maximum becomes that of the
    other ranks (a median never exceeds a maximum), so the saving is ``sum_k (max_r D[r,k] -
    max_{r != S} D[r,k])``: never negative, zero where ``S`` was not the slowest in any segment.
    The model's share saved is applied to the measured job step (the slowest rank's step):
    ``what_if_step_ms = step_ms * (modelled - saving) / modelled``. ``per_rank[r]["saved_ms"]`` is
    that saving for every rank (measured scale), summed over the steps.
    """
    order = sorted(int(r) for r in ranks)
    out: dict[str, Any] = {"ranks": order, "assumptions": list(STRAGGLER_COST_ASSUMPTIONS), "steps": []}
    if len(order) < 2:
        out["sentence"] = "fewer than two ranks: nobody waits for anybody"
        return out
    common = sorted(set.intersection(*(set(int(k) for k in ranks[r]) for r in order)))
    R = len(order)
    tot_wait = np.zeros(R)
    tot_saved = np.zeros(R)
    n_last = np.zeros(R, np.int64)
    n_coll = 0
    beyond = 0
    for idx in common:
        st = [ranks[r][idx] for r in order]
        counts = [len(s["collectives"]) for s in st]
        K = min(counts)
        job_ns = max(int(s["end_ns"]) - int(s["start_ns"]) for s in st)
        rec: dict[str, Any] = {"step": idx, "step_ms": job_ns / 1e6, "collectives": K}
        if counts.count(K) != R:
            rec["collectives_per_rank"] = {str(r): c for r, c in zip(order, counts, strict=True)}
        if K == 0:
            rec.update(last_rank=None, wait_ms={str(r): 0.0 for r in order}, modelled_step_ms=None,
                       what_if_step_ms=None, saved_ms=None, note="no collective in the step: nothing to wait for")
            out["steps"].append(rec)
            continue
        a = np.array([[c[1] for c in s["collectives"][:K]] for s in st], np.int64)
        e = np.array([[c[2] for c in s["collectives"][:K]] for s in st], np.int64)
        s0 = np.array([int(s["start_ns"]) for s in st], np.int64)
        s1 = np.array([int(s["end_ns"]) for s in st], np.int64)
        last = np.argmax(a, axis=0)  # ties: the lowest rank
        wait = a.max(axis=0)[None, :] - a  # (R, K)
        # a rank's wait in the step: the union of its waits [its arrival, the last arrival], so that
        # collectives in flight together (asynchronous calls, several buckets) count their wait once
        last_at = a.max(axis=0)
        before = np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(last_at)[:-1]])
        step_wait = np.maximum(0, last_at[None, :] - np.maximum(a, before[None, :])).sum(axis=1)
        caused = np.zeros(R)
        np.add.at(caused, last, wait.sum(axis=0))
        np.add.at(n_last, last, 1)
        n_coll += K
        D = np.maximum(0, np.concatenate([(a[:, :1] - s0[:, None]), a[:, 1:] - e[:, :-1], (s1 - e[:, -1])[:, None]], axis=1))
        x = (e - a).min(axis=0)
        top = D.max(axis=0)
        srt = np.sort(D, axis=0)
        second = srt[-2]
        is_max = D == top[None, :]
        unique_max = is_max & (is_max.sum(axis=0) == 1)[None, :]
        saved = np.where(unique_max, top[None, :] - second[None, :], 0).sum(axis=1)  # per rank
        modelled = int(top.sum() + x.sum())
        scale = job_ns / modelled if modelled > 0 else 0.0
        saved = saved * scale  # the model's share, on the measured step
        slow = int(np.argmax(caused))
        tot_wait += step_wait
        tot_saved += saved
        beyond += int((wait > (e - a)).sum())
        rec.update(
            last_rank=order[slow],
            wait_ms={str(r): float(w) / 1e6 for r, w in zip(order, step_wait, strict=True)},
            modelled_step_ms=modelled / 1e6,
            model_error_pct=100.0 * (modelled - job_ns) / job_ns if job_ns else None,
            what_if_step_ms=(job_ns - float(saved[slow])) / 1e6,
            saved_ms=float(saved[slow]) / 1e6,
            per_collective=[{"name": st[slow]["collectives"][k][0], "last_rank": order[int(last[k])],
                             "max_wait_ms": float(wait[:, k].max()) / 1e6} for k in range(K)],
        )
        out["steps"].append(rec)
    done = [s for s in out["steps"] if s.get("what_if_step_ms") is not None]
    step_ms = sum(s["step_ms"] for s in done)
    what_if = sum(s["what_if_step_ms"] for s in done)
    out["per_rank"] = {
        str(r): {"wait_ms": float(tot_wait[i]) / 1e6, "last_at": int(n_last[i]),
                 "last_steps": sum(1 for s in done if s["last_rank"] == r), "saved_ms": float(tot_saved[i]) / 1e6}
        for i, r in enumerate(order)
    }
    out["totals"] = {
        "steps": len(done), "collectives": n_coll, "step_ms": step_ms, "what_if_step_ms": what_if,
        "saved_ms": step_ms - what_if, "saved_pct": 100.0 * (step_ms - what_if) / step_ms if step_ms else None,
        "wait_ms": float(tot_wait.sum()) / 1e6,
        "waits_beyond_kernel": beyond,
    }
    if not done:
        out["sentence"] = "no step with a collective on every rank: no straggler cost to estimate"
        return out
    worst = max(order, key=lambda r: (out["per_rank"][str(r)]["saved_ms"], -r))
    pr = out["per_rank"][str(worst)]
    out["costliest_rank"] = worst
    out["sentence"] = (
        f"rank {worst} arrived last at {pr['last_at']} of {n_coll} collectives; at the other ranks' median "
        f"pace the {len(done)} step(s) would take an estimated {what_if:,.1f} ms instead of {step_ms:,.1f} ms "
        f"({-out['totals']['saved_pct']:+.1f}%); the ranks waited {out['totals']['wait_ms']:,.1f} ms in all"
        + (f"; {beyond} of {n_coll * (R - 1)} waits exceed the waiting rank's kernel: those ranks may not share "
           "those collectives, or the clocks are further apart than aligned (an estimate at best)" if beyond else "")
    )
    return out


def straggler_cost_of(table: EventTable, pids: Mapping[int, int]) -> dict[str, Any]:
    """:func:`straggler_cost` of merged ranks (one process per rank, one clock): each rank's traced
    steps (all its steps when none is marked traced) and collectives; device kernels when every rank
    ran communication kernels, else collective spans on the host."""
    return straggler_cost_from({r: straggler_inputs(table, pid) for r, pid in pids.items()})


def straggler_inputs(table: EventTable, pid: int) -> dict[str, Any]:
    """What :func:`straggler_cost_of` needs of one rank (process ``pid``), read from any table that
    holds that process whole (the merged one, or the rank's own on the reference clock): whether it
    ran communication kernels, and its collective timeline both ways (device kernels, host calls)."""
    from profiler.analysis.breakdown import step_windows

    steps = step_windows(table, pid, traced=True) or step_windows(table, pid)
    sp = table.spans
    names = table.strings.strings
    kern = table.cat_mask(KERNEL)
    comm = any(op_kind(names[int(n)])[1] == "communication"
               for n in np.unique(sp["name"][kern & (sp["pid"] == pid)]).tolist())
    return {"comm_kernels": comm,
            "timeline": {dev: collective_timeline(table, pid, steps, dev) for dev in (True, False)}}


def straggler_cost_from(inputs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`straggler_cost_of` from each rank's :func:`straggler_inputs`."""
    device = all(i["comm_kernels"] for i in inputs.values()) if inputs else False
    out = straggler_cost({r: i["timeline"][device] for r, i in inputs.items()})
    out["basis"] = "communication kernels (device)" if device else "collective calls (host)"
    return out


# ---------------------------------------------------------------------------------- failures

#: Errors a rank raises *because* another rank went away: never the root cause.
CONSEQUENTIAL = (
    "RankStopped",
    "Connection closed by peer",
    "Connection reset by peer",
    "Broken pipe",
    "Socket Timeout",
    "Timed out",
    "timed out",
    "NCCL communicator was aborted",
    "ProcessGroupGloo",
)


def root_cause(ranks: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Which rank failed first and why, from per-rank records.

    Each rank: ``{"rank", "status" ("ok"/"failed"/... or None when it left no result), "error",
    "ended_ns" (on the reference clock, or None)}``. A rank whose error is a consequence of another
    rank's death (:data:`CONSEQUENTIAL`) is the root cause only if nothing else is.
    """
    bad = [r for r in ranks if r.get("status") != "ok"]
    if not bad:
        return None

    def key(r: Mapping[str, Any]) -> tuple[int, int]:
        err = str(r.get("error") or "")
        if r.get("status") in (None, "running"):
            tier = 1  # left no final result (only a checkpoint, or nothing): killed or crashed hard
        elif any(s in err for s in CONSEQUENTIAL):
            tier = 2
        else:
            tier = 0
        return tier, int(r.get("ended_ns") or 0)

    first = min(bad, key=key)
    return {
        "rank": int(first["rank"]),
        "error": first.get("error") or "exited without saving a result",
        "stopped": sorted(int(r["rank"]) for r in bad if r is not first),
    }


# ----------------------------------------------------------------------------------- scaling


def scaling_table(variants: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows per (framework, variant, mode, preset) and world size with speedup and efficiency.

    Variants without a ``distributed`` section or without a measured step are left out; a series
    needs at least two world sizes.
    """
    series: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for v in variants:
        d = v.get("distributed")
        step = (d or {}).get("step_ms")
        if not d or not step:
            continue
        key = tuple(str(v.get(k)) for k in ("framework", "variant", "mode", "preset"))
        series.setdefault(key, []).append(
            {"world_size": int(d["world_size"]), "step_ms": float(step), "batch": v.get("items_per_step")}
        )
    rows: list[dict[str, Any]] = []
    for key, pts in series.items():
        if len({p["world_size"] for p in pts}) < 2:
            continue
        pts.sort(key=lambda p: p["world_size"])
        base = pts[0]
        for p in pts:
            ratio = p["world_size"] / base["world_size"]
            speed = ratio * base["step_ms"] / p["step_ms"]
            row = {
                "framework": key[0],
                "variant": key[1],
                "mode": key[2],
                "preset": key[3],
                "world_size": p["world_size"],
                "step_ms": p["step_ms"],
                "speedup": speed,
                "efficiency": speed / ratio,
                # the seed's figure: time for the same amount of data, relative to the base
                "time_ratio": 1.0 / speed,
            }
            if p["batch"]:
                row["items_per_s"] = p["world_size"] * float(p["batch"]) / (p["step_ms"] / 1000.0)
            rows.append(row)
    return rows


# ------------------------------------------------------------------ traces other tools wrote

def _anchors(table: EventTable, pid: int) -> tuple[dict[int, int], list[tuple[str, int, int]]]:
    """A rank's step starts by step index and its collectives ``(name, start, end)`` in time order."""
    sp = table.spans
    pm = sp["pid"] == pid
    steps: dict[int, int] = {}
    for r in np.flatnonzero(pm & table.cat_mask(STEP)).tolist():
        idx = (table.span_args.get(r) or {}).get("index")
        if isinstance(idx, int):
            steps.setdefault(idx, int(sp["start_ns"][r]))
    rows = np.flatnonzero(pm & table.cat_mask(COLLECTIVE))
    rows = rows[np.argsort(sp["start_ns"][rows], kind="stable")]
    names = table.strings.strings
    coll = [(names[int(sp["name"][r])], int(sp["start_ns"][r]), int(sp["start_ns"][r] + sp["dur_ns"][r]))
            for r in rows.tolist()]
    return steps, coll


def align_rank_traces(tables: Mapping[int, EventTable], pids: Mapping[int, int],
                      hosts: Mapping[int, str | None]) -> dict[str, Any]:
    """Offsets that put every rank's trace on the lowest rank's clock, from the traces alone.

    Traces written by another tool carry no clock exchange. Ranks that name the same host read one
    clock: offset 0. Otherwise the ranks are aligned on their first common step (the lowest
    ``ProfilerStep`` index every rank has): on the end of the first collective of that step when
    every rank has one of the same name (a collective ends on all ranks together, when the last
    rank's data arrives), else on the step's start. How far apart the anchors were is reported
    either way (``anchor_spread_us``, after alignment): on a shared clock it is how unsynchronised
    the ranks' steps really are.
    """
    return align_on_anchors({r: _anchors(tables[r], pids[r]) for r in sorted(tables)}, hosts)


def align_on_anchors(anchors: Mapping[int, tuple[dict[int, int], list[tuple[str, int, int]]]],
                     hosts: Mapping[int, str | None]) -> dict[str, Any]:
    """:func:`align_rank_traces` from each rank's step starts and collectives (:func:`_anchors`)."""
    ranks = sorted(anchors)
    ref = ranks[0]
    common = set.intersection(*(set(a[0]) for a in anchors.values())) if ranks else set()
    out: dict[str, Any] = {"reference_rank": ref, "method": None, "offsets_ns": {str(r): 0 for r in ranks}}
    if not common:
        out["method"] = "none: the ranks share no step index; traces left on their own clocks"
        return out
    first = min(common)
    at: dict[int, int] = {}
    what = f"start of step {first}"
    firsts = {}
    for r in ranks:
        st_steps, coll = anchors[r]
        s0 = st_steps[first]
        nxt = min((v for k, v in st_steps.items() if k > first), default=None)
        firsts[r] = next((c for c in coll if c[1] >= s0 and (nxt is None or c[1] < nxt)), None)
    if all(firsts.values()) and len({c[0] for c in firsts.values()}) == 1:
        at = {r: firsts[r][2] for r in ranks}
        what = f"end of the first collective ({firsts[ref][0]}) of step {first}"
    else:
        at = {r: anchors[r][0][first] for r in ranks}
    shared = len({hosts.get(r) for r in ranks}) == 1 and hosts.get(ref) is not None
    offsets = {r: (0 if shared else at[ref] - at[r]) for r in ranks}
    spread = max(at[r] + offsets[r] for r in ranks) - min(at[r] + offsets[r] for r in ranks)
    out.update(
        method=("shared clock: every trace names the same host, no offset applied" if shared
                else f"aligned on the {what}"),
        anchor=what,
        offsets_ns={str(r): int(v) for r, v in offsets.items()},
        anchor_spread_us=spread / 1e3,
        residual="not measured: foreign traces carry no clock exchange" if not shared else "0 (one clock)",
    )
    return out


def device_figures(table: EventTable, pid: int, steps: Sequence[StepWindow]) -> dict[str, Any]:
    """One rank's GPU figures over its steps: ``busy_pct`` (share of the step time the device runs
    kernels, :func:`profiler.analysis.gpu.gpu_summary`) and the median ``launch_delay_us`` (HTA's
    definition, :func:`profiler.analysis.launches.launch_stats`). This is the one place the per-rank
    figures are read from those analyses, so their definitions are the ones quoted; ``None`` each on
    a rank with no device activity."""
    from profiler.analysis.gpu import gpu_summary
    from profiler.analysis.launches import launch_stats

    g = gpu_summary(table, pid, list(steps)) or {}
    delay = (launch_stats(table, pid, steps) or {}).get("launch_delay_us") or {}
    return {
        "busy_pct": g.get("busy_pct"),
        "launch_delay_us": delay.get("median"),
        "launch_delay_definition": delay.get("definition"),
    }


def mark_straggler(per_rank: Sequence[dict[str, Any]], straggler: Mapping[str, Any]) -> None:
    """Set each rank's ``straggler`` mark: the slowest rank when :func:`straggler_report` names one
    (busy times spread by at least :data:`STRAGGLER_MIN_SPREAD_PCT`), else no rank."""
    spread = straggler.get("busy_spread_pct", straggler.get("step_spread_pct"))
    named = straggler.get("slowest_rank") if (spread is None or spread >= STRAGGLER_MIN_SPREAD_PCT) else None
    for rec in per_rank:
        rec["straggler"] = len(per_rank) > 1 and named is not None and rec["rank"] == named


class StoredRanks(Mapping):
    """Ranks whose tables are read when asked for, one at a time, and not kept: rank → (its table,
    its facts) as :func:`merge_rank_traces` takes them. ``load(rank)`` reads a rank's table;
    ``facts``: each rank's importer facts; ``anchors`` (optional): rank → ``(pid, step starts,
    collectives)`` (:func:`_anchors`), computed where the rank was imported, so that aligning the
    clocks reads no table here; ``ranges`` (optional): rank → its events' ``[first, last]`` time."""

    def __init__(self, facts: Mapping[int, dict[str, Any]], load: Any,
                 anchors: Mapping[int, tuple[int, dict[int, int], list[tuple[str, int, int]]]] | None = None,
                 ranges: Mapping[int, list[int] | None] | None = None) -> None:
        self.facts, self.load, self.anchors = dict(facts), load, dict(anchors or {})
        self.ranges = dict(ranges or {})

    def __getitem__(self, r: int) -> tuple[EventTable, dict[str, Any]]:
        return self.load(r), self.facts[r]

    def __iter__(self) -> Any:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)


def rank_figures(table: EventTable, r: int, pid: int, host: str | None) -> dict[str, Any]:
    """One rank's record of the ``distributed`` section (step and busy time, breakdown, overlap,
    device figures), from any table that holds its process ``pid`` whole on the reference clock."""
    from profiler.analysis.breakdown import breakdown, step_windows

    steps = step_windows(table, pid)
    rec: dict[str, Any] = {"rank": r, "host": host, "pid": pid, "status": "ok", "error": None}
    if steps:
        bd = breakdown(table, pid, steps)
        # every step of a trace was traced: the mean, the statistic of the breakdown beside it
        rec["step_ms"] = statistics.fmean(w.dur_ns for w in steps) / 1e6
        rec["step_statistic"] = "mean"
        rec["step_median_ms"] = statistics.median(w.dur_ns for w in steps) / 1e6
        rec["traced_step_ms"] = rec["step_ms"]
        rec["breakdown_ms"] = {c: (None if c in bd.not_measured else v) for c, v in bd.ms.items()}
        rec["overlap"] = comm_overlap(table, pid, steps)
        rec["exposed_comm_ms"] = rec["overlap"]["exposed_ms"]
        rec["steps"] = len(steps)
        rec.update(device_figures(table, pid, steps))
    return rec


def _pid_of(table: EventTable, facts: Mapping[str, Any], r: int) -> int:
    return int(facts.get("host_pid") or next(iter(table.processes), r))


@dataclass
class RankPlan:
    """How the ranks of a folder are merged (:func:`plan_rank_merge`): the ranks in order, their
    importer facts and hosts, each rank's process before renumbering, the offset that puts it on the
    reference clock, its process label, and the alignment section."""

    order: list[int]
    facts: dict[int, Mapping[str, Any]]
    hosts: dict[int, str | None]
    pids: dict[int, int]
    offsets: dict[int, int]
    labels: dict[int, str]
    clock: dict[str, Any]

    def world(self) -> tuple[int, str | None]:
        """``(world size, backend)``: the traces' ``distributedInfo``, else the ranks given."""
        di = next((f.get("distributed_info") for f in self.facts.values() if f.get("distributed_info")), None) or {}
        world = di.get("world_size") if isinstance(di.get("world_size"), int) else len(self.order)
        return world, di.get("backend")


def plan_rank_merge(ranks: Mapping[int, tuple[EventTable, Mapping[str, Any]]]) -> RankPlan:
    """The clocks aligned (on each rank's anchors: :class:`StoredRanks` brings them, else each table
    is read once here) and the ranks' processes and labels: everything :func:`rank_parts` needs."""
    order = sorted(ranks)
    facts = ranks.facts if isinstance(ranks, StoredRanks) else {r: f for r, (_, f) in ranks.items()}
    known = ranks.anchors if isinstance(ranks, StoredRanks) else {}
    hosts = {r: facts[r].get("host_name") for r in order}
    pids: dict[int, int] = {}
    anchors: dict[int, tuple[dict[int, int], list[tuple[str, int, int]]]] = {}
    for r in order:
        if r in known:
            pids[r], steps_at, coll = known[r]
            anchors[r] = (steps_at, coll)
        else:
            t = ranks[r][0]
            pids[r] = _pid_of(t, facts[r], r)
            anchors[r] = _anchors(t, pids[r])
            del t
    clock = align_on_anchors(anchors, hosts)
    offsets = {r: int(clock["offsets_ns"][str(r)]) for r in order}
    labels = {r: f"rank {r}" + (f" · {hosts[r]}" if hosts[r] else "") for r in order}
    return RankPlan(order, dict(facts), hosts, pids, offsets, labels, clock)


def rank_parts(plan: RankPlan, ranks: Mapping[int, tuple[EventTable, Mapping[str, Any]]]) -> Any:
    """Each rank's part of the merged table, in rank order, one at a time: ``(rank, part, pid)``
    (the part on the reference clock, its process labelled and renumbered where a lower rank took
    its pid). The merged table is their concatenation."""
    used: set[int] = set()
    for r in plan.order:
        part, pid = _rank_part(ranks[r][0], r, plan.pids[r], plan.offsets[r], plan.labels[r], used)
        yield r, part, pid


def distributed_section(plan: RankPlan, per_rank: list[dict[str, Any]],
                        cost_inputs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The ``distributed`` section from each rank's :func:`rank_figures` and
    :func:`straggler_inputs`."""
    world, backend = plan.world()
    steps_ms = [p["step_ms"] for p in per_rank if p.get("step_ms")]
    section = {
        "launcher": "imported traces (one per rank)",
        "world_size": world,
        "nnodes": len({h for h in plan.hosts.values()}) or 1,
        "nproc": len(plan.order),
        "backend": backend,
        "step_ms": max(steps_ms) if steps_ms else None,
        "ranks": per_rank,
        "ranks_here": list(plan.order),
        "alignment": plan.clock,
        "clock": None,
        "straggler": straggler_report(per_rank),
        "straggler_cost": straggler_cost_from(cost_inputs),
        "failure": None,
        "merged_view": f"rank {min(plan.order)}: the variant's headline, breakdown and GPU figures are its own; "
                       "the Chrome trace holds every rank",
    }
    mark_straggler(per_rank, section["straggler"])
    if len(plan.order) < world:
        section["note"] = f"{len(plan.order)} of {world} ranks' traces given: the others are missing"
    return section


def merge_rank_traces(ranks: Mapping[int, tuple[EventTable, Mapping[str, Any]]]) -> tuple[EventTable, dict[str, Any]]:
    """One table of every rank (aligned, one process per rank) and the ``distributed`` section a
    data-parallel run of ours gets: per-rank step and busy time, communication and its overlap with
    computation, the straggler, and how the clocks were aligned.

    ``ranks``: rank → (its imported table, its importer facts: ``host_pid``, ``host_name``,
    ``distributed_info``), a dict or a :class:`StoredRanks` (each table read once or twice, one at a
    time). Each rank's figures are computed on its own part of the merged table (its table on the
    reference clock), so the work grows with the events, not with ranks × events. Without the
    merged table: :func:`rank_results`.
    """
    plan = plan_rank_merge(ranks)
    parts: list[EventTable] = []
    per_rank: list[dict[str, Any]] = []
    cost_inputs: dict[int, dict[str, Any]] = {}
    for r, part, pid in rank_parts(plan, ranks):
        per_rank.append(rank_figures(part, r, pid, plan.hosts[r]))
        cost_inputs[r] = straggler_inputs(part, pid)
        parts.append(part)
    merged = EventTable.concat(parts)
    del parts
    return merged, distributed_section(plan, per_rank, cost_inputs)


@dataclass
class MergedFacts:
    """What the report reads of the merged table, gathered rank by rank (:func:`rank_results`):
    its event count, whether any rank has device activity, and every rank's step windows as
    :func:`~profiler.analysis.breakdown.step_windows` gives them on the merged table."""

    n_events: int
    has_device: bool
    steps: list[StepWindow]


def rank_results(plan: RankPlan, ranks: Mapping[int, tuple[EventTable, Mapping[str, Any]]],
                 keep: int | None = None, each: Callable[[int, EventTable], Any] | None = None,
                 ) -> tuple[dict[str, Any], EventTable | None, MergedFacts]:
    """The ``distributed`` section of :func:`merge_rank_traces`, the part of rank ``keep`` (default:
    the lowest rank, whose process is the variant's), and :class:`MergedFacts`, without the merged
    table: each rank's part is made, measured, given to ``each(rank, part)`` (the merged store's
    writer) and let go in turn, so at most one rank's table and the kept part are in memory."""
    from profiler.core.usage import usage_arg

    keep = min(plan.order) if keep is None else keep
    per_rank: list[dict[str, Any]] = []
    cost_inputs: dict[int, dict[str, Any]] = {}
    kept = None
    n_events, device = 0, False
    steps: list[StepWindow] = []
    for r, part, pid in rank_parts(plan, ranks):
        if each is not None:
            each(r, part)
        per_rank.append(rank_figures(part, r, pid, plan.hosts[r]))
        cost_inputs[r] = straggler_inputs(part, pid)
        n_events += len(part)
        device = device or bool((part.spans["tid"] >= DEVICE_TID_BASE).any())
        sp = part.spans
        for row in np.flatnonzero(part.cat_mask(STEP)).tolist():  # as step_windows(merged) numbers them
            a = part.span_args.get(row, {})
            steps.append(StepWindow(int(a.get("index", len(steps))), int(sp["start_ns"][row]), int(sp["dur_ns"][row]),
                                    bool(a.get("traced", False)), int(sp["pid"][row]), usage_arg(a.get("usage"))))
        if r == keep:
            kept = part
        del part
    steps.sort(key=lambda w: w.start_ns)
    return distributed_section(plan, per_rank, cost_inputs), kept, MergedFacts(n_events, device, steps)
