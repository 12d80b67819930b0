"""torch.profiler (Kineto) Chrome JSON traces read into the shared event model.

:func:`read_kineto_json` (table and facts) / :func:`load_kineto_json` (table only) read what
``prof.export_chrome_trace()`` and ``tensorboard_trace_handler`` write, every Kineto dialect
(torch 1.8 on); :func:`parse_kineto` works on a :class:`~profiler.importers.chrome_json.ChromeDoc`.
Timestamps become integer nanoseconds exactly (:func:`us_to_ns`, :func:`exact_ns`). No framework is
imported. The category mapping per dialect, the clock, args kept, flows and the facts recorded:
``docs/traces.md`` ("Kineto dialects").
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from profiler.core.errors import InputError
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
    EventTable,
    StringTable,
    device_tid,
    split_device_tid,
)
from profiler.core.opkinds import DATALOADER_ANNOTATION, GRAPH_LAUNCH_CALLS, SYNC_CALLS, op_kind
from profiler.importers.chrome_json import EVENT, ChromeDoc, read_chrome

_CODE = {c: i for i, c in enumerate(SPAN_CATEGORIES)}
_MAX_NS = 100 * 365 * 86400 * 10**9  # beyond this a ts/dur is garbage, and sums could overflow int64
_STEP_RX = re.compile(r"^ProfilerStep#(\d+)$")
_KERNEL_ARGS = ("grid", "block", "registers per thread", "shared memory", "est. achieved occupancy %")
#: Kineto's ``cat`` names, every version, -> the role an event plays here. torch 1.8-1.10 wrote
#: ``Operator``/``Kernel``/``Runtime``/``Memcpy``/``Memset``/``Python``; torch 1.11 on ``cpu_op``/
#: ``kernel``/``cuda_runtime``/``gpu_memcpy``/``gpu_memset``/``python_function``. Looked up as written,
#: then lower-cased (TensorBoard's plugin reads them case-blind too).
_ROLES = {
    "cpu_op": "op", "operator": "op",
    "user_annotation": "annotation",
    "kernel": "kernel",
    "gpu_memcpy": "memcpy", "memcpy": "memcpy",
    "gpu_memset": "memset", "memset": "memset",
    "gpu_user_annotation": "device_region",
    "cuda_sync": "device_region",  # CUPTI's synchronization records, drawn on the device's stream
    "cuda_runtime": "runtime", "cuda_driver": "runtime", "runtime": "runtime", "xpu_runtime": "runtime",
    "mtia_runtime": "runtime", "privateuse1_runtime": "runtime", "glow_runtime": "runtime",
    "python_function": "python", "python": "python",
    "trace": "trace",
    "dataloader": "data_loading",
    "overhead": "region", "cuda_profiler_range": "region", "net": "region",
    "": "region",  # an X event without a category: kept as a plain region, as before
}
_DEVICE_ROLES = {"kernel": KERNEL, "memcpy": MEMCPY, "memset": MEMSET, "device_region": REGION}
#: the category names only one dialect uses (for ``facts["dialect"]``)
_OLD_NAMES = frozenset({"Operator", "Kernel", "Runtime", "Memcpy", "Memset"})
_NEW_NAMES = frozenset({"cpu_op", "kernel", "cuda_runtime", "cuda_driver", "gpu_memcpy", "gpu_memset"})
#: flow categories of the launch -> device arrow in older Kineto (1.9: ``async`` named ``launch``),
#: read as today's ``ac2g``
_LAUNCH_FLOW_CATS = frozenset({"async_cpu_to_gpu", "async_gpu", "ac2g"})
#: the stream of a device record that belongs to no stream (CUPTI's context-wide sync: stream -1)
NO_STREAM = 999


def _role_of(cat: str) -> str | None:
    """The role of a ``cat`` (``None``: a category no Kineto version writes)."""
    r = _ROLES.get(cat)
    return r if r is not None else _ROLES.get(cat.lower())


KINETO_CATS = frozenset(
    {
        "Operator",
        "Kernel",
        "Runtime",
        "Memcpy",
        "Memset",
        "cuda_sync",
        "async_cpu_to_gpu",
        "cpu_op",
        "user_annotation",
        "kernel",
        "gpu_memcpy",
        "gpu_memset",
        "cuda_runtime",
        "cuda_driver",
        "python_function",
        "gpu_user_annotation",
        "ac2g",
        "fwdbwd",
    }
)


def is_kineto(doc: ChromeDoc) -> bool:
    """Whether a Chrome trace looks like torch.profiler output (or an export following its categories)."""
    if {"schemaVersion", "deviceProperties", "baseTimeNanoseconds"} & doc.facts.keys():
        return True
    return any(isinstance(e.cat, str) and e.cat in KINETO_CATS for e in doc.first_events())


def _int(v: Any, default: int = -1) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _tid(v: Any) -> int:
    """A thread id as written: a number, a numeric string (torch 1.8-1.10 quote host tids) or
    ``"stream N"`` (their device tracks); anything else 0."""
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.startswith("stream "):
        return _int(v[7:], 0)
    return _int(v, 0)


#: a trace of at least this many events is read in two halves at once (the second by a forked child)
#: where the machine has a second core; below it, forking costs more than it saves
PARALLEL_FROM = 200_000

_COL_TYPES = {"start_ns": np.int64, "dur_ns": np.int64, "cat": np.int16, "name": np.int32, "pid": np.int64,
              "tid": np.int64, "flops": np.float64, "corr": np.int64, "shapes": np.int32}


def parse_kineto(doc: ChromeDoc, source: str = "trace", halves: bool | None = None) -> tuple[EventTable, dict[str, Any]]:
    """The event table and facts (device properties, step marking, what was skipped) of a trace.

    A large trace (:data:`PARALLEL_FROM` events; ``halves`` forces it either way) is read in two
    halves at once, the second by a forked child (:class:`~profiler.core.forked.Forked`: where it
    cannot fork, the parent reads both); the halves are joined as if read in one pass
    (:func:`_joined`), which ``tests/test_kineto_json.py`` checks against the one-pass table.
    """
    events = doc.events
    n = len(events)
    exact = needs_exact_ts(doc)
    if halves is None:
        halves = n >= PARALLEL_FROM
    if halves and n >= 2:
        from profiler.core.forked import Forked

        cut = n // 2
        second = Forked(lambda: _sent(_read(events, cut, n, source, exact)))  # sent back as plain data
        part = _joined(_read(events, 0, cut, source, exact), _received(second.result()))
    else:
        part = _read(events, 0, n, source, exact)
    return _table(part, doc, source)


@dataclass
class _Part:
    """What reading a run of events gives, rows numbered from 0 within it; string ids are its own."""

    strings: list[str]
    cols: dict[str, np.ndarray]
    span_args: dict[int, dict[str, Any]]
    processes: dict[int, str]
    threads: dict[tuple[int, int], str]
    pid_names: dict[str, int]
    host_pids: dict[int, int]
    device_rows: np.ndarray
    flows: np.ndarray  # (n, 6): ph (0 start, 1 finish), id, cat, ts, pid, tid; in the order read
    # device tracks as written -> as filed: (pid, tid) -> (pid or None for the host, device tid)
    tracks: dict[tuple[int, int], tuple[int | None, int]]
    skipped: dict[str, int]
    first_bad: str
    n_steps: int
    cats: dict[str, int]  # X events per category as written
    first_key: tuple[Any, ...] | None  # the first and last complete event (duplicates across a join)
    last_key: tuple[Any, ...] | None


def _sent(part: _Part) -> dict[str, Any]:
    """``part`` as the data a forked child sends: its args (one JSON object per row) encoded in one
    call, as bytes, rather than walked value by value (:func:`profiler.core.forked.pack`)."""
    d = vars(part).copy()
    args = d.pop("span_args")
    d["span_args_rows"] = np.fromiter(args.keys(), np.int64, len(args))
    d["span_args_json"] = np.frombuffer(msgspec.json.encode(list(args.values())), np.uint8)
    return d


def _received(d: dict[str, Any]) -> _Part:
    """What :func:`_sent` sent, as the part it was."""
    d = dict(d)
    rows = d.pop("span_args_rows").tolist()
    values = msgspec.json.decode(d.pop("span_args_json").tobytes())
    return _Part(**d, span_args=dict(zip(rows, values, strict=True)))


def _joined(a: _Part, b: _Part) -> _Part:
    """``b`` read after ``a``, as one pass over both would have read it: a duplicate across the join
    dropped, ``b``'s strings and string pids renumbered into ``a``'s, its rows after ``a``'s."""
    cols, span_args, device_rows = b.cols, b.span_args, b.device_rows
    host_pids, n_steps = dict(b.host_pids), b.n_steps
    skipped = {k: a.skipped[k] + b.skipped[k] for k in a.skipped}
    if b.first_key is not None and b.first_key == a.last_key:  # the same event on both sides of the join
        skipped["duplicates"] += 1
        if cols["cat"][0] == _CODE[OP]:
            host_pids[int(cols["pid"][0])] -= 1
        if cols["cat"][0] == _CODE[STEP] and (span_args.get(0) or {}).get("traced"):
            n_steps -= 1
        cols = {k: v[1:] for k, v in cols.items()}
        span_args = {k - 1: v for k, v in span_args.items() if k}
        device_rows = device_rows[device_rows > 0] - 1
    strings = StringTable(a.strings)
    to_a = np.array([strings.intern(s) for s in b.strings] or [0], np.int32)
    cols = dict(cols, name=to_a[cols["name"]],
                shapes=np.where(cols["shapes"] >= 0, to_a[np.maximum(cols["shapes"], 0)], -1).astype(np.int32))
    # string pids ("Spans") are numbered in the order seen: b's numbers become a's
    pid_names, processes = dict(a.pid_names), dict(a.processes)
    moved = {i: _string_pid(s, pid_names, processes) for s, i in b.pid_names.items()}
    b_default = {i: s for s, i in b.pid_names.items()}  # a string pid's own text, its default name

    def pid(p: int) -> int:
        return moved.get(p, p)

    if moved and len(cols["pid"]):
        cols["pid"] = np.array([pid(p) for p in cols["pid"].tolist()], np.int64)
    for p, name in b.processes.items():
        if not (b_default.get(p) == name and pid(p) in processes):  # a name a gave it stays
            processes[pid(p)] = name
    hp = dict(a.host_pids)
    for p, c in host_pids.items():
        hp[pid(p)] = hp.get(pid(p), 0) + c
    tracks = dict(a.tracks)
    for (p, t), (fp, ft) in b.tracks.items():
        tracks.setdefault((pid(p), t), (None if fp is None else pid(fp), ft))
    flows = b.flows.copy()
    if len(flows):
        flows[:, 2] = to_a[flows[:, 2]]
        if moved:
            flows[:, 4] = [pid(p) for p in flows[:, 4].tolist()]
    off = len(a.cols["start_ns"])
    return _Part(
        strings=strings.strings, cols={k: np.concatenate([a.cols[k], cols[k]]) for k in a.cols},
        span_args={**a.span_args, **{k + off: v for k, v in span_args.items()}}, processes=processes,
        threads={**a.threads, **{(pid(p), t): v for (p, t), v in b.threads.items()}}, pid_names=pid_names,
        host_pids={k: v for k, v in hp.items() if v}, device_rows=np.concatenate([a.device_rows, device_rows + off]),
        flows=np.concatenate([a.flows, flows]), tracks=tracks,
        skipped=skipped, first_bad=a.first_bad or b.first_bad, n_steps=a.n_steps + n_steps,
        cats={k: a.cats.get(k, 0) + b.cats.get(k, 0) for k in a.cats.keys() | b.cats.keys()},
        first_key=a.first_key if a.first_key is not None else b.first_key,
        last_key=b.last_key if b.last_key is not None else a.last_key,
    )


