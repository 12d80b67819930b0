"""Collective spans of a data-parallel rank: one span per DDP gradient bucket's allreduce.

:func:`timed_allreduce_hook` is a DDP communication hook that does what DDP's default hook does and
stamps each bucket's hand-over and completion on the run clock (:class:`CollectiveRecorder`), so
the span includes any wait for slower ranks: a ``collective`` span on gloo, a host-side ``region``
on NCCL. Not a registry probe: :func:`profiler.run.rank.ddp_wrap` attaches it, and its spans join
the rank's events when the harness saves. Only imported inside a torch rank. Why a hook, and the
backends: ``docs/distributed.md`` ("Collectives → communication").
"""

from __future__ import annotations

import threading
from typing import Any

from profiler.core.clock import now_ns
from profiler.core.events import COLLECTIVE, REGION, EventBuilder, EventTable

#: Bucket ``i``'s allreduces are drawn on their own track, tid = COLLECTIVE_TID_BASE + i, because
#: the allreduces of successive buckets overlap in time (and slices on one track must nest).
COLLECTIVE_TID_BASE = 3 << 32


class CollectiveRecorder:
    """Thread-safe store of bucket allreduce spans (callbacks run on the backend's threads)."""

    def __init__(self, pid: int, world_size: int, backend: str) -> None:
        self.pid = pid
        self.world_size = world_size
        self.backend = backend
        self._lock = threading.Lock()
        self._rows: list[tuple[int, int, int, int]] = []  # bucket, start, end, bytes

    @property
    def category(self) -> str:
        return COLLECTIVE if self.backend != "nccl" else REGION

    def add(self, bucket: int, start_ns: int, end_ns: int, nbytes: int) -> None:
        with self._lock:
            self._rows.append((bucket, start_ns, end_ns, nbytes))

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def table(self) -> EventTable:
        """The recorded spans in the shared event model."""
        with self._lock:
            rows = list(self._rows)
        b = EventBuilder()
        cat = self.category
        timing = "data arrived" if cat == COLLECTIVE else "host: enqueue to future callback"
        for bucket in sorted({r[0] for r in rows}):
            b.name_thread(self.pid, COLLECTIVE_TID_BASE + bucket, f"allreduce bucket {bucket}")
        for bucket, start, end, nbytes in rows:
            b.span(
                cat,
                f"allreduce bucket {bucket}",
                start,
                end - start,
                self.pid,
                COLLECTIVE_TID_BASE + bucket,
                nbytes=float(nbytes),
                args={"bucket": bucket, "backend": self.backend, "world_size": self.world_size,
                      "end": timing},
            )
        return b.build()

    def info(self) -> dict[str, Any]:
        with self._lock:
            rows = list(self._rows)
        per_bucket = {r[0]: r[3] for r in rows}  # DDP may rebuild buckets after step 1: keep the last
        return {
            "backend": self.backend,
            "spans": len(rows),
            "buckets": len(per_bucket),
            "bytes_per_step": sum(per_bucket.values()),
        }


def timed_allreduce_hook(state: tuple[CollectiveRecorder, Any], bucket):
    """DDP comm hook: the default allreduce-and-average, with the bucket's span recorded.

    ``state`` is ``(recorder, process_group)``; ``process_group`` None means the default group.
    ``bucket`` and the return value carry no annotations on purpose: DDP rejects a hook whose
    annotations are not the real ``dist.GradBucket`` / ``Future[Tensor]`` objects, and this module
    keeps torch out of its import.
    """
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    recorder, group = state
    buf = bucket.buffer()
    nbytes = int(buf.numel()) * int(buf.element_size())
    index = int(bucket.index())
    t0 = now_ns()
    fut = default_hooks.allreduce_hook(group, bucket)

    def done(f: Any) -> Any:
        recorder.add(index, t0, now_ns(), nbytes)
        return f.value()

    return fut.then(done)
