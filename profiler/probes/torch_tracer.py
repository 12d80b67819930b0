"""torch.profiler (Kineto) inside the worker, converted into the shared event model.

Records host ops with input shapes and FLOPs (``record_shapes``/``with_flops``) and, when CUDA is
present, the CUDA runtime calls and the kernels/memcpys/memsets that Kineto collects through CUPTI
(``CONCURRENT_KERNEL`` activity). Kineto stamps events in Unix-epoch nanoseconds; they are re-based
onto the run clock (CLOCK_MONOTONIC) with the offset measured when the probe stops.

Only imported inside a torch worker.
"""

from __future__ import annotations

from typing import Any, ClassVar

from profiler.core.clock import epoch_offset_ns
from profiler.core.events import (
    DATA_LOADING,
    KERNEL,
    MEMCPY,
    MEMSET,
    OP,
    REGION,
    RUNTIME,
    SYNC,
    EventBuilder,
    EventTable,
    device_tid,
)
from profiler.core.frameworks import Availability, framework_availability, traced_by
from profiler.core.opkinds import CUDA_SYNC_CALLS, DATALOADER_ANNOTATION
from profiler.probes.base import Probe, ProbeTarget

#: Host-side tids of Kineto threads are kept apart from real OS tids by this base.
KINETO_TID_BASE = 1 << 32


def classify_kineto(name: str, on_device: bool, user_annotation: bool) -> str:
    """Span category of one Kineto event."""
    if on_device:
        low = name.lower()
        if low.startswith("memcpy") or "memcpy" in low[:12]:
            return MEMCPY
        if low.startswith("memset"):
            return MEMSET
        return KERNEL
    if user_annotation:
        return DATA_LOADING if name.startswith(DATALOADER_ANNOTATION) else REGION
    if name in CUDA_SYNC_CALLS:
        return SYNC
    if name.startswith(("cuda", "cu", "nccl")) and not name.startswith("cudnn"):
        return RUNTIME
    return OP


class TorchProbe(Probe):
    name: ClassVar[str] = "torch"
    where: ClassVar[str] = "worker"
    frameworks: ClassVar[tuple[str, ...]] = traced_by("torch")  # core/frameworks.py
    summary: ClassVar[str] = "torch.profiler (Kineto): ops, shapes, FLOPs; CUDA kernels via CUPTI on a GPU"
    overhead_note: ClassVar[str] = (
        "~2 µs per op (~7 µs with record_shapes); applies to the traced window only"
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._prof = None
        self._target: ProbeTarget | None = None
        self._table = EventTable()
        self.cuda = False
        self._shapes = bool(self.options.get("record_shapes", True))
        self._flops = bool(self.options.get("with_flops", True))

    @classmethod
    def availability(cls) -> Availability:
        # find_spec("torch.profiler") would import torch itself; torch.profiler ships with every
        # torch this toolkit supports, so the framework's presence is the whole check.
        return framework_availability("torch")

    def start(self, target: ProbeTarget) -> None:
        import torch
        from torch.profiler import ProfilerActivity, profile

        self._target = target
        activities = [ProfilerActivity.CPU]
        self.cuda = bool(self.options.get("cuda", True)) and torch.cuda.is_available()
        if self.cuda:
            activities.append(ProfilerActivity.CUDA)
        self._prof = profile(activities=activities, record_shapes=self._shapes, with_flops=self._flops)
        self._prof.__enter__()

    def stop(self) -> None:
        if self._prof is None:
            return
        prof, self._prof = self._prof, None
        try:
            prof.__exit__(None, None, None)
            self._table = self._convert(prof)
        except Exception as e:  # keep the run; say what broke
            self.errors.append(f"torch.profiler: {type(e).__name__}: {e}")

    def events(self) -> EventTable:
        return self._table

    def info(self) -> dict[str, Any]:
        return {
            "cuda_activity": "torch.profiler (Kineto/CUPTI)" if self.cuda else None,
            # the measured tracer-cost configuration that matches (profiler.run.tracer_cost): with
            # either option on, torch records the inputs' shapes
            "config": "shapes_flops" if (self._shapes or self._flops) else "plain",
        }

    def _convert(self, prof: Any) -> EventTable:
        assert self._target is not None
        pid = self._target.pid
        offset = epoch_offset_ns()
        b = EventBuilder()
        seen_threads: set[int] = set()
        for e in prof.profiler.kineto_results.events():
            name = e.name()
            on_device = str(e.device_type()).endswith("CUDA")
            cat = classify_kineto(name, on_device, bool(e.is_user_annotation()))
            if on_device:
                tid = device_tid(e.device_index(), e.device_resource_id())
                if tid not in seen_threads:
                    seen_threads.add(tid)
                    b.name_thread(pid, tid, f"GPU {e.device_index()} stream {e.device_resource_id()}")
            else:
                tid = KINETO_TID_BASE + int(e.start_thread_id())
                if tid not in seen_threads:
                    seen_threads.add(tid)
                    b.name_thread(pid, tid, f"torch ops (thread {e.start_thread_id()})")
            shapes = e.shapes()
            flops = e.flops()
            args: dict[str, Any] = {}
            if on_device:
                ext = e.linked_correlation_id()
                if ext:
                    args["external_id"] = int(ext)
            b.span(
                cat,
                name,
                int(e.start_ns()) - offset,
                int(e.duration_ns()),
                pid,
                tid,
                flops=float(flops) if flops else None,
                corr=int(e.correlation_id()) if cat in (KERNEL, MEMCPY, MEMSET, RUNTIME, SYNC) else -1,
                shapes=str(shapes) if shapes and any(shapes) else None,
                args=args or None,
            )
        return b.build()