def _string_pid(s: str, pid_names: dict[str, int], processes: dict[int, str]) -> int:
    """The id of a string pid ("Spans", "Traces"): stable negative numbers in the order first seen,
    the text itself the process's name until a metadata event names it."""
    if s not in pid_names:
        pid_names[s] = -1000 - len(pid_names)
        processes.setdefault(pid_names[s], s)
    return pid_names[s]


class _Ts(msgspec.Struct, gc=False):
    ts: msgspec.Raw = msgspec.Raw(b"0")


_TS = msgspec.json.Decoder(_Ts)
#: from here on (2**43 µs, 102 days) a double's spacing is over 1 ns: a timestamp written with three
#: decimals of microseconds (nanoseconds) is no longer the double nearest to it within half a
#: nanosecond, and is read from its text instead
EXACT_FROM_US = float(2**43)


def needs_exact_ts(doc: ChromeDoc) -> bool:
    """Whether ``ts`` must be read from its text: fractional microseconds (nanoseconds) since 1970,
    which a double holds only to ~0.25 µs (Kineto writes them so when the trace has no
    ``baseTimeNanoseconds``: the nanosecond-resolution traces)."""
    return any(isinstance(e.ts, float) and abs(e.ts) >= EXACT_FROM_US for e in doc.first_events(200))


