"""torch.profiler (Kineto) Chrome JSON traces read into the shared event model.

What ``prof.export_chrome_trace()`` (and ``tensorboard_trace_handler``) write, and how it maps:

=====================  ==============================================================================
Kineto ``cat``         here
=====================  ==============================================================================
``cpu_op``             ``op`` — ``args["Input Dims"]`` becomes the shapes column, ``args.flops`` the
                       FLOPs column; conv/pool ``Concrete Inputs`` (stride, padding ...) and a
                       non-float ``Input type`` are kept in the span's args for the cost model
``user_annotation``    ``step`` for ``ProfilerStep#N``; ``data_loading`` for the DataLoader's
                       ``enumerate(DataLoader)#...__next__``; ``region`` otherwise
``kernel``             ``kernel`` on the device stream ``args.device``/``args.stream``; grid, block,
                       registers, shared memory and Kineto's occupancy estimate kept in args
``gpu_memcpy``/``gpu_memset``  ``memcpy``/``memset`` on their stream
``cuda_runtime``/``cuda_driver``  ``runtime`` (synchronisation calls: ``sync``), correlation id kept
``python_function``    ``python``
``gpu_user_annotation`` ``region`` on the device stream
``Trace``              ``phase`` (the profiler's own whole-window span)
=====================  ==============================================================================

Flows (``s``/``f``), ``ac2g`` arrows and instants are dropped: correlation ids carry the same links.
Kineto writes ``ts``/``dur`` in microseconds with three decimals; they become integer nanoseconds on
the trace's own clock. Device events carry the GPU index as ``pid``; they are filed under the host
process (the owner of the ``cpu_op`` events) so a breakdown of that process sees its kernels.

Speed: one ``json.load`` (with the cyclic garbage collector paused) and one pass over the events appending to column lists; no per-event
objects are kept. Time is linear in the number of events (``benchmarks/analysis_scale.py``).
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from profiler.core.errors import InputError
from profiler.core.events import (
    DATA_LOADING,
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
)
from profiler.core.opkinds import CUDA_SYNC_CALLS, DATALOADER_ANNOTATION

_CODE = {c: i for i, c in enumerate(SPAN_CATEGORIES)}
_MAX_NS = 100 * 365 * 86400 * 10**9  # beyond this a ts/dur is garbage, and sums could overflow int64
_STEP_RX = re.compile(r"^ProfilerStep#(\d+)$")
_KERNEL_ARGS = ("grid", "block", "registers per thread", "shared memory", "est. achieved occupancy %")
_DEVICE_CATS = {"kernel": KERNEL, "gpu_memcpy": MEMCPY, "gpu_memset": MEMSET, "gpu_user_annotation": REGION}
KINETO_CATS = frozenset(
    {
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


def read_json(path: str | Path) -> Any:
    """A JSON or gzipped JSON document; :class:`InputError` with one line when unreadable."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{p}: unreadable ({type(e).__name__}: {e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not valid JSON ({e})") from None


def is_kineto(doc: Any) -> bool:
    """Whether a parsed Chrome JSON document looks like torch.profiler output."""
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return False
    if "schemaVersion" in doc or "deviceProperties" in doc or "baseTimeNanoseconds" in doc:
        return True
    return any(
        isinstance(e, dict) and isinstance(e.get("cat"), str) and e["cat"] in KINETO_CATS
        for e in doc["traceEvents"][:2000]
    )


