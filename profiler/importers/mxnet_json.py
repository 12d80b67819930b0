"""MXNet profiler output (``mx.profiler.dump()``'s Chrome trace JSON) read into the shared event model.

:func:`load_mxnet_profile` (a file) and :func:`parse_mxnet_doc` (an already read
:class:`~profiler.importers.chrome_json.ChromeDoc`) map engine operators, C API calls, blocking
waits, user tasks and memory counters to spans and counters, re-based onto the run clock with
``epoch_offset_ns``. Reads through :mod:`profiler.importers.chrome_json`; nothing here imports
MXNet. Mapping and details: ``docs/frameworks-mxnet-chainer.md`` ("Reading MXNet profiles").
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import msgspec

from profiler.core.errors import InputError
from profiler.core.events import OP, REGION, RUNTIME, SYNC, EventBuilder, EventTable
from profiler.importers.chrome_json import (
    EVENT,
    ChromeDoc,
    Event,
    appended_objects,
    parse_chrome,
    read_chrome,
)

#: Host tids given to MXNet threads start here (torch's Kineto threads use ``1 << 32``).
MXNET_TID_BASE = 2 << 32

#: C API calls that block the caller until the engine has finished queued work.
SYNC_API_CALLS = frozenset(
    {
        "MXNDArrayWaitAll",
        "MXNDArrayWaitToRead",
        "MXNDArrayWaitToWrite",
        "MXNDArraySyncCopyToCPU",
        "MXNDArraySyncCopyFromCPU",
        "MXEngineWaitAll",
    }
)

#: Engine operations that manage variables rather than compute or move tensor data.
ENGINE_BOOKKEEPING = frozenset({"DeleteVariable", "DeleteOperator", "WaitForVar", "WaitForAll"})

#: Timestamps are µs; beyond this (about 146 years) they cannot become int64 ns.
_MAX_TS_US = 2**62 // 1000

_API_DOMAIN = "MXNET_C_API"
_OPERATOR_CATS = frozenset({"operator", "Custom Operator", "custom_operator"})
_MEMORY_CAT = "Device Storage"


def _ns(ts: Any, offset: int) -> int:
    # Unix-time µs near 1.8e15 times 1000 exceeds float64's exact range: keep integers integral.
    if isinstance(ts, int):
        return ts * 1000 - offset
    whole = int(ts)
    return whole * 1000 + round((float(ts) - whole) * 1000.0) - offset


def _scalar(e: Event, key: str, i: int, source: str) -> Any:
    """A pid/tid/id field, which keys dictionaries here: it must be a JSON scalar."""
    v = getattr(e, key)
    if isinstance(v, list | dict):
        raise InputError(f"{source}: traceEvents[{i}] has a non-scalar {key!r}")
    return v


def _category(cat: str, name: str) -> str:
    if cat == _API_DOMAIN:
        return SYNC if name in SYNC_API_CALLS else RUNTIME
    if name in ENGINE_BOOKKEEPING:
        return RUNTIME
    if cat in _OPERATOR_CATS:
        return OP
    return REGION


class _Threads:
    """MXNet (pid, tid) hashes → small host tids, named after MXNet's process names."""

    def __init__(self, b: EventBuilder, pid: int, process_names: dict[Any, str]) -> None:
        self.b, self.pid, self.names = b, pid, process_names
        self.ids: dict[tuple[Any, Any], int] = {}
        self.per_name: dict[str, int] = {}

    def tid(self, src_pid: Any, src_tid: Any) -> int:
        key = (src_pid, src_tid)
        t = self.ids.get(key)
        if t is None:
            t = self.ids[key] = MXNET_TID_BASE + len(self.ids)
            label = self.names.get(src_pid, str(src_pid))
            k = self.per_name[label] = self.per_name.get(label, 0) + 1
            self.b.name_thread(self.pid, t, f"mxnet {label} (thread {k})")
        return t