def _ns_of(us: np.ndarray, source: str) -> np.ndarray:
    """Microseconds in integer nanoseconds, each the nanosecond written (as :func:`us_to_ns`)."""
    if len(us) and not (np.isfinite(us).all() and np.abs(us).max() <= _MAX_NS / 1000):
        bad = us[~(np.isfinite(us) & (np.abs(us) <= _MAX_NS / 1000))][0]
        raise InputError(f"{source}: malformed trace event (OverflowError: time {bad!r} us out of range)")
    whole = np.trunc(us)
    return whole.astype(np.int64) * 1000 + np.rint((us - whole) * 1000).astype(np.int64)


def us_to_ns(x: int | float) -> int:
    """Microseconds (as JSON gave them) in integer nanoseconds. Below :data:`EXACT_FROM_US` a
    double's spacing is under 1 ns, so the nanosecond written is the one nearest the double: the
    whole microseconds and the fraction are scaled apart (``round(x * 1000)`` alone rounds the
    product and misses by 1 ns on about a third of the timestamps of a trace 50 days past its
    ``baseTimeNanoseconds``)."""
    if x.__class__ is int:
        return x * 1000
    i = int(x)
    return i * 1000 + round((x - i) * 1000)


def exact_ns(text: bytes) -> int:
    """A JSON number of microseconds, as written, in integer nanoseconds (digits beyond the
    nanosecond rounded half up)."""
    if b"e" in text or b"E" in text:
        return round(float(text) * 1000)
    neg = text[:1] == b"-"
    if neg:
        text = text[1:]
    dot = text.find(b".")
    if dot < 0:
        v = int(text) * 1000
    else:
        frac = text[dot + 1:]
        v = int(text[:dot] or b"0") * 1000 + int((frac[:3] + b"000")[:3])
        if len(frac) > 3 and frac[3:4] >= b"5":
            v += 1
    return -v if neg else v