def parse_kineto(doc: Any, source: str = "trace") -> tuple[EventTable, dict[str, Any]]:
    """The event table and facts (device properties, step marking) of a parsed Kineto document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise InputError(f"{source}: not a Chrome trace (no traceEvents list)")
    events = doc["traceEvents"]
    strings = StringTable()
    intern = strings.intern
    start: list[int] = []
    dur: list[int] = []
    cat: list[int] = []
    name: list[int] = []
    pid: list[int] = []
    tid: list[int] = []
    flops: list[float] = []
    corr: list[int] = []
    shapes: list[int] = []
    span_args: dict[int, dict[str, Any]] = {}
    processes: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    host_pids: dict[int, int] = {}
    device_rows: list[int] = []
    nan = float("nan")
    n_steps = 0
    c_op, c_step, c_dl, c_region = _CODE[OP], _CODE[STEP], _CODE[DATA_LOADING], _CODE[REGION]
    c_rt, c_sync, c_py, c_phase = _CODE[RUNTIME], _CODE[SYNC], _CODE[PYTHON], _CODE[PHASE]
    dev_codes = {k: _CODE[v] for k, v in _DEVICE_CATS.items()}
    try:
        for e in events:
            if not isinstance(e, dict):
                continue
            ph = e.get("ph")
            if ph == "M":
                a = e.get("args") or {}
                if e.get("name") == "process_name" and isinstance(a.get("name"), str):
                    processes[int(e.get("pid", 0) or 0)] = a["name"]
                elif e.get("name") == "thread_name" and isinstance(a.get("name"), str):
                    threads[(int(e.get("pid", 0) or 0), int(e.get("tid", 0) or 0))] = a["name"]
                continue
            if ph != "X":
                continue
            try:
                ts = round(float(e["ts"]) * 1000)
                d = round(float(e.get("dur", 0)) * 1000)
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{source}: event without a numeric ts/dur: {str(e)[:120]}") from None
            ecat = e.get("cat", "")
            nm = e.get("name", "")
            if not isinstance(nm, str) or not isinstance(ecat, str):
                raise InputError(f"{source}: event name and cat must be strings: {str(e)[:120]}")
            a = e.get("args") or {}
            row = len(start)
            c_corr = -1
            shp = -1
            fl = nan
            p = e.get("pid", 0)
            t = e.get("tid", 0)
            if ecat in dev_codes:
                code = dev_codes[ecat]
                dev = a.get("device", p)
                stream = a.get("stream", t)
                try:
                    t = device_tid(int(dev), int(stream))
                except (TypeError, ValueError):
                    t = device_tid(0, 0)
                p = -1  # filed under the host process below
                device_rows.append(row)
                c_corr = int(a.get("correlation", -1))
                if ecat == "kernel":
                    ka = {k: a[k] for k in _KERNEL_ARGS if k in a}
                    if ka:
                        span_args[row] = ka
            elif ecat == "cpu_op":
                code = c_op
                dims = a.get("Input Dims")
                if dims:
                    shp = intern(str(dims))  # repr of int lists is valid JSON, and 5x cheaper to make
                    conc = a.get("Concrete Inputs")
                    extra = {}
                    if conc and any(isinstance(x, str) and x.startswith("[") for x in conc):
                        extra["concrete"] = json.dumps(conc)
                    types = a.get("Input type")
                    if types and isinstance(types[0], str) and types[0] not in ("float", ""):
                        extra["dtype"] = types[0]
                    if extra:
                        span_args[row] = extra
                f = a.get("flops")
                if isinstance(f, (int, float)):
                    fl = float(f)
                try:
                    host_pids[int(p)] = host_pids.get(int(p), 0) + 1
                except (TypeError, ValueError):
                    pass
            elif ecat == "user_annotation":
                m = _STEP_RX.match(nm)
                if m:
                    code = c_step
                    span_args[row] = {"index": int(m.group(1)), "traced": True}
                    n_steps += 1
                elif nm.startswith(DATALOADER_ANNOTATION):
                    code = c_dl
                else:
                    code = c_region
            elif ecat in ("cuda_runtime", "cuda_driver"):
                code = c_sync if nm in CUDA_SYNC_CALLS else c_rt
                c_corr = int(a.get("correlation", -1))
            elif ecat == "python_function":
                code = c_py
            elif ecat == "Trace":
                code = c_phase
            else:
                code = c_region
            try:
                pid.append(int(p))
                tid.append(int(t))
            except (TypeError, ValueError):
                pid.append(0)
                tid.append(0)
            start.append(ts)
            dur.append(max(0, d))
            cat.append(code)
            name.append(intern(nm))
            flops.append(fl)
            corr.append(c_corr)
            shapes.append(shp)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as ex:
        # a field of the wrong type (a list for a name, a string for args ...): one line, no traceback
        raise InputError(f"{source}: malformed trace event ({type(ex).__name__}: {ex})") from None
    if not start:
        raise InputError(f"{source}: the trace has no complete (ph X) events")
    host = max(host_pids, key=lambda k: host_pids[k]) if host_pids else (min(processes) if processes else 0)
    try:
        pid_a = np.asarray(pid, np.int64)
        if device_rows:
            pid_a[np.asarray(device_rows)] = host
        spans = {
            "start_ns": np.asarray(start, np.int64),
            "dur_ns": np.asarray(dur, np.int64),
            "cat": np.asarray(cat, np.int16),
            "name": np.asarray(name, np.int32),
            "pid": pid_a,
            "tid": np.asarray(tid, np.int64),
            "flops": np.asarray(flops, np.float64),
            "bytes": np.full(len(start), np.nan),
            "corr": np.asarray(corr, np.int64),
            "shapes": np.asarray(shapes, np.int32),
        }
    except OverflowError:
        raise InputError(f"{source}: an id or timestamp is out of range (beyond 64 bits)") from None
    if len(start) and (np.abs(spans["start_ns"]).max() > _MAX_NS or spans["dur_ns"].max() > _MAX_NS):
        raise InputError(f"{source}: a timestamp or duration is out of range (over 100 years)")
    del start, dur, cat, name, tid, flops, corr, shapes
    facts: dict[str, Any] = {"format": "kineto-json", "host_pid": host, "steps_marked": n_steps > 0}
    if not n_steps:
        # no ProfilerStep markers: the whole recorded window is one step
        lo = int(spans["start_ns"].min())
        hi = int((spans["start_ns"] + spans["dur_ns"]).max())
        for k, v in (
            ("start_ns", lo),
            ("dur_ns", hi - lo),
            ("cat", c_step),
            ("name", intern("trace window")),
            ("pid", host),
            ("tid", 0),
            ("flops", nan),
            ("bytes", nan),
            ("corr", -1),
            ("shapes", -1),
        ):
            spans[k] = np.append(spans[k], np.asarray(v, spans[k].dtype))
        span_args[len(spans["start_ns"]) - 1] = {"index": 0, "traced": True, "whole_trace": True}
        facts["note"] = "no ProfilerStep#N markers: the whole trace is analysed as one step"
    dp = doc.get("deviceProperties") or []
    if isinstance(dp, list) and dp:
        facts["device_properties"] = dp
    if device_rows:
        from profiler.core.events import split_device_tid

        for t_ in np.unique(spans["tid"][np.asarray(device_rows)]).tolist():
            dv, st = split_device_tid(int(t_)) or (0, 0)
            threads[(host, int(t_))] = f"GPU {dv} stream {st}"
        processes.setdefault(host, "python")
    table = EventTable(
        strings=strings, spans=spans, span_args=span_args, processes=processes, threads=threads
    )
    table.validate(source)
    return table, facts


def load_kineto_json(path: str | Path) -> EventTable:
    """Read a torch.profiler Chrome JSON (``.json`` or ``.json.gz``) into an :class:`EventTable`."""
    return read_kineto_json(path)[0]


def read_kineto_json(path: str | Path) -> tuple[EventTable, dict[str, Any]]:
    """The table and facts (device properties, whether steps were marked) of a Kineto trace file."""
    with gc_paused():
        doc = read_json(path)
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
