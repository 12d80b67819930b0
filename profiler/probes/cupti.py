"""CUPTI probe: CUDA kernels, copies, sets, API calls and synchronisation from NVIDIA's CUPTI activity
API (``cupti-python``), for any CUDA code in the worker (torch, CuPy, numba ...).

:class:`CuptiProbe` subscribes for the traced window; :func:`record_fields` copies each buffered
record at once and :func:`records_to_events` turns them into spans, correlation ids kept;
:class:`ClockMap` maps CUPTI's clock onto the run clock. Where the torch probe already collects CUDA
activity, this probe does not subscribe a second time. Only imported inside a worker. Activity
kinds, mapping and clock: ``docs/probes.md`` ("CUPTI").
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from profiler.core.clock import now_ns
from profiler.core.events import KERNEL, MEMCPY, MEMSET, RUNTIME, SYNC, EventBuilder, EventTable, device_tid
from profiler.core.frameworks import Availability, _dist_version
from profiler.probes.base import Probe, ProbeTarget

#: The activity kinds collected, by cupti-python's ``ActivityKind`` member name.
ACTIVITY_KINDS = ("CONCURRENT_KERNEL", "MEMCPY", "MEMSET", "RUNTIME", "DRIVER", "SYNCHRONIZATION")

#: CUpti_ActivityMemcpyKind names (cupti.h), used when cupti is not importable (fixtures, reports).
MEMCPY_KINDS = {
    0: "Unknown",
    1: "HtoD",
    2: "DtoH",
    3: "HtoA",
    4: "AtoH",
    5: "AtoA",
    6: "AtoD",
    7: "DtoA",
    8: "DtoD",
    9: "HtoH",
    10: "PtoP",
}
#: CUpti_ActivitySynchronizationType names (cupti.h).
SYNC_TYPES = {
    0: "Unknown",
    1: "cudaEventSynchronize",
    2: "cudaStreamWaitEvent",
    3: "cudaStreamSynchronize",
    4: "cudaDeviceSynchronize",
}
#: The host track that synchronisation records go to (CUPTI does not say which thread waited).
SYNC_TID = (1 << 32) - 7

_FIELDS = {
    "CONCURRENT_KERNEL": (
        "start",
        "end",
        "name",
        "correlation_id",
        "device_id",
        "context_id",
        "stream_id",
        "grid_x",
        "grid_y",
        "grid_z",
        "block_x",
        "block_y",
        "block_z",
        "registers_per_thread",
        "static_shared_memory",
        "dynamic_shared_memory",
    ),
    "MEMCPY": (
        "start",
        "end",
        "bytes",
        "copy_kind",
        "src_kind",
        "dst_kind",
        "correlation_id",
        "device_id",
        "context_id",
        "stream_id",
    ),
    "MEMSET": ("start", "end", "bytes", "value", "correlation_id", "device_id", "context_id", "stream_id"),
    "RUNTIME": ("start", "end", "cbid", "correlation_id", "process_id", "thread_id", "return_value"),
    "DRIVER": ("start", "end", "cbid", "correlation_id", "process_id", "thread_id", "return_value"),
    "SYNCHRONIZATION": ("start", "end", "type", "correlation_id", "context_id", "stream_id", "cuda_event_id"),
}
# also accept CUPTI's legacy KERNEL records if a fixture or another tool produced them
_FIELDS["KERNEL"] = _FIELDS["CONCURRENT_KERNEL"]

_VERSION_SUFFIX = re.compile(r"_v\d+$")


@dataclass(frozen=True)
class ClockMap:
    """Linear map from CUPTI timestamps to the run clock, fitted on two (cupti, run) pairs."""

    cupti0: int
    run0: int
    cupti1: int
    run1: int

    def __call__(self, t: int) -> int:
        if self.cupti1 == self.cupti0:
            return int(t) - self.cupti0 + self.run0
        slope = (self.run1 - self.run0) / (self.cupti1 - self.cupti0)
        return self.run0 + round((int(t) - self.cupti0) * slope)

    @staticmethod
    def offset(offset_ns: int) -> ClockMap:
        """A pure shift (``run = cupti - offset_ns``)."""
        return ClockMap(offset_ns, 0, offset_ns + 1, 1)


def clock_pair(get_timestamp: Callable[[], int]) -> tuple[int, int]:
    """One (source, run clock) pair: the source read between two run-clock reads, best of 5."""
    best = None
    for _ in range(5):
        a = now_ns()
        s = int(get_timestamp())
        b = now_ns()
        if best is None or b - a < best[0]:
            best = (b - a, s, (a + b) // 2)
    assert best is not None
    return best[1], best[2]


def kind_name(kind: int | str) -> str:
    if isinstance(kind, str):
        return kind
    from cupti import cupti

    return cupti.ActivityKind(int(kind)).name


def record_fields(activity: Any) -> dict[str, Any]:
    """The fields of one cupti-python activity record that this probe uses, as a plain dict."""
    kind = kind_name(activity.kind)
    rec: dict[str, Any] = {"kind": kind}
    for f in _FIELDS.get(kind, ("start", "end", "correlation_id")):
        v = getattr(activity, f, None)
        rec[f] = v if isinstance(v, (int, float, str)) or v is None else int(v)
    return rec


def api_name(kind: str, cbid: int) -> str:
    """``cudaLaunchKernel`` for a RUNTIME cbid, ``cuLaunchKernel`` for a DRIVER cbid."""
    try:
        from cupti import cupti

        enum = cupti.runtime_api_trace_cbid if kind == "RUNTIME" else cupti.driver_api_trace_cbid
        return _VERSION_SUFFIX.sub("", enum(int(cbid)).name)
    except Exception:
        return f"{'cuda' if kind == 'RUNTIME' else 'cu'} API cbid {cbid}"


def records_to_events(
    records: Iterable[dict[str, Any]],
    pid: int,
    to_run: Callable[[int], int],
    name_api: Callable[[str, int], str] = api_name,
) -> EventTable:
    """The event model of a list of :func:`record_fields` dicts (see the module docstring)."""
    b = EventBuilder()
    named: set[int] = set()

    def track(tid: int, name: str) -> None:
        if tid not in named:
            named.add(tid)
            b.name_thread(pid, tid, name)

    for r in records:
        kind = r["kind"]
        t0 = to_run(int(r["start"]))
        dur = to_run(int(r["end"])) - t0
        corr = int(r.get("correlation_id") or -1)
        if kind in ("CONCURRENT_KERNEL", "KERNEL"):
            dev, stream = int(r["device_id"]), int(r["stream_id"])
            tid = device_tid(dev, stream)
            track(tid, f"GPU {dev} stream {stream}")
            args = {
                "grid": [r.get("grid_x"), r.get("grid_y"), r.get("grid_z")],
                "block": [r.get("block_x"), r.get("block_y"), r.get("block_z")],
                "registers_per_thread": r.get("registers_per_thread"),
                "static_shared_memory": r.get("static_shared_memory"),
                "dynamic_shared_memory": r.get("dynamic_shared_memory"),
                "device": dev,
                "stream": stream,
                "context": r.get("context_id"),
                "source": "cupti",
            }
            b.span(KERNEL, str(r["name"]), t0, dur, pid, tid, corr=corr, args=args)
        elif kind in ("MEMCPY", "MEMSET"):
            dev, stream = int(r["device_id"]), int(r["stream_id"])
            tid = device_tid(dev, stream)
            track(tid, f"GPU {dev} stream {stream}")
            args = {"device": dev, "stream": stream, "context": r.get("context_id"), "source": "cupti"}
            if kind == "MEMCPY":
                ck = MEMCPY_KINDS.get(int(r.get("copy_kind") or 0), str(r.get("copy_kind")))
                args.update(copy_kind=ck, src_kind=r.get("src_kind"), dst_kind=r.get("dst_kind"))
                b.span(MEMCPY, f"Memcpy {ck}", t0, dur, pid, tid, nbytes=r.get("bytes"), corr=corr, args=args)
            else:
                args["value"] = r.get("value")
                b.span(MEMSET, "Memset", t0, dur, pid, tid, nbytes=r.get("bytes"), corr=corr, args=args)
        elif kind in ("RUNTIME", "DRIVER"):
            tid = int(r.get("thread_id") or 0)
            name = name_api(kind, int(r["cbid"]))
            cat = SYNC if "Synchronize" in name else RUNTIME
            args = {"api": kind.lower(), "cbid": int(r["cbid"]), "source": "cupti"}
            if r.get("return_value"):
                args["return_value"] = r["return_value"]
            b.span(cat, name, t0, dur, pid, tid, corr=corr, args=args)
        elif kind == "SYNCHRONIZATION":
            track(SYNC_TID, "CUDA synchronization")
            name = SYNC_TYPES.get(int(r.get("type") or 0), f"sync type {r.get('type')}")
            args = {"stream": r.get("stream_id"), "context": r.get("context_id"), "source": "cupti"}
            # the launching call owns this correlation id: no second flow end on the sync record
            b.span(SYNC, f"sync: {name}", t0, dur, pid, SYNC_TID, args=args)
    return b.build()


def _cuda_driver_problem() -> str | None:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no CUDA driver (libcuda.so.1 cannot be loaded): CUPTI needs an NVIDIA GPU and driver"
    return None


class CuptiProbe(Probe):
    name: ClassVar[str] = "cupti"
    where: ClassVar[str] = "worker"
    summary: ClassVar[str] = "CUPTI activity (cupti-python): kernels, memcpy/memset, CUDA API, sync, flows"
    overhead_note: ClassVar[str] = (
        "traced window only; CONCURRENT_KERNEL keeps kernels concurrent; cost per record not measured "
        "yet (no GPU run so far)"
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._enabled: list[Any] = []
        self._start_pair: tuple[int, int] | None = None
        self._target: ProbeTarget | None = None
        self._table = EventTable()
        self.deferred_to: str | None = None
        self._cupti: Any = None

    @classmethod
    def availability(cls) -> Availability:
        if importlib.util.find_spec("cupti") is None:
            return Availability(False, "cupti-python is not installed; install with pip install cupti-python")
        version = _dist_version("cupti-python")
        problem = _cuda_driver_problem()
        if problem:
            return Availability(False, problem, version)
        from profiler.core.hardware import gpus

        found, reason = gpus()
        if not found:
            return Availability(False, f"no NVIDIA GPU ({reason})", version)
        return Availability(True, None, version)

    def start(self, target: ProbeTarget) -> None:
        self._target = target
        others = target.extra.get("probes") or []
        if "torch" in others and target.extra.get("torch_cuda", True) and self._torch_has_cuda():
            # Kineto has CUPTI subscribed already: one subscriber, one copy of every record
            self.deferred_to = "torch"
            return
        from cupti import cupti

        self._cupti = cupti
        try:
            cupti.set_thread_id_type(cupti.ActivityThreadIdType.SYSTEM)
        except Exception as e:  # older CUPTI: pthread ids; runtime calls still land on their own tracks
            self.errors.append(f"thread id type: {type(e).__name__}: {e}")
        cupti.activity_register_callbacks(self._buffer_requested, self._buffer_completed)
        for k in ACTIVITY_KINDS:
            kind = getattr(cupti.ActivityKind, k)
            cupti.activity_enable(kind)
            self._enabled.append(kind)
        self._start_pair = clock_pair(cupti.get_timestamp)

    @staticmethod
    def _torch_has_cuda() -> bool:
        import sys

        torch = sys.modules.get("torch")
        try:
            return bool(torch is not None and torch.cuda.is_available())
        except Exception:
            return False

    def _buffer_requested(self) -> tuple[int, int]:
        return int(self.options.get("buffer_bytes", 8 * 1024 * 1024)), 0

    def _buffer_completed(self, activities: list[Any]) -> None:
        recs = []
        for a in activities:
            try:
                recs.append(record_fields(a))
            except Exception as e:  # one odd record must not lose the buffer
                self.errors.append(f"record: {type(e).__name__}: {e}")
        with self._lock:
            self._records.extend(recs)

    def stop(self) -> None:
        cupti, self._cupti = self._cupti, None
        if cupti is None or self._target is None:
            return
        try:
            cupti.activity_flush_all(1)
        except Exception as e:
            self.errors.append(f"flush: {type(e).__name__}: {e}")
        end_pair = clock_pair(cupti.get_timestamp)
        for kind in self._enabled:
            try:
                cupti.activity_disable(kind)
            except Exception as e:
                self.errors.append(f"disable {kind}: {type(e).__name__}: {e}")
        start_pair = self._start_pair or end_pair
        cmap = ClockMap(start_pair[0], start_pair[1], end_pair[0], end_pair[1])
        with self._lock:
            recs = list(self._records)
        self._table = records_to_events(recs, self._target.pid, cmap)
        if self.options.get("keep_records") and self._target.run_dir:
            from pathlib import Path

            from profiler.core.files import atomic_write_json

            atomic_write_json(
                Path(self._target.run_dir) / "cupti_records.json",
                {"clock": [list(start_pair), list(end_pair)], "records": recs},
            )

    def events(self) -> EventTable:
        return self._table

    def info(self) -> dict[str, Any]:
        if self.deferred_to:
            return {
                "cuda_activity": "torch.profiler (Kineto/CUPTI)",
                "cupti": "not subscribed: torch.profiler collects CUDA activity in this worker",
            }
        return {"cuda_activity": "cupti", "records": len(self._records), "kinds": list(ACTIVITY_KINDS)}