def _read(events: list[msgspec.Raw], lo: int, hi: int, source: str, exact: bool = False) -> _Part:
    """``events[lo:hi]`` read one at a time: what is unusual is skipped and counted, not fatal."""
    strings = StringTable()
    intern = strings.intern
    # ts and dur as written (microseconds), scaled to nanoseconds at once at the end (_ns_of);
    # where ts must be read from its text (exact), ts is kept in nanoseconds as read
    start, dur = array("q" if exact else "d"), array("d")
    pid, tid, corr = array("q"), array("q"), array("q")
    cat, name, shapes = array("h"), array("i"), array("i")
    flops = array("d")
    shape_ids: dict[bytes, int] = {}
    span_args: dict[int, dict[str, Any]] = {}
    processes: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    pid_names: dict[str, int] = {}  # string pids ("Spans", "Traces") get stable negative ids
    host_pids: dict[int, int] = {}
    device_rows = array("q")
    flows = array("q")  # six numbers per flow event: ph, id, cat, ts, pid, tid
    first_bad = ""
    skipped = {"malformed": 0, "without a numeric ts": 0, "other phases": 0, "duplicates": 0, "unknown category": 0}
    cat_n: dict[str, int] = {}
    roles: dict[str, str | None] = {}
    nan = float("nan")
    n_steps = 0
    c_op, c_step, c_dl, c_region = _CODE[OP], _CODE[STEP], _CODE[DATA_LOADING], _CODE[REGION]
    c_rt, c_sync, c_py, c_phase = _CODE[RUNTIME], _CODE[SYNC], _CODE[PYTHON], _CODE[PHASE]
    c_coll = _CODE[COLLECTIVE]
    ann_codes: dict[str, int] = {}
    dev_codes = {k: _CODE[v] for k, v in _DEVICE_ROLES.items()}
    decode = EVENT.decode
    last_key = None
    # device tracks as written -> as filed: (pid, tid) -> (pid or None for the host, device tid)
    tracks: dict[tuple[int, int], tuple[int | None, int]] = {}

    def pid_of(p: Any) -> int:
        if isinstance(p, int):
            return p
        try:
            return int(p)
        except (TypeError, ValueError):
            return _string_pid(str(p), pid_names, processes)

    first_key = None
    try:
        for raw in itertools.islice(events, lo, hi):
            try:
                e = decode(raw)
            except msgspec.ValidationError as ex:
                skipped["malformed"] += 1
                first_bad = first_bad or str(ex)
                continue
            ph = e.ph
            if ph != "X":
                a = e.args
                if ph == "M" and a is not None and isinstance(a.name, str):
                    if e.name == "process_name":
                        processes[pid_of(e.pid)] = a.name
                    elif e.name == "thread_name":
                        threads[(pid_of(e.pid), _int(e.tid, 0))] = a.name
                elif ph in ("s", "f", "t") and e.id is not None and isinstance(e.ts, (int, float)):
                    fts = exact_ns(bytes(_TS.decode(raw).ts)) if exact and isinstance(e.ts, float) else us_to_ns(e.ts)
                    if abs(fts) > _MAX_NS:
                        raise OverflowError(f"flow timestamp {e.ts!r} out of range")
                    fc = str(e.cat or "flow")
                    if fc in _LAUNCH_FLOW_CATS or (fc == "async" and e.name == "launch"):
                        fc = "ac2g"  # the launch arrow, under today's name
                    flows.extend((0 if ph == "s" else 1, _int(e.id), intern(fc), fts, pid_of(e.pid), _tid(e.tid)))
                elif ph != "M":
                    skipped["other phases"] += 1
                continue
            ts = e.ts
            if not isinstance(ts, (int, float)) or isinstance(ts, bool):
                skipped["without a numeric ts"] += 1
                continue
            d = e.dur
            if not isinstance(d, (int, float)) or isinstance(d, bool):
                d = 0
            if exact:
                ts = exact_ns(bytes(_TS.decode(raw).ts)) if ts.__class__ is float else ts * 1000
            ecat = e.cat if isinstance(e.cat, str) else ""
            cat_n[ecat] = cat_n.get(ecat, 0) + 1
            role = roles.get(ecat, "?")
            if role == "?":
                role = roles[ecat] = _role_of(ecat)
            a = e.args
            if role is None:
                if a is None or not isinstance(a.category, str) or a.category not in _CODE:
                    skipped["unknown category"] += 1  # named in facts["unknown_categories"]
                    continue
                role = "region"  # our own export says what it is below
            nm = e.name if isinstance(e.name, str) else str(e.name or "")
            p, t = e.pid, e.tid
            key = (ts, d, nm, p, t)
            if key == last_key:  # the same event written twice in a row
                skipped["duplicates"] += 1
                continue
            last_key = key
            if first_key is None:
                first_key = key
            row = len(start)
            c_corr = -1
            shp = -1
            fl = nan
            if role in dev_codes:
                code = dev_codes[role]
                dev = a.device if a is not None and a.device is not None else p
                stream = a.stream if a is not None and a.stream is not None else t
                raw_p, raw_t = pid_of(p), _tid(t)
                stream = _tid(stream)
                t = device_tid(_int(dev, 0), stream if stream >= 0 else NO_STREAM)
                if 0 <= raw_p < 64:  # Kineto's GPU track (pid = device index): filed under the host below
                    p = 0
                    device_rows.append(row)
                    tracks.setdefault((raw_p, raw_t), (None, t))
                else:  # already under its process (our own export, a merged multi-rank trace)
                    p = raw_p
                    tracks.setdefault((raw_p, raw_t), (raw_p, t))
                if a is not None:
                    c_corr = _int(a.correlation)
                    if role == "kernel":
                        ka = {k: v for k, v in zip(_KERNEL_ARGS, (a.grid, a.block, a.registers,
                              a.shared_memory, a.occupancy), strict=True) if v is not None}
                        if ka:
                            span_args[row] = ka
            elif role == "runtime":
                code = c_sync if nm in SYNC_CALLS else c_rt
                if a is not None:
                    c_corr = _int(a.correlation)
            elif nm.startswith("ProfilerStep#") and role != "trace" and _STEP_RX.match(nm):
                # the step marker: a user_annotation since torch 1.11, an Operator before
                code = c_step
                span_args[row] = {"index": int(nm[13:]), "traced": True}
                n_steps += 1
                if role == "op":
                    p = pid_of(p)
                    host_pids[p] = host_pids.get(p, 0) + 1
            elif role == "op" and nm.startswith(DATALOADER_ANNOTATION):  # torch <= 1.10: an Operator
                code = c_dl
                p = pid_of(p)
                host_pids[p] = host_pids.get(p, 0) + 1
            elif role == "op" and "::" not in nm and ("#" in nm or nm.startswith(("nccl:", "gloo:"))):
                # torch <= 1.10 wrote record_function ranges as Operators too (a label#detail or a
                # collective's nccl:/gloo: range, never an ns::op): read as 1.11 on reads them
                code = ann_codes.get(nm, -1)
                if code < 0:
                    code = ann_codes[nm] = c_coll if op_kind(nm)[1] == "communication" else c_region
                p = pid_of(p)
                host_pids[p] = host_pids.get(p, 0) + 1
            elif role == "op":
                code = c_op
                p = pid_of(p)
                host_pids[p] = host_pids.get(p, 0) + 1
                if a is not None:
                    rb = bytes(a.dims) or bytes(a.dims_v1)
                    if rb:
                        if rb not in (b"[]", b"null"):
                            shp = shape_ids.get(rb, -1)
                            if shp < 0:
                                shp = shape_ids[rb] = intern(rb.decode())
                            extra = _op_extras(a)
                            if extra:
                                span_args[row] = extra
                    elif isinstance(a.shapes, str):  # our export: shapes that are not a JSON list
                        shp = intern(a.shapes)
                    f = a.flops
                    if isinstance(f, (int, float)):
                        fl = float(f)
            elif role == "annotation":
                if nm.startswith(DATALOADER_ANNOTATION):
                    code = c_dl
                else:  # gloo:all_reduce, nccl:all_reduce ... (the collective itself): communication
                    code = ann_codes.get(nm, -1)
                    if code < 0:
                        code = ann_codes[nm] = c_coll if op_kind(nm)[1] == "communication" else c_region
            elif role == "python":
                code = c_py
            elif role == "trace":
                code = c_phase
            elif role == "data_loading":
                code = c_dl
            else:
                code = c_region
            if a is not None and isinstance(a.category, str) and a.category in _CODE and code != c_op:
                # our own export said what Kineto's cat cannot (warm-up, phase, a clean step ...)
                code = _CODE[a.category]
                if a.category not in ("runtime", "sync"):  # those carry no args of their own
                    extra = _plain_args(raw)
                    if extra:
                        span_args[row] = extra
                if code == c_step and (span_args.get(row) or {}).get("traced"):
                    n_steps += 1
            pid.append(pid_of(p))
            tid.append(_tid(t))
            start.append(ts)
            dur.append(max(0, d))
            cat.append(code)
            name.append(intern(nm))
            flops.append(fl)
            corr.append(c_corr)
            shapes.append(shp)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, msgspec.DecodeError) as ex:
        # a field of the wrong type or out of range: one line, no traceback
        raise InputError(f"{source}: malformed trace event ({type(ex).__name__}: {ex})") from None
    start_ns = np.frombuffer(start, np.int64).copy() if exact else _ns_of(np.frombuffer(start, np.float64), source)
    cols = {"start_ns": start_ns, "dur_ns": _ns_of(np.frombuffer(dur, np.float64), source), "cat": cat, "name": name,
            "pid": pid, "tid": tid, "flops": flops,
            "corr": corr, "shapes": shapes}
    return _Part(
        strings=strings.strings, cols={k: v if isinstance(v, np.ndarray) else np.frombuffer(v, _COL_TYPES[k]).copy()
                                       for k, v in cols.items()},
        span_args=span_args, processes=processes, threads=threads, pid_names=pid_names, host_pids=host_pids,
        device_rows=np.frombuffer(device_rows, np.int64).copy(),
        flows=np.frombuffer(flows, np.int64).reshape(-1, 6).copy(), tracks=tracks, skipped=skipped,
        first_bad=first_bad, n_steps=n_steps, cats=cat_n, first_key=first_key, last_key=last_key,
    )