def parse_mxnet_trace(
    doc: Any,
    *,
    pid: int = 0,
    epoch_offset_ns: int = 0,
    source: str = "MXNet profile",
    window_ns: tuple[int, int] | None = None,
) -> tuple[EventTable, dict[str, int]]:
    """Convert an MXNet profile; returns the table and counts of what was dropped.

    ``doc``: the document read by :func:`profiler.importers.chrome_json.read_chrome` (a
    :class:`ChromeDoc`: one raw slice per event, the fast path) or already parsed into Python
    objects (:func:`read_mxnet_json`). ``pid`` is the worker the events belong to;
    ``epoch_offset_ns`` is Unix-epoch ns minus run-clock ns (0 keeps MXNet's Unix-time stamps).
    ``window_ns`` (run clock, after re-basing) keeps only records that start inside it: a profile
    file holds every window profiled in its process.
    """
    if not isinstance(doc, ChromeDoc):
        if not (isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list)):
            raise InputError(f"{source}: not an MXNet profile (no 'traceEvents' list)")
        try:  # one path for both: the parsed document back to bytes, split into raw events
            doc = parse_chrome(msgspec.json.encode(doc), source)
        except (TypeError, ValueError, OverflowError) as e:
            raise InputError(f"{source}: not an MXNet profile ({e})") from None
    if doc.array_form:
        raise InputError(f"{source}: not an MXNet profile (a bare list, no 'traceEvents')")
    raws = doc.events

    def ev(i: int, raw: msgspec.Raw) -> Event:
        try:
            return EVENT.decode(raw)
        except msgspec.DecodeError:  # ValidationError included: not an object, a bad field type
            raise InputError(f"{source}: traceEvents[{i}] is not an object") from None

    b = EventBuilder()
    process_names: dict[Any, str] = {}
    events: list[Event] = []
    for i, raw in enumerate(raws):
        e = ev(i, raw)
        events.append(e)
        if e.ph == "M" and e.name == "process_name" and e.args is not None and isinstance(e.args.name, str):
            n = e.args.name
            process_names[_scalar(e, "pid", i, source)] = n.rstrip("/") or n
    threads = _Threads(b, pid, process_names)
    dropped = {
        "unmatched_end": 0,
        "unclosed_begin": 0,
        "duplicate_async": 0,
        "unknown_phase": 0,
        "outside_window": 0,
    }

    # Sync B/E stacks per (pid, tid); async b/e keyed by (pid, cat, id, name).
    stacks: dict[tuple[Any, Any], list[tuple[str, str, int]]] = {}
    open_async: dict[tuple[Any, Any, Any, str], list[int]] = {}
    spans: list[tuple[str, str, int, int, Any, Any]] = []  # (cat, name, start, end, src pid, src tid)
    async_spans: list[tuple[str, str, int, int, Any, Any]] = []
    counters: list[tuple[str, int, float]] = []
    instants: list[tuple[str, int, Any, Any]] = []

    for i, e in enumerate(events):
        ph = e.ph
        if ph == "M":
            continue
        name = e.name
        ts = e.ts
        if not isinstance(name, str) or not isinstance(ts, int | float) or isinstance(ts, bool):
            raise InputError(f"{source}: traceEvents[{i}] has no name or numeric 'ts'")
        if not math.isfinite(ts) or abs(ts) > _MAX_TS_US:
            raise InputError(f"{source}: traceEvents[{i}] has an out-of-range 'ts' ({ts})")
        t = _ns(ts, epoch_offset_ns)
        cat = "" if e.cat is None else str(e.cat)
        spid, stid = _scalar(e, "pid", i, source), _scalar(e, "tid", i, source)
        if ph == "B":
            stacks.setdefault((spid, stid), []).append((cat, name, t))
        elif ph == "E":
            st = stacks.get((spid, stid))
            # MXNet closes what it opened, innermost first; an E whose B is missing is skipped.
            j = next((k for k in range(len(st) - 1, -1, -1) if st[k][1] == name), None) if st else None
            if j is None:
                dropped["unmatched_end"] += 1
                continue
            bcat, _, t0 = st.pop(j)
            spans.append((bcat, name, t0, t, spid, stid))
        elif ph == "X":
            dur = 0 if e.dur is None else e.dur
            if not isinstance(dur, int | float) or isinstance(dur, bool):
                raise InputError(f"{source}: traceEvents[{i}] has a non-numeric 'dur'")
            if not math.isfinite(dur) or not 0 <= dur <= _MAX_TS_US:
                raise InputError(f"{source}: traceEvents[{i}] has an out-of-range 'dur' ({dur})")
            spans.append((cat, name, t, t + round(float(dur) * 1000.0), spid, stid))
        elif ph == "b":
            open_async.setdefault((spid, cat, _scalar(e, "id", i, source), name), []).append(t)
        elif ph == "e":
            lst = open_async.get((spid, cat, _scalar(e, "id", i, source), name))
            if not lst:
                dropped["unmatched_end"] += 1
                continue
            async_spans.append((cat, name, lst.pop(), t, spid, stid))
        elif ph == "C":
            if cat != _MEMORY_CAT:
                continue
            args = msgspec.json.decode(raws[i]).get("args")  # rare: the memory counters only
            for k, v in (args.items() if isinstance(args, dict) else ()):
                if isinstance(v, int | float):
                    counters.append((f"mxnet {k}", t, float(v)))
        elif ph in ("i", "I", "n"):
            instants.append((name, t, spid, stid))
        else:
            dropped["unknown_phase"] += 1
    dropped["unclosed_begin"] = sum(len(s) for s in stacks.values()) + sum(
        len(v) for v in open_async.values()
    )

    # The operator domain repeats every device-side operator as an async pair (same name and start
    # µs; the end may differ by a µs, and concurrent pairs of one name cannot always be matched back
    # to their thread). When device-side operators are present they are the record: the engine
    # thread that ran each op is known there.
    have_device_ops = any(c in _OPERATOR_CATS for c, *_ in spans)
    for sp in async_spans:
        if have_device_ops and sp[0] in _OPERATOR_CATS:
            dropped["duplicate_async"] += 1
        else:
            spans.append(sp)

    if window_ns is not None:
        lo, hi = window_ns
        n = len(spans) + len(counters) + len(instants)
        spans = [sp for sp in spans if lo <= sp[2] <= hi]
        counters = [c for c in counters if lo <= c[1] <= hi]
        instants = [i for i in instants if lo <= i[1] <= hi]
        dropped["outside_window"] = n - len(spans) - len(counters) - len(instants)

    spans.sort(key=lambda s: (s[2], -s[3]))
    for cat, name, t0, t1, spid, stid in spans:
        b.span(_category(cat, name), name, t0, t1 - t0, pid, threads.tid(spid, stid))
    for name, t, value in counters:
        b.counter(name, t, value, pid)
    for name, t, spid, stid in instants:
        b.instant(name, t, pid, threads.tid(spid, stid))
    return b.build(), dropped


