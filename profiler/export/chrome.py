"""Chrome Trace Event Format exporter (opens in Perfetto and chrome://tracing).

Mapping from the event model:

* spans → complete events (``ph: "X"``), ``ts``/``dur`` in microseconds from the trace's origin,
  printed exactly from integer nanoseconds;
* counters → ``ph: "C"`` (one counter track per name and process);
* instants → ``ph: "i"`` (thread scope);
* correlation ids shared by a host launch (``runtime``) and a device span → a flow arrow
  (``ph: "s"`` on the launch, ``ph: "f"`` with ``bp: "e"`` on the kernel);
* process and thread names → ``ph: "M"`` metadata; thread ids are renumbered per process to small
  integers (device streams and tracer threads carry 40-bit synthetic ids in the model).

Slices on one thread must nest for the viewers: a span that starts inside another but ends after it
is cut at its parent's end (``args.clipped_ns`` says by how much) rather than dropped.

**Size budget** (``budget_mb``, the CLI's ``--trace-budget MB``): viewers load the JSON text into
memory and slow down or fail on traces of hundreds of MB, so the exporter can keep the JSON text under
a budget. First counters are downsampled (every k-th sample of each series kept, so they take at most
a tenth of the budget), then the shortest spans are dropped, shortest first, until the rest fits
(a child is never longer than its parent, so a kept slice keeps its parent).
Steps, phases, warm-up and data-loading spans are always kept. What was dropped is written into the
trace: ``otherData.trace_budget`` and an instant named ``trace budget`` at the start.

Speed: every string is formatted once per span in one pass over plain Python lists (no per-event
``json.dumps`` except for the sparse ``args``); nesting is checked only on threads whose spans
overlap.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from profiler.analysis.nesting import is_laminar
from profiler.core.events import (
    DATA_LOADING,
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    PHASE,
    RUNTIME,
    SPAN_CATEGORIES,
    STEP,
    WARMUP,
    EventTable,
)

#: spans never dropped for the size budget: they frame everything else
_KEEP_CATS = (STEP, WARMUP, PHASE, DATA_LOADING)


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


class ChromeTraceExporter:
    extension = ".json.gz"

    def __init__(
        self,
        origin_ns: int | None = None,
        metadata: dict[str, Any] | None = None,
        budget_mb: float | None = None,
    ) -> None:
        self.origin_ns = origin_ns
        self.metadata = dict(metadata or {})
        self.budget_mb = budget_mb
        #: what the budget removed (filled by :meth:`events`); ``None`` when nothing was
        self.dropped: dict[str, Any] | None = None

    # ---------------------------------------------------------------- pieces
    def _tid_map(self, table: EventTable) -> dict[tuple[int, int], int]:
        sp = table.spans
        pairs: set[tuple[int, int]] = set()
        if table.n_spans:
            up, ut, inv = _pairs(sp["pid"], sp["tid"])
            self._pair_cache = (up, ut, inv)
            pairs |= set(zip(up.tolist(), ut.tolist(), strict=True))
        pairs |= set(zip(table.instants["pid"].tolist(), table.instants["tid"].tolist(), strict=True))
        pairs |= set(table.threads)
        tid_map: dict[tuple[int, int], int] = {}
        per_pid: dict[int, int] = {}
        for pid, tid in sorted(pairs, key=lambda p: (p[0], p[1] >= DEVICE_TID_BASE, p[1])):
            per_pid[pid] = tid_map[(pid, tid)] = per_pid.get(pid, 0) + 1
        return tid_map

    def _metadata_events(self, table: EventTable, tid_map: dict[tuple[int, int], int]) -> list[str]:
        out = []
        pids = sorted(
            {p for p, _ in tid_map} | set(table.processes) | set(np.unique(table.counters["pid"]).tolist())
        )
        for i, pid in enumerate(pids):
            name = table.processes.get(pid, f"process {pid}")
            out.append(
                f'{{"ph":"M","name":"process_name","pid":{pid},"tid":0,"args":{{"name":{json.dumps(name)}}}}}'
            )
            out.append(
                f'{{"ph":"M","name":"process_sort_index","pid":{pid},"tid":0,"args":{{"sort_index":{i}}}}}'
            )
        for (pid, tid), small in tid_map.items():
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
    def _clipped_ends(table: EventTable) -> np.ndarray:
        """Each span's end, cut to its parent's end where a thread's slices would not nest."""
        sp = table.spans
        start = sp["start_ns"]
        end = start + sp["dur_ns"]
        clipped = end.copy()
        order = np.lexsort((-sp["dur_ns"], start, sp["tid"], sp["pid"]))
        s_pid, s_tid = sp["pid"][order], sp["tid"][order]
        bounds = np.flatnonzero((s_pid[1:] != s_pid[:-1]) | (s_tid[1:] != s_tid[:-1])) + 1
        for grp in np.split(order, bounds):
            if len(grp) < 2:
                continue
            gs, ge = start[grp], end[grp]
            run = np.maximum.accumulate(ge)
            overlaps = gs[1:] < run[:-1]
            if not overlaps.any():
                continue  # e.g. one stream's kernels: serial, nothing to nest
            if is_laminar(gs, ge):
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
        # 2. spans: drop the shortest first until the rest fits
        sp = table.spans
        protected = table.cat_mask(*_KEEP_CATS)
        base = int(span_len[protected].sum())
        cand = np.flatnonzero(~protected)
        order = cand[np.argsort(-sp["dur_ns"][cand], kind="stable")]  # longest first
        cum = np.cumsum(span_len[order]) + base
        n_keep = int(np.searchsorted(cum, remaining, side="right"))
        if n_keep < len(order):
            drop = order[n_keep:]
            thr = int(sp["dur_ns"][drop[0]])  # the longest dropped span
            keep_s[drop] = False
            by_cat: dict[str, int] = {}
            cats, counts = np.unique(sp["cat"][drop], return_counts=True)
            for cc, nn in zip(cats.tolist(), counts.tolist(), strict=True):
                by_cat[SPAN_CATEGORIES[cc]] = nn
            info.update(
                dropped_spans=len(drop),
                kept_spans=int(keep_s.sum()),
                dropped_up_to_us=thr / 1e3,
                dropped_time_ms=float(sp["dur_ns"][drop].sum()) / 1e6,
                dropped_by_category=by_cat,
            )
        else:
            info["dropped_spans"] = 0
        info["json_mb"] = int(span_len[keep_s].sum() + ctr_len[keep_c].sum()) / 1e6
        self.dropped = info
        return keep_s, keep_c

    @staticmethod
    def _args(table: EventTable, clipped: np.ndarray, end: np.ndarray) -> list[str]:
        """The ``,"args":{...}`` text of every span ("" for most), built column by column."""
        sp = table.spans
        n = table.n_spans
        acc = np.full(n, "", dtype=object)  # each present piece as ',"key":value'

        def put(rows: np.ndarray, texts: list[str]) -> None:
            if len(rows):
                acc[rows] = acc[rows] + np.array(texts, dtype=object)

        nonempty = [r for r, a in table.span_args.items() if a]
        if nonempty:
            rows = np.asarray(nonempty, np.int64)
            put(rows, ["," + json.dumps(table.span_args[r])[1:-1] for r in rows.tolist()])
        rows = np.flatnonzero(~np.isnan(sp["flops"]))
        put(rows, [f',"flops":{v!r}' for v in sp["flops"][rows].tolist()])
        rows = np.flatnonzero(~np.isnan(sp["bytes"]))
        put(rows, [f',"bytes":{v!r}' for v in sp["bytes"][rows].tolist()])
        rows = np.flatnonzero(sp["shapes"] >= 0)
        if len(rows):
            u, inv = np.unique(sp["shapes"][rows], return_inverse=True)
            esc = np.array([',"shapes":' + json.dumps(table.strings[i]) for i in u.tolist()], dtype=object)
            acc[rows] = acc[rows] + esc[inv]
        rows = np.flatnonzero(sp["corr"] >= 0)
        put(rows, [f',"correlation":{v}' for v in sp["corr"][rows].tolist()])
        rows = np.flatnonzero(clipped != end)
        put(rows, [f',"clipped_ns":{v}' for v in (end - clipped)[rows].tolist()])
        out = acc.tolist()
        for r in np.flatnonzero(acc != "").tolist():
            t = out[r]
            out[r] = ',"args":{' + t[1:] + "}" if len(t) > 1 else ""
        return out

    # ---------------------------------------------------------------- events
    def events(self, table: EventTable) -> list[str]:
        """Each trace event as a JSON text (what :meth:`write` joins)."""
        tr = table.time_range()
        origin = self.origin_ns if self.origin_ns is not None else (tr[0] if tr else 0)
        sp = table.spans
        tid_map = self._tid_map(table)
        meta = self._metadata_events(table, tid_map)
        esc = np.array([json.dumps(s) for s in table.strings.strings] or [""], dtype=object)
        cat_esc = np.array([json.dumps(c) for c in SPAN_CATEGORIES], dtype=object)

        span_txt: list[str] = []
        flow_txt: dict[int, str] = {}
        if table.n_spans:
            start = sp["start_ns"]
            end = start + sp["dur_ns"]
            clipped = self._clipped_ends(table)
            # small tids: one lookup per distinct (pid, tid) pair
            up, ut, inv = self._pair_cache
            small_u = np.array(
                [tid_map[(x, y)] for x, y in zip(up.tolist(), ut.tolist(), strict=True)], np.int64
            )
            small = small_u[inv]
            ts = _us(start - origin)
            dur = _us(clipped - start)
            names = esc[sp["name"]].tolist()
            cats = cat_esc[sp["cat"]].tolist()
            pids = sp["pid"].tolist()
            tids = small.tolist()
            args = self._args(table, clipped, end)
            span_txt = [
                f'{{"ph":"X","name":{nm},"cat":{ct},"pid":{p},"tid":{t},"ts":{a},"dur":{d}{g}}}'
                for nm, ct, p, t, a, d, g in zip(names, cats, pids, tids, ts, dur, args, strict=True)
            ]
            del names, cats, dur, args
            c_ok = sp["corr"] >= 0
            corr = sp["corr"]
            if c_ok.any():
                launch = table.cat_mask(RUNTIME) & c_ok
                device = table.cat_mask(KERNEL, MEMCPY, MEMSET) & c_ok
                common = np.intersect1d(corr[launch], corr[device])
                for r in np.flatnonzero(launch & np.isin(corr, common)).tolist():
                    flow_txt[r] = (
                        f'{{"ph":"s","name":"launch","cat":"flow","id":{int(corr[r])},'
                        f'"pid":{pids[r]},"tid":{tids[r]},"ts":{ts[r]}}}'
                    )
                for r in np.flatnonzero(device & np.isin(corr, common)).tolist():
                    flow_txt[r] = (
                        f'{{"ph":"f","bp":"e","name":"launch","cat":"flow","id":{int(corr[r])},'
                        f'"pid":{pids[r]},"tid":{tids[r]},"ts":{ts[r]}}}'
                    )

        c = table.counters
        cv = c["value"]
        c_ok_rows = ~np.isnan(cv)
        c_ts = _us(c["ts_ns"] - origin)
        c_names = esc[c["name"]].tolist() if len(cv) else []
        ctr_txt = [
            f'{{"ph":"C","name":{nm},"pid":{p},"tid":0,"ts":{t},"args":{{"value":{v!r}}}}}' if ok else ""
            for nm, p, t, v, ok in zip(
                c_names, c["pid"].tolist(), c_ts, cv.tolist(), c_ok_rows.tolist(), strict=True
            )
        ]

        if self.budget_mb is not None:
            span_len = np.fromiter(map(len, span_txt), np.int64, len(span_txt)) + 2
            for r, t in flow_txt.items():
                span_len[r] += len(t) + 2
            ctr_len = np.fromiter(map(len, ctr_txt), np.int64, len(ctr_txt)) + 2
            keep_s, keep_c = self._budget(table, span_len, ctr_len)

        out = meta
        if self.dropped and (self.dropped.get("dropped_spans") or self.dropped.get("counters_downsampled")):
            first_pid = next(iter(tid_map), (0, 0))[0]
            out.append(
                f'{{"ph":"i","s":"g","name":"trace budget","pid":{first_pid},"tid":0,"ts":0.000,'
                f'"args":{json.dumps(self.dropped)}}}'
            )
        if flow_txt:
            # a flow event follows its slice
            for r, f in flow_txt.items():
                span_txt[r] = span_txt[r] + ",\n" + f
        if self.budget_mb is None:
            out.extend(span_txt)
            out.extend(s for s in ctr_txt if s)
        else:
            out.extend(span_txt[r] for r in np.flatnonzero(keep_s).tolist())
            out.extend(ctr_txt[i] for i in np.flatnonzero(keep_c).tolist() if ctr_txt[i])
        del span_txt, ctr_txt

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
        return out

    def write(self, table: EventTable, path: Path) -> Path:
        """Write the trace to ``path`` (gzip when it ends in ``.gz``), atomically, streaming the text."""
        import os
        import tempfile
        import zlib

        path = Path(path)
        evs = self.events(table)
        other = dict(self.metadata)
        if self.dropped is not None:
            other["trace_budget"] = self.dropped
        meta = json.dumps({"displayTimeUnit": "ms", "otherData": other})[1:-1]
        gz = str(path).endswith(".gz")
        # level 1: several times faster than the default on 100+ MB traces, ~10% larger
        comp = zlib.compressobj(1, zlib.DEFLATED, 31) if gz else None
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:

                def put(text: str) -> None:
                    data = text.encode()
                    f.write(comp.compress(data) if comp else data)

                put('{"traceEvents":[\n')
                chunk = 65536
                for i in range(0, len(evs), chunk):
                    put((",\n" if i else "") + ",\n".join(evs[i : i + chunk]))
                put("\n]," + meta + "}\n")
                if comp:
                    f.write(comp.flush())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path
