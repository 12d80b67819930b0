"""Chrome Trace Event Format exporter (opens in Perfetto and chrome://tracing).

Mapping from the event model:

* spans → complete events (``ph: "X"``), ``ts``/``dur`` in microseconds from the trace's origin;
* counters → ``ph: "C"`` (one counter track per name and process);
* instants → ``ph: "i"`` (thread scope);
* correlation ids shared by a host launch (``runtime``) and a device span → a flow arrow
  (``ph: "s"`` on the launch, ``ph: "f"`` with ``bp: "e"`` on the kernel);
* process and thread names → ``ph: "M"`` metadata; thread ids are renumbered per process to small
  integers (device streams and tracer threads carry 40-bit synthetic ids in the model).

Slices on one thread must nest for the viewers: a span that starts inside another but ends after it
is cut at its parent's end (``args.clipped_ns`` says by how much) rather than dropped.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from profiler.events import DEVICE_TID_BASE, KERNEL, MEMCPY, MEMSET, RUNTIME, SPAN_CATEGORIES, EventTable


class ChromeTraceExporter:
    extension = ".json.gz"

    def __init__(self, origin_ns: int | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.origin_ns = origin_ns
        self.metadata = dict(metadata or {})

    def events(self, table: EventTable) -> Iterable[str]:
        """Each trace event as a JSON text (what :meth:`write` joins)."""
        tr = table.time_range()
        origin = self.origin_ns if self.origin_ns is not None else (tr[0] if tr else 0)
        sp = table.spans
        esc = [json.dumps(s) for s in table.strings.strings]
        cat_esc = [json.dumps(c) for c in SPAN_CATEGORIES]

        # renumber tids per pid; device streams after host threads
        tid_map: dict[tuple[int, int], int] = {}
        pairs = set(zip(sp["pid"].tolist(), sp["tid"].tolist(), strict=True))
        pairs |= set(zip(table.instants["pid"].tolist(), table.instants["tid"].tolist(), strict=True))
        pairs |= set(table.threads)
        per_pid: dict[int, int] = {}
        for pid, tid in sorted(pairs, key=lambda p: (p[0], p[1] >= DEVICE_TID_BASE, p[1])):
            per_pid[pid] = tid_map[(pid, tid)] = per_pid.get(pid, 0) + 1
        pids = sorted({p for p, _ in tid_map} | set(table.processes) | set(table.counters["pid"].tolist()))
        for i, pid in enumerate(pids):
            name = table.processes.get(pid, f"process {pid}")
            yield f'{{"ph":"M","name":"process_name","pid":{pid},"tid":0,"args":{{"name":{json.dumps(name)}}}}}'
            yield f'{{"ph":"M","name":"process_sort_index","pid":{pid},"tid":0,"args":{{"sort_index":{i}}}}}'
        for (pid, tid), small in tid_map.items():
            name = table.threads.get((pid, tid))
            if name is None:
                name = f"GPU stream {tid - DEVICE_TID_BASE}" if tid >= DEVICE_TID_BASE else f"thread {tid}"
            yield (
                f'{{"ph":"M","name":"thread_name","pid":{pid},"tid":{small},'
                f'"args":{{"name":{json.dumps(name)}}}}}'
            )
            yield (
                f'{{"ph":"M","name":"thread_sort_index","pid":{pid},"tid":{small},'
                f'"args":{{"sort_index":{small}}}}}'
            )

        # spans, nested per thread
        if table.n_spans:
            start = sp["start_ns"]
            end = start + sp["dur_ns"]
            order = np.lexsort((-sp["dur_ns"], start, sp["tid"], sp["pid"]))
            clipped_end = end.copy()
            cur_key = None
            stack: list[int] = []
            for r in order.tolist():
                key = (int(sp["pid"][r]), int(sp["tid"][r]))
                if key != cur_key:
                    cur_key, stack = key, []
                s = int(start[r])
                while stack and clipped_end[stack[-1]] <= s:
                    stack.pop()
                if stack and clipped_end[r] > clipped_end[stack[-1]]:
                    clipped_end[r] = clipped_end[stack[-1]]
                stack.append(r)
            corr = sp["corr"]
            flow_src = set()
            flow_dst = set()
            if (corr >= 0).any():
                launch = table.cat_mask(RUNTIME) & (corr >= 0)
                device = table.cat_mask(KERNEL, MEMCPY, MEMSET) & (corr >= 0)
                common = np.intersect1d(corr[launch], corr[device])
                flow_src = set(np.flatnonzero(launch & np.isin(corr, common)).tolist())
                flow_dst = set(np.flatnonzero(device & np.isin(corr, common)).tolist())
            for r in range(table.n_spans):
                pid = int(sp["pid"][r])
                tid = tid_map[(pid, int(sp["tid"][r]))]
                ts = (int(start[r]) - origin) / 1000.0
                dur = (int(clipped_end[r]) - int(start[r])) / 1000.0
                args = dict(table.span_args.get(r, {}))
                f = float(sp["flops"][r])
                if f == f:
                    args["flops"] = f
                b = float(sp["bytes"][r])
                if b == b:
                    args["bytes"] = b
                if sp["shapes"][r] >= 0:
                    args["shapes"] = table.strings[int(sp["shapes"][r])]
                if corr[r] >= 0:
                    args["correlation"] = int(corr[r])
                if clipped_end[r] != end[r]:
                    args["clipped_ns"] = int(end[r] - clipped_end[r])
                a = json.dumps(args) if args else "{}"
                yield (
                    f'{{"ph":"X","name":{esc[sp["name"][r]]},"cat":{cat_esc[sp["cat"][r]]},'
                    f'"pid":{pid},"tid":{tid},"ts":{ts:.3f},"dur":{dur:.3f},"args":{a}}}'
                )
                if r in flow_src:
                    yield (
                        f'{{"ph":"s","name":"launch","cat":"flow","id":{int(corr[r])},'
                        f'"pid":{pid},"tid":{tid},"ts":{ts:.3f}}}'
                    )
                elif r in flow_dst:
                    yield (
                        f'{{"ph":"f","bp":"e","name":"launch","cat":"flow","id":{int(corr[r])},'
                        f'"pid":{pid},"tid":{tid},"ts":{ts:.3f}}}'
                    )

        c = table.counters
        for i in range(len(c["ts_ns"])):
            ts = (int(c["ts_ns"][i]) - origin) / 1000.0
            v = float(c["value"][i])
            if v != v:
                continue
            yield (
                f'{{"ph":"C","name":{esc[c["name"][i]]},"pid":{int(c["pid"][i])},"tid":0,'
                f'"ts":{ts:.3f},"args":{{"value":{v!r}}}}}'
            )
        ins = table.instants
        for i in range(len(ins["ts_ns"])):
            pid = int(ins["pid"][i])
            tid = tid_map[(pid, int(ins["tid"][i]))]
            ts = (int(ins["ts_ns"][i]) - origin) / 1000.0
            a = json.dumps(table.instant_args.get(i, {}))
            yield (
                f'{{"ph":"i","s":"t","name":{esc[ins["name"][i]]},"pid":{pid},"tid":{tid},'
                f'"ts":{ts:.3f},"args":{a}}}'
            )

    def write(self, table: EventTable, path: Path) -> Path:
        from profiler.rundir import atomic_write_bytes

        meta = json.dumps({"displayTimeUnit": "ms", **{"otherData": self.metadata}})[1:-1]
        body = ",\n".join(self.events(table))
        text = '{"traceEvents":[\n' + body + "\n]," + meta + "}\n"
        data = text.encode()
        if str(path).endswith(".gz"):
            data = gzip.compress(data, compresslevel=5)
        atomic_write_bytes(Path(path), data)
        return Path(path)