def read_mxnet_json(text: str, source: str = "MXNet profile") -> dict[str, Any]:
    """Parse profile text, including the events MXNet appends after the document's end.

    ``mx.profiler.dump()`` closes the document (``]}``), but operators that finish later (engine
    clean-up) and every later profiling window of the same process are appended to the same file
    *after* that end, as ``,{event}`` fragments each closed by another ``]}``. The first document is
    parsed strictly; each event object after it is added to its ``traceEvents``.
    """
    dec = json.JSONDecoder()
    try:
        doc, end = dec.raw_decode(text.lstrip())
    except json.JSONDecodeError as e:
        raise InputError(f"{source}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    rest = text.lstrip()[end:]
    if isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list) and rest.strip():
        doc["traceEvents"].extend(appended_objects(rest))
    return doc


def load_mxnet_profile(path: str | Path, *, pid: int = 0, epoch_offset_ns: int = 0) -> EventTable:
    """Read a profile written by ``mx.profiler.dump()`` into an :class:`EventTable`, through the same
    fast reader as Kineto traces (:func:`profiler.importers.chrome_json.read_chrome`).

    Raises :class:`InputError` (one line) when the file is missing, not JSON, or not an MXNet profile.
    """
    return parse_mxnet_doc(read_mxnet_doc(path), pid=pid, epoch_offset_ns=epoch_offset_ns, source=str(path))


def read_mxnet_doc(path: str | Path) -> ChromeDoc:
    """The profile split into raw events (events appended after the document's end included)."""
    try:
        return read_chrome(path)
    except InputError as e:
        msg = str(e).replace("not a trace this profiler reads (no traceEvents list)",
                             "not an MXNet profile (no 'traceEvents' list)")
        raise InputError(msg) from None


def parse_mxnet_doc(doc: ChromeDoc, *, pid: int = 0, epoch_offset_ns: int = 0,
                    source: str = "MXNet profile") -> EventTable:
    """The table of a profile already split by :func:`read_mxnet_doc` (``report TRACE`` reads the
    file once for both the Kineto check and this)."""
    from profiler.importers.kineto_json import gc_paused

    with gc_paused():
        table, _ = parse_mxnet_trace(doc, pid=pid, epoch_offset_ns=epoch_offset_ns, source=source)
    return table