def _table(part: _Part, doc: ChromeDoc, source: str) -> tuple[EventTable, dict[str, Any]]:
    """The table and facts of the events read: time order, device rows under the host, flows paired."""
    skipped, processes, threads, host_pids = part.skipped, part.processes, part.threads, part.host_pids
    span_args = part.span_args
    n = len(part.cols["start_ns"])
    if not n:
        why = ", ".join(f"{v} {k}" for k, v in skipped.items() if v)
        raise InputError(f"{source}: the trace has no complete (ph X) events" + (f" (skipped: {why})" if why else ""))
    dev_rows = part.device_rows
    if not host_pids:  # no ops (a trace of runtime calls and kernels only): the busiest host process
        rest = np.ones(n, bool)
        rest[dev_rows] = False
        hp, hn = np.unique(part.cols["pid"][rest & (part.cols["pid"] >= 0)], return_counts=True)
        host_pids = dict(zip(hp.tolist(), hn.tolist(), strict=True))
    host = max(host_pids, key=lambda k: host_pids[k]) if host_pids else (min(processes) if processes else 0)
    spans = dict(part.cols, bytes=np.full(n, np.nan))
    if len(dev_rows):
        spans["pid"][dev_rows] = host
    flows = part.flows
    facts: dict[str, Any] = {"format": "kineto-json", "host_pid": host, "steps_marked": part.n_steps > 0}
    facts.update(_dialect(part.cats, doc))
    base = facts.get("base_time_ns")
    if base is not None and int(spans["start_ns"].max()) < base:
        # Kineto writes ts relative to baseTimeNanoseconds (so a double keeps every ns): back on
        # the Unix clock, where traces of other ranks and runs can be put beside this one
        spans["start_ns"] = spans["start_ns"] + base
        if len(flows):
            flows = flows.copy()
            flows[:, 3] += base
        facts["clock"] = "unix ns (ts + baseTimeNanoseconds)"
    if np.abs(spans["start_ns"]).max() > _MAX_NS or spans["dur_ns"].max() > _MAX_NS:
        raise InputError(f"{source}: a timestamp or duration is out of range (over 100 years)")
    order = np.argsort(spans["start_ns"], kind="stable")
    if (np.diff(order) != 1).any():
        # out-of-order events: stored in time order (span args follow their rows)
        facts["reordered_events"] = int((np.diff(spans["start_ns"]) < 0).sum())
        spans = {k: v[order] for k, v in spans.items()}
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        span_args = {int(inv[k]): v for k, v in span_args.items()}
        dev_rows = inv[dev_rows]
    if any(skipped.values()):
        facts["skipped_events"] = {k: v for k, v in skipped.items() if v}
        if part.first_bad:
            facts["skipped_events"]["first_malformed"] = part.first_bad[:160]
    strings = StringTable(part.strings)
    lf = _launch_facts(spans, strings.strings)
    facts["notes"] += lf.pop("notes", [])
    facts.update(lf)
    if not part.n_steps:
        _whole_trace_step(spans, span_args, strings.intern, host, _CODE[STEP])
        facts["note"] = "no ProfilerStep#N markers: the whole trace is analysed as one step"
        facts["notes"].append(facts["note"])
    dp = doc.facts.get("deviceProperties") or []
    if isinstance(dp, list) and dp:
        facts["device_properties"] = dp
    di = doc.facts.get("distributedInfo")
    if isinstance(di, dict):
        facts["distributed_info"] = di
    if isinstance(doc.facts.get("host_name"), str):
        facts["host_name"] = doc.facts["host_name"]
    if len(dev_rows):
        for t_ in np.unique(spans["tid"][dev_rows]).tolist():
            dv, st = split_device_tid(int(t_)) or (0, 0)
            threads[(host, int(t_))] = f"GPU {dv} stream {st}" if st != NO_STREAM else f"GPU {dv} (no stream)"
        processes.setdefault(host, "python")
    table = EventTable(
        strings=strings, spans=spans, span_args=span_args, processes=processes, threads=threads,
        flows=_pair_flows(flows.tolist(), host, part.tracks),
    )
    table.validate(source)
    if len(table.flows["id"]):
        facts["flows"] = len(table.flows["id"])
    if not facts["notes"]:
        del facts["notes"]
    return table, facts


