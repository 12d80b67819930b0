"""Chrome Trace Event Format exporter (opens in Perfetto and chrome://tracing).

Kineto's conventions where they exist (``cat`` names, ``ProfilerStep#N``, ``External id``,
``correlation``, ``Input Dims``, ``ac2g`` flows), so HTA, TensorBoard and our own importer read it
back; what Kineto cannot say goes in ``args.category``. Slices that do not nest are cut at their
parent's end (``args.clipped_ns``). ``budget_mb`` keeps the JSON under a size, keeping steps,
phases and each step's longest spans, and says what it dropped. The format table is
``docs/traces.md`` (The Chrome export), the budget ``docs/breakdown.md`` (Chrome export and
``--trace-budget MB``). Spans are written in blocks of plain-list f-strings, no per-event ``json.dumps``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from profiler.core.events import (
    COLLECTIVE,
    DATA_LOADING,
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    OP,
    PHASE,
    PYTHON,
    REGION,
    RUNTIME,
    SPAN_CATEGORIES,
    STEP,
    SYNC,
    WARMUP,
    EventTable,
)
from profiler.core.files import gzip_compressor, temp_for
from profiler.core.opkinds import CUDA_SYNC_CALLS, DATALOADER_ANNOTATION

#: spans never dropped for the size budget: they frame everything else
_KEEP_CATS = (STEP, WARMUP, PHASE, DATA_LOADING)

#: our category → Kineto's ``cat``
KINETO_CAT = {
    OP: "cpu_op",
    KERNEL: "kernel",
    MEMCPY: "gpu_memcpy",
    MEMSET: "gpu_memset",
    RUNTIME: "cuda_runtime",
    SYNC: "cuda_runtime",
    PYTHON: "python_function",
    STEP: "user_annotation",
    WARMUP: "user_annotation",
    DATA_LOADING: "user_annotation",
    COLLECTIVE: "user_annotation",
    REGION: "user_annotation",
    PHASE: "user_annotation",
}
_CODE = {c: i for i, c in enumerate(SPAN_CATEGORIES)}
#: the ``ac2g`` flow Kineto draws from a launch to its device activity
LAUNCH_FLOW = "ac2g"


def _pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` pairs and each row's pair index.

    Traces have few (pid, tid) pairs, so they are peeled off one at a time with two comparisons over
    the rows (no sort); past 64 pairs the rest is factorised with sorts.
    """
    n = len(a)
    inv = np.full(n, -1, np.int64)
    ua: list[int] = []
    ub: list[int] = []
    rem = np.ones(n, bool)
    while len(ua) < 64:
        i = int(np.argmax(rem))
        if not rem[i]:
            break
        m = (a == a[i]) & (b == b[i])
        inv[m] = len(ua)
        ua.append(int(a[i]))
        ub.append(int(b[i]))
        rem &= ~m
    if rem.any():
        rows = np.flatnonzero(rem)
        xa, ia = np.unique(a[rows], return_inverse=True)
        xb, ib = np.unique(b[rows], return_inverse=True)
        uk, ik = np.unique(ia.astype(np.int64) * len(xb) + ib, return_inverse=True)
        inv[rows] = len(ua) + ik.reshape(-1)
        ua.extend(xa[uk // len(xb)].tolist())
        ub.extend(xb[uk % len(xb)].tolist())
    return np.asarray(ua, np.int64), np.asarray(ub, np.int64), inv


def _us(ns: np.ndarray) -> list[str]:
    """Integer nanoseconds as exact microseconds: JSON numbers in exponent form ("12345e-3").

    Formatting an int is several times cheaper than a float or a split decimal, and every JSON
    reader (Perfetto, chrome://tracing, Python's json) reads the exponent form.
    """
    return [f"{v}e-3" for v in np.asarray(ns, np.int64).tolist()]


def _sorted_by(key: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """``np.lexsort((tie, key))`` (by key, then tie, then row) with one adaptive sort of ``key``, which
    is nearly in order in most traces, and a lexsort of only the rows whose key is not unique."""
    order = np.argsort(key, kind="stable")
    sk = key[order]
    same = sk[1:] == sk[:-1]
    if same.any():
        shared = np.zeros(len(key), bool)
        shared[1:] |= same
        shared[:-1] |= same
        pos = np.flatnonzero(shared)
        sub = order[pos]
        order[pos] = sub[np.lexsort((tie[sub], sk[pos]))]
    return order


def _nests(starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether one thread's slices, sorted by start (the longer first at equal starts), nest: no two
    overlap without one containing the other (zero-length slices aside).

    The answer of :func:`profiler.analysis.nesting.is_laminar` (every slice closes at the depth it
    opened at), with the depths counted from the starts, which are in order, and the ends sorted
    once (at equal ends the later-opened closes first), instead of sorting all open and close events.
    """
    keep = ends > starts
    s, e = starts[keep], ends[keep]
    m = len(s)
    if m < 2:
        return True
    close = (m - 1) - np.argsort(e[::-1], kind="stable")  # close order: by end, the later-opened first
    rank = np.empty(m, np.int64)
    rank[close] = np.arange(m)
    # depth after a slice opens: the slices opened so far less those closed by then (a close at the
    # same instant comes first); before it closes: those opened before its end less those closed first
    open_depth = np.arange(1, m + 1) - np.searchsorted(e[close], s, side="right")
    close_depth = np.searchsorted(s, e, side="left") - rank
    return bool(np.array_equal(open_depth, close_depth))


class ChromeTraceExporter:
    extension = ".json.gz"

    def __init__(
        self,
        origin_ns: int | None = None,
        metadata: dict[str, Any] | None = None,
        budget_mb: float | None = None,
        device_properties: list[dict[str, Any]] | None = None,
        distributed_info: dict[str, Any] | None = None,
    ) -> None:
        self.origin_ns = origin_ns
        self.metadata = dict(metadata or {})
        self.budget_mb = budget_mb
        self.device_properties = device_properties
        self.distributed_info = distributed_info
        #: what the budget removed (filled by :meth:`events`); ``None`` when nothing was
        self.dropped: dict[str, Any] | None = None
        #: flow arrows written (filled by :meth:`events`)
        self.n_flows = 0
        self._reset()

    def _reset(self) -> None:
        """Forget the parts written before (a new trace)."""
        self.n_flows = self._ops_before = 0
        self._tids: dict[tuple[int, int], int] = {}
        self._tids_per_pid: dict[int, int] = {}
        self._named_pids: set[int] = set()
        self._named_tids: set[tuple[int, int]] = set()
        self._flow_ids: dict[tuple[str, int], int] = {}
        self._flow_pids: dict[int, int] = {}

    # ---------------------------------------------------------------- pieces
    def _tid_map(self, table: EventTable) -> dict[tuple[int, int], int]:
        sp = table.spans
        pairs: set[tuple[int, int]] = set()
        if table.n_spans:
            up, ut, inv = _pairs(sp["pid"], sp["tid"])
            self._pair_cache = (up, ut, inv)
            pairs |= set(zip(up.tolist(), ut.tolist(), strict=True))
        pairs |= set(zip(table.instants["pid"].tolist(), table.instants["tid"].tolist(), strict=True))
        fl = table.flows
        for side in ("src", "dst"):
            pairs |= set(zip(fl[f"{side}_pid"].tolist(), fl[f"{side}_tid"].tolist(), strict=True))
        pairs |= set(table.threads)
        # numbered per process in order; a process several parts share (:meth:`write_parts`) keeps the
        # numbers the parts before gave its threads, its new threads numbered after them
        known, per_pid = self._tids, self._tids_per_pid
        for pid, tid in sorted(pairs - set(known), key=lambda p: (p[0], p[1] >= DEVICE_TID_BASE, p[1])):
            per_pid[pid] = known[(pid, tid)] = per_pid.get(pid, 0) + 1
        return {p: known[p] for p in pairs}

    def _metadata_events(self, table: EventTable, tid_map: dict[tuple[int, int], int]) -> list[str]:
        out = []
        # each process and thread named once: a part after the first (:meth:`write_parts`) names those
        # the parts before did not
        pids = sorted(
            ({p for p, _ in tid_map} | set(table.processes) | set(np.unique(table.counters["pid"]).tolist()))
            - self._named_pids
        )
        base = len(self._named_pids)
        self._named_pids.update(pids)
        for i, pid in enumerate(pids, base):
            name = table.processes.get(pid, f"process {pid}")
            out.append(
                f'{{"ph":"M","name":"process_name","pid":{pid},"tid":0,"args":{{"name":{json.dumps(name)}}}}}'
            )
            out.append(
                f'{{"ph":"M","name":"process_sort_index","pid":{pid},"tid":0,"args":{{"sort_index":{i}}}}}'
            )
        for (pid, tid), small in sorted(tid_map.items(), key=lambda kv: (kv[0][0], kv[1])):
            if (pid, tid) in self._named_tids:
                continue
            self._named_tids.add((pid, tid))
            name = table.threads.get((pid, tid))
            if name is None:
                name = f"GPU stream {tid - DEVICE_TID_BASE}" if tid >= DEVICE_TID_BASE else f"thread {tid}"
            out.append(
                f'{{"ph":"M","name":"thread_name","pid":{pid},"tid":{small},"args":{{"name":{json.dumps(name)}}}}}'
            )
            out.append(
                f'{{"ph":"M","name":"thread_sort_index","pid":{pid},"tid":{small},"args":{{"sort_index":{small}}}}}'
            )
        return out

    @staticmethod
    def _clipped_ends(table: EventTable, track: np.ndarray) -> np.ndarray:
        """Each span's end, cut to its parent's end where a thread's slices would not nest (``track``:
        each span's (pid, tid) pair index)."""
        sp = table.spans
        start = sp["start_ns"]
        end = start + sp["dur_ns"]
        clipped = end.copy()
        # by thread, start, the longer first
        rel = start - start.min()
        width = int(rel.max()) + 1
        if (int(track.max()) + 1) * width < 1 << 62:
            order = _sorted_by(track * width + rel, -sp["dur_ns"])
        else:
            order = np.lexsort((-sp["dur_ns"], start, track))
        s_track = track[order]
        bounds = np.flatnonzero(s_track[1:] != s_track[:-1]) + 1
        for grp in np.split(order, bounds):
            if len(grp) < 2:
                continue
            gs, ge = start[grp], end[grp]
            run = np.maximum.accumulate(ge)
            overlaps = gs[1:] < run[:-1]
            if not overlaps.any():
                continue  # e.g. one stream's kernels: serial, nothing to nest
            if _nests(gs, ge):
                continue  # a proper call tree: every slice already nests
            # a span overlapping earlier ones must end within the innermost open one
            stack: list[int] = []
            for r, s in zip(grp.tolist(), gs.tolist(), strict=True):
                while stack and clipped[stack[-1]] <= s:
                    stack.pop()
                if stack and clipped[r] > clipped[stack[-1]]:
                    clipped[r] = clipped[stack[-1]]
                stack.append(r)
        return clipped

    @staticmethod
    def _step_of(table: EventTable) -> tuple[np.ndarray, list[int]]:
        """Each span's step (the index of the step window, per process, its start falls in; -1:
        none) and the step rows in that order."""
        sp = table.spans
        rows = np.flatnonzero(table.cat_mask(STEP))
        rows = rows[np.lexsort((sp["start_ns"][rows], sp["pid"][rows]))]
        step = np.full(table.n_spans, -1, np.int64)
        pids = sp["pid"][rows]
        for pid in np.unique(pids).tolist():
            at = np.flatnonzero(pids == pid)  # this process's steps: a block of ``rows``, by start
            st = sp["start_ns"][rows[at]]
            en = st + sp["dur_ns"][rows[at]]
            pm = np.flatnonzero(sp["pid"] == pid)
            k = np.searchsorted(st, sp["start_ns"][pm], side="right") - 1
            ok = (k >= 0) & (sp["start_ns"][pm] < en[np.maximum(k, 0)])
            step[pm[ok]] = at[k[ok]]
        return step, rows.tolist()

    def _budget(
        self, table: EventTable, span_len: np.ndarray, ctr_len: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks of spans and counters kept under the budget; records what was dropped."""
        keep_s = np.ones(len(span_len), bool)
        keep_c = np.ones(len(ctr_len), bool)
        if self.budget_mb is None:
            return keep_s, keep_c
        budget = int(self.budget_mb * 1e6)
        total = int(span_len.sum() + ctr_len.sum())
        if total <= budget:
            self.dropped = {"budget_mb": self.budget_mb, "json_mb": total / 1e6, "dropped_spans": 0}
            return keep_s, keep_c
        info: dict[str, Any] = {"budget_mb": self.budget_mb, "json_mb_before": total / 1e6}
        # 1. counters: keep every k-th sample of each series so they fit in a tenth of the budget
        c_total = int(ctr_len.sum())
        if c_total > budget // 10:
            k = int(np.ceil(c_total / max(1, budget // 10)))
            c = table.counters
            key = c["name"].astype(np.int64) * (1 << 32) + (c["pid"] & 0xFFFFFFFF)
            order = np.lexsort((c["ts_ns"], key))
            rank = np.empty(len(order), np.int64)
            # position of each sample within its series
            sk = key[order]
            starts = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
            pos = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
            rank[order] = pos
            keep_c = rank % k == 0
            info["counters_downsampled"] = {"every_kth": k, "kept": int(keep_c.sum()), "of": len(keep_c)}
        remaining = budget - int(ctr_len[keep_c].sum())
        # 2. spans: every (step, category) group keeps the same share of its bytes, longest first
        sp = table.spans
        protected = table.cat_mask(*_KEEP_CATS)
        base = int(span_len[protected].sum())
        cand = np.flatnonzero(~protected)
        step, step_rows = self._step_of(table)
        group = (step[cand] + 1) * len(SPAN_CATEGORIES) + sp["cat"][cand]
        # launches rank by their device activity's length, so the launches kept are those of the
        # kernels kept and their flows survive
        rank_ns = sp["dur_ns"].copy()
        corr = sp["corr"]
        launch = np.flatnonzero(table.cat_mask(RUNTIME, SYNC) & (corr >= 0))
        dev = np.flatnonzero(table.cat_mask(KERNEL, MEMCPY, MEMSET) & (corr >= 0))
        if len(launch) and len(dev):
            dc = corr[dev]
            o = np.argsort(dc, kind="stable")
            dc, dd = dc[o], sp["dur_ns"][dev][o]
            k = np.minimum(np.searchsorted(dc, corr[launch]), len(dc) - 1)
            hit = dc[k] == corr[launch]
            rank_ns[launch[hit]] = dd[k[hit]]
        order = np.lexsort((-rank_ns[cand], group))  # by group, longest first
        cand, group = cand[order], group[order]
        first = np.r_[True, group[1:] != group[:-1]]
        gstart = np.flatnonzero(first)
        gid = np.cumsum(first) - 1
        lens = span_len[cand]
        cum = np.cumsum(lens)
        before = np.r_[0, cum[gstart[1:] - 1]] if len(gstart) else np.empty(0, np.int64)
        within = cum - before[gid]  # bytes of the group up to and including this span
        gtotal = np.add.reduceat(lens, gstart) if len(gstart) else np.empty(0, np.int64)

        def kept(f: float) -> np.ndarray:
            return (within <= f * gtotal[gid]) | first  # at least the longest of every group

        lo, hi = 0.0, 1.0
        for _ in range(30):  # the largest share that fits
            mid = (lo + hi) / 2
            if base + int(lens[kept(mid)].sum()) <= remaining:
                lo = mid
            else:
                hi = mid
        m = kept(lo)
        drop = cand[~m]
        if len(drop):
            keep_s[drop] = False
            by_cat: dict[str, dict[str, Any]] = {}
            cats, inv = np.unique(sp["cat"][drop], return_inverse=True)
            for j, cc in enumerate(cats.tolist()):
                d = drop[inv.reshape(-1) == j]
                by_cat[SPAN_CATEGORIES[cc]] = {
                    "count": len(d),
                    "time_ms": float(sp["dur_ns"][d].sum()) / 1e6,
                    "longest_us": float(sp["dur_ns"][d].max()) / 1e3,
                }
            per_step = []
            ds = step[drop]
            for k_, r in enumerate(step_rows):
                mine = drop[ds == k_]
                if len(mine):
                    per_step.append({
                        "row": r,
                        "dropped": len(mine),
                        "dropped_ms": float(sp["dur_ns"][mine].sum()) / 1e6,
                        "by_category": {SPAN_CATEGORIES[c]: int(n) for c, n in
                                        zip(*np.unique(sp["cat"][mine], return_counts=True), strict=True)},
                    })
            info.update(
                dropped_spans=len(drop),
                kept_spans=int(keep_s.sum()),
                kept_share_pct=100.0 * lo,
                dropped_up_to_us=float(sp["dur_ns"][drop].max()) / 1e3,
                dropped_time_ms=float(sp["dur_ns"][drop].sum()) / 1e6,
                dropped_by_category={c: v["count"] for c, v in by_cat.items()},
                dropped=by_cat,
                how="per step and category, the shortest spans dropped until each keeps the same share "
                    "of its bytes (at least its longest span); steps, phases, warm-up and data loading kept",
            )
            self._per_step = per_step
        else:
            info["dropped_spans"] = 0
        if len(step_rows):
            kept_ops = np.bincount(step[keep_s & table.cat_mask(OP) & (step >= 0)], minlength=len(step_rows))
            info["steps"] = len(step_rows)
            info["steps_with_ops"] = int((kept_ops > 0).sum())
            info["min_ops_per_step"] = int(kept_ops.min())
        info["json_mb"] = int(span_len[keep_s].sum() + ctr_len[keep_c].sum()) / 1e6
        self.dropped = info
        return keep_s, keep_c

    @staticmethod
    def _external_ids(table: EventTable, base: int = 0) -> np.ndarray:
        """Kineto's ``External id``: one per op; a launch takes its innermost enclosing op's (on its
        thread), a device activity its launch's (by correlation id); -1 for the rest."""
        sp = table.spans
        ext = np.full(table.n_spans, -1, np.int64)
        ops = np.flatnonzero(table.cat_mask(OP))
        ext[ops] = np.arange(base + 1, base + len(ops) + 1)  # base: the ops of the parts written before
        rt = table.cat_mask(RUNTIME, SYNC)
        if not rt.any():
            return ext
        start, end = sp["start_ns"], sp["start_ns"] + sp["dur_ns"]
        for pid, tid in {(int(p), int(t)) for p, t in zip(sp["pid"][rt].tolist(), sp["tid"][rt].tolist(), strict=True)}:
            on = (sp["pid"] == pid) & (sp["tid"] == tid)
            rows = np.flatnonzero(on & (table.cat_mask(OP) | rt))
            rows = rows[np.lexsort((-sp["dur_ns"][rows], start[rows]))]
            is_op = sp["cat"][rows] == _CODE[OP]
            stack: list[int] = []
            for r, o in zip(rows.tolist(), is_op.tolist(), strict=True):
                s0 = start[r]
                while stack and end[stack[-1]] <= s0:
                    stack.pop()
                if o:
                    stack.append(r)
                elif stack:
                    ext[r] = ext[stack[-1]]
        corr = sp["corr"]
        launch = rt & (corr >= 0) & (ext >= 0)
        dev = table.cat_mask(KERNEL, MEMCPY, MEMSET) & (corr >= 0)
        if launch.any() and dev.any():
            lc = corr[launch]
            order = np.argsort(lc, kind="stable")
            lc, le = lc[order], ext[launch][order]
            k = np.searchsorted(lc, corr[dev])
            k = np.minimum(k, len(lc) - 1)
            hit = lc[k] == corr[dev]
            d = np.flatnonzero(dev)
            ext[d[hit]] = le[k[hit]]
        return ext

    @staticmethod
    def _args(table: EventTable, clipped: np.ndarray, end: np.ndarray, ext_base: int = 0) -> list[Any]:
        """Every span's ``,"args":{...}`` text as eight columns whose row-wise concatenation is it (""
        in all eight for a span without args): the rare keys (category, the sparse args, FLOPs,
        bytes), the input shapes, ``External id`` (key, number), ``correlation`` (key, number), device
        and stream then ``clipped_ns``, and the closing brace.

        Each key is written with what goes before it: the object's opening for a span's first key, a
        comma after that. Keys with few distinct values (shapes, device and stream) come from a table
        of both forms, and the numbers are formatted by the caller's f-string, so the dense columns cost
        a lookup per span. Each column is an object array of texts, or for a number an :class:`_Numbers`
        (made into texts block by block, :func:`_span_texts`).
        """
        sp = table.spans
        n = table.n_spans
        opened = np.zeros(n, bool)  # spans whose args object has been opened
        both = np.array([',"args":{', ","], dtype=object)

        def lead(rows: np.ndarray) -> list[str]:
            """What goes before the next key of each of ``rows``."""
            out = both[opened[rows].view(np.int8)].tolist()
            opened[rows] = True
            return out

        def put(col: np.ndarray, rows: np.ndarray, texts: list[str]) -> None:
            """Append ``"key":value`` texts to ``col`` at ``rows``."""
            if len(rows):
                col[rows] = col[rows] + np.array([a + t for a, t in zip(lead(rows), texts, strict=True)],
                                                 dtype=object)

        def put_keyed(col: np.ndarray, rows: np.ndarray, keys: np.ndarray, texts: list[str]) -> None:
            """Append ``texts[keys]`` (``"key":value`` texts) to ``col`` at ``rows``."""
            if len(rows):
                forms = np.array([a + t for t in texts for a in both.tolist()], dtype=object)
                col[rows] = col[rows] + forms[2 * keys + opened[rows]]
                opened[rows] = True

        names = table.strings.strings
        cat = sp["cat"]
        rare = np.full(n, "", dtype=object)
        # a category Kineto's cat and name do not say: told in args.category for the importer
        lossy = np.isin(cat, [_CODE[c] for c in (WARMUP, PHASE, COLLECTIVE)])
        st = np.flatnonzero(cat == _CODE[STEP])
        lossy[st[[not table.span_args.get(r, {}).get("traced") for r in st.tolist()]]] = True
        for c, ok in ((DATA_LOADING, lambda nm: nm.startswith(DATALOADER_ANNOTATION)),
                      (SYNC, lambda nm: nm in CUDA_SYNC_CALLS), (RUNTIME, lambda nm: nm not in CUDA_SYNC_CALLS)):
            rows = np.flatnonzero(cat == _CODE[c])
            if len(rows):
                u, inv = np.unique(sp["name"][rows], return_inverse=True)
                bad = np.array([not ok(names[i]) for i in u.tolist()], bool)[inv.reshape(-1)]
                lossy[rows[bad]] = True
        rows = np.flatnonzero(lossy)
        put_keyed(rare, rows, cat[rows].astype(np.int64), [f'"category":"{c}"' for c in SPAN_CATEGORIES])
        nonempty = [r for r, a in table.span_args.items() if a]
        if nonempty:
            rows = np.asarray(nonempty, np.int64)
            put(rare, rows, [_json_object_body(table.span_args[r]) for r in rows.tolist()])
        rows = np.flatnonzero(~np.isnan(sp["flops"]))
        put(rare, rows, [f'"flops":{v!r}' for v in sp["flops"][rows].tolist()])
        rows = np.flatnonzero(~np.isnan(sp["bytes"]))
        put(rare, rows, [f'"bytes":{v!r}' for v in sp["bytes"][rows].tolist()])

        shapes = np.full(n, "", dtype=object)
        rows = np.flatnonzero(sp["shapes"] >= 0)
        if len(rows):
            u, inv = np.unique(sp["shapes"][rows], return_inverse=True)
            put_keyed(shapes, rows, inv.reshape(-1), [_dims_arg(table.strings[i]) for i in u.tolist()])

        # External id and correlation, dense (every op has an External id): each as two columns, the
        # key with what goes before it and the number ("" and "" where absent), formatted with the rest
        ids: list[list[Any]] = []
        ext = ChromeTraceExporter._external_ids(table, ext_base)
        for key, col in (("External id", ext), ("correlation", sp["corr"])):
            has = col >= 0
            if not has.any():
                ids += [np.full(n, "", dtype=object)] * 2
                continue
            forms = np.array(["", *(a + f'"{key}":' for a in both.tolist())], dtype=object)
            lead_txt = forms[has * (1 + opened)]
            opened |= has
            ids += [lead_txt, _Numbers(col)]

        tail = np.full(n, "", dtype=object)
        rows = np.flatnonzero(sp["tid"] >= DEVICE_TID_BASE)
        if len(rows):
            u, inv = np.unique(sp["tid"][rows] - DEVICE_TID_BASE, return_inverse=True)
            dev = [f'"device":{d},"stream":{s_}' for d, s_ in
                   zip((u // 1000).tolist(), (u % 1000).tolist(), strict=True)]
            put_keyed(tail, rows, inv.reshape(-1), dev)
        rows = np.flatnonzero(clipped != end)
        put(tail, rows, [f'"clipped_ns":{v}' for v in (end - clipped)[rows].tolist()])
        close = np.array(["", "}"], dtype=object)[opened.view(np.int8)]
        return [rare, shapes, *ids, tail, close]

    @staticmethod
    def _span_names(table: EventTable) -> np.ndarray:
        """Each span's name id, traced steps renamed ``ProfilerStep#N`` (N: the step's index)."""
        names = table.spans["name"].copy()
        rows = np.flatnonzero(table.cat_mask(STEP))
        for n_, r in enumerate(rows.tolist()):
            a = table.span_args.get(r, {})
            if a.get("traced"):
                idx = a.get("index", n_)
                names[r] = -2 - int(idx) if isinstance(idx, int) and idx >= 0 else names[r]
        return names

    def _flows(self, table: EventTable) -> list[list[Any]]:
        """Every flow to draw, as columns ``[id, category, src_ts, src_pid, src_tid, dst_ts, dst_pid,
        dst_tid]``: the table's own, then launch → device activity for correlations none of those
        covers."""
        fl = table.flows
        s = table.strings.strings
        cols = [fl[k].tolist() for k in
                ("id", "name", "src_ts_ns", "src_pid", "src_tid", "dst_ts_ns", "dst_pid", "dst_tid")]
        cols[1] = [s[n] for n in cols[1]]
        sp = table.spans
        corr = sp["corr"]
        c_ok = corr >= 0
        if c_ok.any():
            launch = np.flatnonzero(table.cat_mask(RUNTIME, SYNC) & c_ok)
            device = np.flatnonzero(table.cat_mask(KERNEL, MEMCPY, MEMSET) & c_ok)
            have = {(p, i) for i, c, p in zip(cols[0], cols[1], cols[3], strict=True) if c == LAUNCH_FLOW}
            lc = corr[launch]
            order = np.argsort(lc, kind="stable")
            launch, lc = launch[order], lc[order]
            if len(launch):
                k = np.minimum(np.searchsorted(lc, corr[device]), len(lc) - 1)
                hit = (lc[k] == corr[device]) & (sp["pid"][launch[k]] == sp["pid"][device])
                lr, dr = launch[k[hit]], device[hit]
                if have:
                    new = np.array([k not in have for k in
                                    zip(sp["pid"][lr].tolist(), corr[lr].tolist(), strict=True)], bool)
                    lr, dr = lr[new], dr[new]
                for col, v in zip(cols, (corr[lr], None, sp["start_ns"][lr], sp["pid"][lr], sp["tid"][lr],
                                         sp["start_ns"][dr], sp["pid"][dr], sp["tid"][dr]), strict=True):
                    col.extend([LAUNCH_FLOW] * len(lr) if v is None else v.tolist())
        return cols

    def _flow_rows(self, table: EventTable, flows: list[list[Any]]) -> np.ndarray:
        """The slice each flow's start and end bind to: the one starting at the flow's time on its
        track, the shortest (innermost) at ties; ``(flows, 2)`` rows, -1 where there is none."""
        n = len(flows[0])
        rows = np.full((n, 2), -1, np.int64)
        if not n or not table.n_spans:
            return rows
        sp = table.spans
        up, ut, inv = self._pair_cache
        pair_of = {(x, y): i for i, (x, y) in enumerate(zip(up.tolist(), ut.tolist(), strict=True))}
        start = sp["start_ns"]
        lo = int(start.min())
        key = inv.astype(np.int64) * (1 << 50) + (start - lo)
        order = _sorted_by(key, sp["dur_ns"])  # equal keys: the shortest (innermost) first
        skey = key[order]
        for side, (f_ts, f_pid, f_tid) in enumerate((flows[2:5], flows[5:8])):
            pair = np.array([pair_of.get(k, -1) for k in zip(f_pid, f_tid, strict=True)], np.int64)
            rel = np.asarray(f_ts, np.int64) - lo
            fk = np.where((pair >= 0) & (rel >= 0) & (rel < (1 << 50)), pair * (1 << 50) + rel, -1)
            k = np.minimum(np.searchsorted(skey, fk), len(skey) - 1)
            hit = (fk >= 0) & (skey[k] == fk)
            rows[hit, side] = order[k[hit]]
        return rows

    def _flow_events(self, flows: list[list[Any]], tid_map: dict[tuple[int, int], int], origin: int) -> list[str]:
        """Each flow's two events, in flow order: its start (``"s"``), then its end (``"f"``)."""
        f_id, f_cat, f_ts, f_pid, f_tid, f_ts2, f_pid2, f_tid2 = flows
        # the same id in two processes (ranks' correlation ids) must not join: renumber the later
        # (the ids and processes of the parts written before count too: :meth:`write_parts`)
        ids = self._flow_ids
        rank_of = self._flow_pids
        for p in sorted(set(f_pid) - set(rank_of)):
            rank_of[p] = len(rank_of)
        out_ids = [i if ids.setdefault((c, i), p) == p else i + ((rank_of[p] + 1) << 40)
                   for i, c, p in zip(f_id, f_cat, f_pid, strict=True)]
        c_txt = {c: json.dumps(c) for c in set(f_cat)}
        out: list[str] = []
        for i, c, a, p1, t1, b, p2, t2 in zip(
            out_ids, [c_txt[c] for c in f_cat], (np.asarray(f_ts, np.int64) - origin).tolist(), f_pid, f_tid,
            (np.asarray(f_ts2, np.int64) - origin).tolist(), f_pid2, f_tid2, strict=True
        ):
            out += (
                f'{{"ph":"s","id":{i},"pid":{p1},"tid":{tid_map.get((p1, t1), 0)},"ts":{a}e-3,'
                f'"cat":{c},"name":{c}}}',
                f'{{"ph":"f","bp":"e","id":{i},"pid":{p2},"tid":{tid_map.get((p2, t2), 0)},"ts":{b}e-3,'
                f'"cat":{c},"name":{c}}}',
            )
        return out

    @staticmethod
    def _trailers(n: int, flow_at: np.ndarray, flow_ev: list[str], keep: np.ndarray) -> list[str]:
        """What follows each slice's text: every kept flow event bound to it, in flow order, each after
        ``",\\n"`` ("" for most slices)."""
        after = [""] * n
        at = flow_at.tolist()
        for i in np.flatnonzero(np.repeat(keep, 2) & (flow_at >= 0)).tolist():
            after[at[i]] += ",\n" + flow_ev[i]
        return after

    # ---------------------------------------------------------------- events
    def events(self, table: EventTable) -> list[str]:
        """Each trace event as a JSON text (what :meth:`write` writes)."""
        self._reset()
        return [t for chunk in self.event_chunks(table) for t in chunk]

    def event_chunks(self, table: EventTable) -> Iterator[list[str]]:
        """The trace events' JSON texts, in order, a block of at most :data:`CHUNK_ROWS` spans at a
        time: without a budget each block's texts are made as it is asked for, so the text of the
        whole trace is never in memory at once (with a budget every span's length is needed first,
        and the texts are made together). ``dropped`` and ``n_flows`` are set before the first block."""
        tr = table.time_range()
        origin = self.origin_ns if self.origin_ns is not None else (tr[0] if tr else 0)
        sp = table.spans
        n = table.n_spans
        tid_map = self._tid_map(table)
        meta = self._metadata_events(table, tid_map)
        esc = np.array([json.dumps(s) for s in table.strings.strings] or [""], dtype=object)
        self._per_step: list[dict[str, Any]] = []

        flows = self._flows(table)
        # a flow's events follow the slice they bind to, in its text, so the budget keeps or drops them
        # with it; the others come after the counters
        flow_rows = self._flow_rows(table, flows)
        flow_at = flow_rows.reshape(-1)  # the slice of each flow event, -1: none
        flow_ev = self._flow_events(flows, tid_map, origin)
        keep_flow = np.ones(len(flows[0]), bool)
        span_txt: list[str] = []
        span_cols: list[Any] = []
        if n:
            start = sp["start_ns"]
            end = start + sp["dur_ns"]
            up, ut, inv = self._pair_cache
            clipped = self._clipped_ends(table, inv)
            # small tids: one lookup per distinct (pid, tid) pair
            small_u = np.array(
                [tid_map[(x, y)] for x, y in zip(up.tolist(), ut.tolist(), strict=True)], np.int64
            )
            small = small_u[inv]
            # the texts of names, categories and tracks (with the "ts" key): one per distinct value
            name_ids = self._span_names(table)
            names = esc[np.maximum(name_ids, 0)]
            for r in np.flatnonzero(name_ids < 0).tolist():
                names[r] = f'"ProfilerStep#{-2 - int(name_ids[r])}"'
            kc = np.array([json.dumps(KINETO_CAT[c]) for c in SPAN_CATEGORIES], dtype=object)
            cat_codes = sp["cat"].copy()
            cats = kc[cat_codes]
            dev_region = np.flatnonzero((cat_codes == _CODE[REGION]) & (sp["tid"] >= DEVICE_TID_BASE))
            cats[dev_region] = '"gpu_user_annotation"'
            track = np.array([f',"pid":{p},"tid":{t},"ts":' for p, t in
                              zip(up.tolist(), small_u.tolist(), strict=True)], dtype=object)[inv]
            span_cols = [names, cats, track, start - origin, clipped - start, *self._args(table, clipped, end, self._ops_before),
                         self._trailers(n, flow_at, flow_ev, keep_flow)]
            if self.budget_mb is not None:
                span_txt = _span_texts(span_cols, 0, n)

        c = table.counters
        cv = c["value"]
        c_ok_rows = ~np.isnan(cv)
        c_ts = c["ts_ns"] - origin
        c_names = esc[c["name"]] if len(cv) else np.empty(0, object)

        def counter_texts(lo: int, hi: int) -> list[str]:
            return [
                f'{{"ph":"C","name":{nm},"pid":{p},"tid":0,"ts":{t}e-3,"args":{{"value":{v!r}}}}}' if ok else ""
                for nm, p, t, v, ok in zip(
                    c_names[lo:hi].tolist(), c["pid"][lo:hi].tolist(), c_ts[lo:hi].tolist(), cv[lo:hi].tolist(),
                    c_ok_rows[lo:hi].tolist(), strict=True
                )
            ]

        n_ctr = len(cv)
        ctr_txt: list[str] = []
        if self.budget_mb is not None:
            ctr_txt = counter_texts(0, n_ctr)
            span_len = np.fromiter(map(len, span_txt), np.int64, len(span_txt)) + 2  # with its flows
            ctr_len = np.fromiter(map(len, ctr_txt), np.int64, len(ctr_txt)) + 2
            keep_s, keep_c = self._budget(table, span_len, ctr_len)
            # a flow whose slice went goes with it, from the text of the slice at its other end too
            keep_flow = np.append(keep_s, True)[flow_rows].all(axis=1)
            gone = np.repeat(~keep_flow, 2) & (flow_at >= 0)
            fix = np.unique(flow_at[gone])
            fix = fix[keep_s[fix]]
            if len(fix):
                was = self._trailers(n, flow_at, flow_ev, np.ones_like(keep_flow))
                now = self._trailers(n, flow_at, flow_ev, keep_flow)
                for r in fix.tolist():
                    span_txt[r] = span_txt[r][: len(span_txt[r]) - len(was[r])] + now[r]

        out = meta
        if self.dropped and (self.dropped.get("dropped_spans") or self.dropped.get("counters_downsampled")):
            first_pid = min((p for p, _ in tid_map), default=0)  # the lowest process, whatever was written before
            note = {k: v for k, v in self.dropped.items() if k != "per_step"}
            out.append(
                f'{{"ph":"i","s":"g","name":"trace budget","pid":{first_pid},"tid":0,"ts":0.000,'
                f'"args":{json.dumps(note)}}}'
            )
            for d in self._per_step:  # what each step lost, at the step's start
                r = d.pop("row")
                d["step"] = (table.span_args.get(r) or {}).get("index")
                out.append(
                    f'{{"ph":"i","s":"t","name":"dropped by the trace budget","pid":{sp["pid"][r]},'
                    f'"tid":{small[r]},"ts":{int(start[r] - origin)}e-3,"args":{json.dumps(d)}}}'
                )
            self.dropped["per_step"] = self._per_step
        self.n_flows += int(keep_flow.sum())
        self._ops_before += int(table.cat_mask(OP).sum())
        yield out
        if self.budget_mb is None:
            for lo in range(0, n, CHUNK_ROWS):
                yield _span_texts(span_cols, lo, min(n, lo + CHUNK_ROWS))
            for lo in range(0, n_ctr, CHUNK_ROWS):
                yield [t for t in counter_texts(lo, min(n_ctr, lo + CHUNK_ROWS)) if t]
        else:
            yield [span_txt[r] for r in np.flatnonzero(keep_s).tolist()]
            yield [ctr_txt[i] for i in np.flatnonzero(keep_c).tolist() if ctr_txt[i]]
        del span_txt, ctr_txt, span_cols
        out = [flow_ev[i] for i in np.flatnonzero(np.repeat(keep_flow, 2) & (flow_at < 0)).tolist()]
        del flow_ev

        ins = table.instants
        i_ts = _us(ins["ts_ns"] - origin)
        for i in range(len(ins["ts_ns"])):
            pid = int(ins["pid"][i])
            tid = tid_map[(pid, int(ins["tid"][i]))]
            a = json.dumps(table.instant_args.get(i, {}))
            out.append(
                f'{{"ph":"i","s":"t","name":{esc[ins["name"][i]]},"pid":{pid},"tid":{tid},'
                f'"ts":{i_ts[i]},"args":{a}}}'
            )
        yield out

    def write(self, table: EventTable, path: Path) -> Path:
        """Write the trace to ``path`` (gzip when it ends in ``.gz``), atomically, streaming the text."""
        self._reset()
        chunks = self.event_chunks(table)
        first = next(chunks)  # the metadata events; ``dropped`` is known from here on
        return self._write(path, first, chunks)

    def write_parts(self, parts: Iterable[EventTable], path: Path, origin_ns: int | None,
                    n_parts: int | None = None) -> Path:
        """Write one trace of several tables (``parts``, e.g. one rank's table each, read one at a
        time: never all in memory) as :meth:`write` writes their concatenation, part after part: each
        part's process and thread names, slices, counters, flows and instants in turn, with the
        processes' sort indices and the flow ids numbered across the parts (Chrome's JSON takes the
        events in any order). ``origin_ns``: the time 0 of the trace (the parts' earliest event's, as
        :meth:`write` takes it). With a size budget each of the ``n_parts`` parts is kept under an
        equal share of it, and ``dropped`` sums what they lost (:func:`_summed_budgets`)."""
        self._reset()
        self.origin_ns = origin_ns
        if self.budget_mb is None:
            chunks: Iterator[list[str]] = itertools.chain.from_iterable(self.event_chunks(t) for t in parts)
        elif not n_parts:
            raise ValueError("a size budget across parts needs their number (n_parts)")
        else:
            chunks = self._budgeted_chunks(parts, self.budget_mb, n_parts)
        return self._write(path, [], chunks)

    def _budgeted_chunks(self, parts: Iterable[EventTable], budget_mb: float, n_parts: int) -> Iterator[list[str]]:
        """Each part's chunks under ``budget_mb / n_parts``; ``dropped`` summed once the last is out."""
        each: list[dict[str, Any]] = []
        try:
            for t in parts:
                self.budget_mb, self.dropped = budget_mb / n_parts, None
                yield from self.event_chunks(t)
                each.append(self.dropped or {})
        finally:
            self.budget_mb = budget_mb
        self.dropped = _summed_budgets(each, budget_mb)

    def _top_level(self) -> str:
        """The document's keys other than ``traceEvents``, as JSON text without braces."""
        other = dict(self.metadata)
        if self.dropped is not None:
            other["trace_budget"] = self.dropped
        top: dict[str, Any] = {"schemaVersion": 1}
        if self.device_properties:
            top["deviceProperties"] = self.device_properties
        if self.distributed_info:
            top["distributedInfo"] = self.distributed_info
        top.update(displayTimeUnit="ms", otherData=other)
        return json.dumps(top)[1:-1]

    def _write(self, path: Path, first: list[str], chunks: Iterator[list[str]]) -> Path:
        import os

        path = Path(path)
        gz = str(path).endswith(".gz")
        comp = gzip_compressor() if gz else None
        fd, tmp = temp_for(path)  # the user's umask, and the injected faults (core/files.py)
        try:
            with os.fdopen(fd, "wb") as f:

                def put(text: str) -> None:
                    data = text.encode()
                    f.write(comp.compress(data) if comp else data)

                put('{"traceEvents":[\n')
                sep = ""
                for evs in itertools.chain([first], chunks):  # block by block: never the whole text
                    if evs:
                        put(sep + ",\n".join(evs))
                        sep = ",\n"
                put("\n]," + self._top_level() + "}\n")  # after the events: what the budget dropped is known
                if comp:
                    f.write(comp.flush())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path


def _summed_budgets(each: list[dict[str, Any]], budget_mb: float) -> dict[str, Any]:
    """What the budget dropped from a trace written part by part (:meth:`ChromeTraceExporter.write_parts`),
    from each part's own record under its share: counts and times summed, the longest span dropped
    and the sampling step the largest, the share kept and the ops per step the least; ``parts``
    keeps each part's size and spans dropped."""
    out: dict[str, Any] = {"budget_mb": budget_mb, "json_mb": sum(d.get("json_mb", 0.0) for d in each),
                           "dropped_spans": sum(d.get("dropped_spans", 0) for d in each),
                           "parts": [{"budget_mb": d.get("budget_mb"), "json_mb": d.get("json_mb"),
                                      "dropped_spans": d.get("dropped_spans", 0)} for d in each]}
    cut = [d for d in each if d.get("dropped_spans")]
    if any("json_mb_before" in d for d in each):
        out["json_mb_before"] = sum(d.get("json_mb_before", d.get("json_mb", 0.0)) for d in each)
    steps = [d for d in each if "steps" in d]
    if steps:
        out.update(steps=sum(d["steps"] for d in steps), steps_with_ops=sum(d["steps_with_ops"] for d in steps),
                   min_ops_per_step=min(d["min_ops_per_step"] for d in steps))
    sampled = [d["counters_downsampled"] for d in each if d.get("counters_downsampled")]
    if sampled:
        out["counters_downsampled"] = {"every_kth": max(c["every_kth"] for c in sampled),
                                       "kept": sum(c["kept"] for c in sampled), "of": sum(c["of"] for c in sampled)}
    if not cut:
        return out
    by_cat: dict[str, dict[str, Any]] = {}
    for d in cut:
        for c, v in (d.get("dropped") or {}).items():
            acc = by_cat.setdefault(c, {"count": 0, "time_ms": 0.0, "longest_us": 0.0})
            acc["count"] += v["count"]
            acc["time_ms"] += v["time_ms"]
            acc["longest_us"] = max(acc["longest_us"], v["longest_us"])
    out.update(
        kept_spans=sum(d.get("kept_spans", 0) for d in each),
        kept_share_pct=min(d["kept_share_pct"] for d in cut),
        dropped_up_to_us=max(d["dropped_up_to_us"] for d in cut),
        dropped_time_ms=sum(d["dropped_time_ms"] for d in cut),
        dropped_by_category={c: v["count"] for c, v in by_cat.items()},
        dropped=by_cat,
        per_step=[s for d in each for s in d.get("per_step") or []],
        how=f"{cut[0]['how']}; each of the {len(each)} parts (ranks) under an equal share of the budget",
    )
    return out


#: spans (and counters) whose JSON texts are made and written together (:meth:`event_chunks`)
CHUNK_ROWS = 65536


class _Numbers:
    """An id column (``-1``: none) whose texts are the number, or "" where none."""

    def __init__(self, col: np.ndarray) -> None:
        self.col = col

    def __getitem__(self, s: slice) -> np.ndarray:
        num = self.col[s].astype(object)
        num[self.col[s] < 0] = ""
        return num


def _span_texts(cols: list[Any], lo: int, hi: int) -> list[str]:
    """The JSON texts of spans ``lo:hi``: one f-string per span over plain lists (the columns made
    by :meth:`ChromeTraceExporter.event_chunks`: name, category and track texts, start and clipped
    duration in ns from the origin, the eight ``args`` columns, the bound flows); times in _us's form."""
    return [
        f'{{"ph":"X","name":{nm},"cat":{ct}{tk}{a}e-3,"dur":{d}e-3'
        f'{g1}{g2}{e1}{e2}{c1}{c2}{g3}{g4}}}{f}'
        for nm, ct, tk, a, d, g1, g2, e1, e2, c1, c2, g3, g4, f in zip(
            *(c[lo:hi] if isinstance(c, list) else c[lo:hi].tolist() for c in cols), strict=True
        )
    ]


def _dims_arg(shapes: str) -> str:
    """The ``"key":value`` text of input shapes: Kineto's ``"Input Dims"`` (the JSON list itself) when
    the shapes text is a JSON list, else ``"shapes"`` as a string."""
    if shapes.startswith("["):
        try:
            json.loads(shapes)
            return '"Input Dims":' + shapes
        except ValueError:
            pass
    return '"shapes":' + json.dumps(shapes)


_ENCODE = msgspec.json.encode


def _json_object_body(d: dict[str, Any]) -> str:
    """A dict's JSON text without its braces (msgspec: several times json.dumps's speed; anything it
    cannot encode goes through json.dumps, as before)."""
    try:
        return _ENCODE(d).decode()[1:-1]
    except (TypeError, msgspec.EncodeError):
        return json.dumps(d)[1:-1]