def _dialect(cats: dict[str, int], doc: ChromeDoc) -> dict[str, Any]:
    """Which Kineto dialect the trace speaks, its time facts, and the categories it used.

    ``dialect``: ``"torch<=1.10"`` (``Operator``, ``Kernel``, ``Runtime`` ...), ``"torch>=1.11"``
    (``cpu_op``, ``kernel``, ``cuda_runtime`` ...), ``"mixed"`` (both: read alike, and said so) or
    ``"unknown"`` (neither: only annotations, or another tool's export). ``displayTimeUnit`` is a
    viewer's display hint only: Chrome's format keeps ``ts``/``dur`` in microseconds whatever it says
    (the nanosecond-resolution trace writes ``"ns"`` with three decimals of microseconds).
    """
    old = sorted(c for c in cats if c in _OLD_NAMES)
    new = sorted(c for c in cats if c in _NEW_NAMES)
    dialect = "mixed" if old and new else "torch<=1.10" if old else "torch>=1.11" if new else "unknown"
    out: dict[str, Any] = {"dialect": dialect, "categories": dict(sorted(cats.items())), "notes": []}
    unknown = {c: n for c, n in cats.items() if _role_of(c) is None}
    if unknown:
        out["unknown_categories"] = unknown
        out["notes"].append(
            f"{sum(unknown.values()):,} events of categories no Kineto version writes were skipped: "
            + ", ".join(f"{c!r} ({n:,})" for c, n in sorted(unknown.items()))
        )
    if dialect == "mixed":
        out["notes"].append(
            f"the trace mixes the category names of torch <= 1.10 ({', '.join(old)}) and of torch >= 1.11 "
            f"({', '.join(new)}): both were read, under the same meaning"
        )
    unit = doc.facts.get("displayTimeUnit")
    if isinstance(unit, str):
        out["display_time_unit"] = unit
    base = doc.facts.get("baseTimeNanoseconds")
    if isinstance(base, int) and not isinstance(base, bool) and 0 < base < _MAX_NS:
        out["base_time_ns"] = base
    return out


def _launch_facts(spans: dict[str, np.ndarray], names: list[str]) -> dict[str, Any]:
    """Device activities no runtime call launched (a trace without ``cuda_runtime`` events, or a
    lost record) and CUDA graph launches (one call, one correlation id, many device activities)."""
    cat, corr, tid = spans["cat"], spans["corr"], spans["tid"]
    dev = np.isin(cat, [_CODE[KERNEL], _CODE[MEMCPY], _CODE[MEMSET]]) & (tid >= DEVICE_TID_BASE)
    if not dev.any():
        return {}
    rt = np.isin(cat, [_CODE[RUNTIME], _CODE[SYNC]]) & (corr >= 0)
    out: dict[str, Any] = {}
    notes: list[str] = []
    lone = int((~np.isin(corr[dev], corr[rt]) | (corr[dev] < 0)).sum())
    if lone:
        out["device_activities_without_launch"] = lone
        notes.append(
            f"{lone:,} of {int(dev.sum()):,} device activities have no runtime call with their correlation id"
            + (" (the trace has no runtime events): launch figures leave them out" if not rt.any()
               else ": launch figures leave them out")
        )
    graph_ids = [i for i, s in enumerate(names) if s in GRAPH_LAUNCH_CALLS]
    if graph_ids:
        g = rt & np.isin(spans["name"], graph_ids)
        out["graph_launches"] = {"calls": int(g.sum()),
                                 "device_activities": int(np.isin(corr[dev], corr[g]).sum())}
    out["notes"] = notes
    return out


def _op_extras(a: Any) -> dict[str, Any]:
    """Conv/pool ``Concrete Inputs`` (stride, padding ...) and a non-float input dtype, for the cost model."""
    items = _op_extras_of(bytes(a.concrete), bytes(a.types))
    return dict(items) if items else {}


@lru_cache(maxsize=1 << 16)
def _op_extras_of(concrete: bytes, tb: bytes) -> tuple[tuple[str, Any], ...]:
    """:func:`_op_extras` of one pair of raw fields (a trace repeats few of them: decoded once each)."""
    extra: list[tuple[str, Any]] = []
    if b'"[' in concrete:
        extra.append(("concrete", json.dumps(msgspec.json.decode(concrete))))
    if tb and not tb.startswith((b'["float"', b'[""', b"[]")):
        types = msgspec.json.decode(tb)
        if types and isinstance(types[0], str) and types[0] not in ("float", ""):
            extra.append(("dtype", types[0]))
    return tuple(extra)


#: args our export writes that are columns here (or rebuilt on export), not span args
_COLUMN_ARGS = frozenset({"category", "flops", "bytes", "Input Dims", "shapes", "correlation", "External id",
                          "device", "stream", "clipped_ns"})


def _plain_args(raw: msgspec.Raw) -> dict[str, Any]:
    """The event's args as plain values, less those kept as columns (rare events only)."""
    a = msgspec.json.decode(raw).get("args")
    return {k: v for k, v in a.items() if k not in _COLUMN_ARGS} if isinstance(a, dict) else {}


def _pair_flows(flows: list[tuple[int, int, int, int, int, int]], host: int,
                tracks: dict[tuple[int, int], tuple[int | None, int]] | None = None) -> dict[str, np.ndarray]:
    """Start and finish events joined on (category, id); ends on device tracks filed like their
    device activities (Kineto's GPU pids under the host)."""
    starts: dict[tuple[int, int], tuple[int, int, int]] = {}
    rows: list[tuple[int, ...]] = []
    tracks = tracks or {}
    for ph, fid, fcat, ts, p, t in flows:
        moved = tracks.get((p, t))
        if moved is not None:
            p, t = (host if moved[0] is None else moved[0]), moved[1]
        elif 0 <= p < 64 and p != host:  # a device index as pid (Kineto's GPU tracks)
            p, t = host, device_tid(p, t)
        if ph == 0:
            starts[(fcat, fid)] = (ts, p, t)
        else:
            s = starts.pop((fcat, fid), None)
            if s is not None:
                rows.append((fid, fcat, *s, ts, p, t))
    cols = ("id", "name", "src_ts_ns", "src_pid", "src_tid", "dst_ts_ns", "dst_pid", "dst_tid")
    a = np.asarray(rows, np.int64).reshape(-1, 8)
    out = {c: a[:, i].copy() for i, c in enumerate(cols)}
    out["name"] = out["name"].astype(np.int32)
    return out


def _whole_trace_step(spans: dict[str, np.ndarray], span_args: dict[int, dict[str, Any]],
                      intern: Any, host: int, c_step: int) -> None:
    """No ProfilerStep markers: the whole recorded window is one step."""
    lo = int(spans["start_ns"].min())
    hi = int((spans["start_ns"] + spans["dur_ns"]).max())
    for k, v in (
        ("start_ns", lo), ("dur_ns", hi - lo), ("cat", c_step), ("name", intern("trace window")),
        ("pid", host), ("tid", 0), ("flops", float("nan")), ("bytes", float("nan")), ("corr", -1),
        ("shapes", -1),
    ):
        spans[k] = np.append(spans[k], np.asarray(v, spans[k].dtype))
    span_args[len(spans["start_ns"]) - 1] = {"index": 0, "traced": True, "whole_trace": True}

def load_kineto_json(path: str | Path) -> EventTable:
    """Read a torch.profiler Chrome JSON (``.json`` or ``.json.gz``) into an :class:`EventTable`."""
    return read_kineto_json(path)[0]


def read_kineto_json(path: str | Path) -> tuple[EventTable, dict[str, Any]]:
    """The table and facts (device properties, whether steps were marked) of a Kineto trace file."""
    with gc_paused():
        doc = read_chrome(path)
        if not is_kineto(doc):
            raise InputError(f"{path}: not a torch.profiler (Kineto) trace")
        return parse_kineto(doc, str(path))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic dicts and lists are built.

    Parsing creates one dict per event; the collector would otherwise walk the growing heap again
    and again (half the import's CPU time at 250k events). Nothing built here forms cycles.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
