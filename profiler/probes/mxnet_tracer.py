"""MXNet's own profiler inside an MXNet worker, converted into the shared event model.

:class:`MxnetProbe` runs ``mx.profiler`` over the traced window (the engine drained before and
after), dumps its Chrome JSON into the worker directory and reads it back with
:mod:`profiler.importers.mxnet_json`, re-based onto the run clock. Options ``api`` and ``memory``;
engine bulking is kept unless :data:`UNBULK_ENV` is set, and ``info()`` says which. Only imported
inside an MXNet worker, MXNet through :func:`profiler.core.compat.import_mxnet`. What it records,
bulking and cost: ``docs/frameworks-mxnet-chainer.md`` ("The mxnet probe").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from profiler.core.clock import epoch_offset_ns, now_ns
from profiler.core.events import EventTable
from profiler.core.frameworks import Availability, framework_availability, traced_by
from profiler.probes.base import Probe, ProbeTarget

#: The file the profile is dumped to, in the worker's directory (kept: it opens in chrome://tracing).
PROFILE_FILE = "mxnet_profile.json"

#: Environment that turns engine bulking off, so that every operator is its own profiler span.
UNBULK_ENV = {
    "MXNET_EXEC_BULK_EXEC_TRAIN": "0",
    "MXNET_EXEC_BULK_EXEC_INFERENCE": "0",
    "MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD": "0",
    "MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_BWD": "0",
}

#: The file MXNet's profiler was configured with in this process (it can be configured only once).
_configured_file: Path | None = None


class MxnetProbe(Probe):
    name: ClassVar[str] = "mxnet"
    where: ClassVar[str] = "worker"
    frameworks: ClassVar[tuple[str, ...]] = traced_by("mxnet")  # core/frameworks.py
    summary: ClassVar[str] = "mx.profiler: engine operators per worker thread, C API calls, memory"
    overhead_note: ClassVar[str] = (
        "~+30 µs per small operator call with C API and memory recording (median, loaded 2-core CPU; "
        "benchmarks/framework_tracer_overhead.py); traced window only"
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._mx: Any = None
        self._target: ProbeTarget | None = None
        self._path: Path | None = None
        self._running = False
        self._table = EventTable()
        self._dropped: dict[str, int] = {}
        self._t0 = self._t1 = 0

    @classmethod
    def availability(cls) -> Availability:
        return framework_availability("mxnet")

    def start(self, target: ProbeTarget) -> None:
        from profiler.core.compat import import_mxnet

        mx = import_mxnet()
        self._mx, self._target = mx, target
        out = Path(target.run_dir or ".")
        self._path = out / PROFILE_FILE
        api = bool(self.options.get("api", True))
        memory = bool(self.options.get("memory", True))
        # Operators and C API calls only; aggregate_stats would keep a second, in-memory copy of
        # every event for a table we do not use.
        mx.nd.waitall()  # work queued before the window must not be attributed to it
        global _configured_file
        # MXNet accepts its profiler configuration once per process (a second set_config fails in
        # its dump thread); later windows reuse the first file, and the reader keeps only the
        # records of the window being read.
        if _configured_file is None:
            mx.profiler.set_config(
                profile_symbolic=True,
                profile_imperative=True,
                profile_memory=memory,
                profile_api=api,
                aggregate_stats=False,
                filename=str(self._path),
            )
            _configured_file = self._path
        self._path = _configured_file
        self._t0 = now_ns()
        mx.profiler.set_state("run")
        self._running = True

    def stop(self) -> None:
        if not self._running or self._mx is None:
            return
        mx, self._running = self._mx, False
        try:
            mx.nd.waitall()
            mx.profiler.set_state("stop")
            self._t1 = now_ns()
            mx.profiler.dump()
        except Exception as e:  # keep the run; say what broke
            self.errors.append(f"mx.profiler: {type(e).__name__}: {e}")
            return
        try:
            self._table = self._read()
        except Exception as e:
            self.errors.append(f"reading {PROFILE_FILE}: {type(e).__name__}: {e}")

    def _read(self) -> EventTable:
        from profiler.importers.mxnet_json import parse_mxnet_trace, read_mxnet_json

        assert self._path is not None and self._target is not None
        doc = read_mxnet_json(self._path.read_text(encoding="utf-8"), str(self._path))
        table, self._dropped = parse_mxnet_trace(
            doc,
            pid=self._target.pid,
            epoch_offset_ns=epoch_offset_ns(),
            source=str(self._path),
            window_ns=(self._t0, self._t1),
        )
        return table

    def events(self) -> EventTable:
        return self._table

    def info(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "profile_file": os.path.basename(str(self._path)) if self._path else None,
            "engine_bulking": "off"
            if all(os.environ.get(k) == v for k, v in UNBULK_ENV.items())
            else "on (hybridized graphs appear as ImperativeBulk spans)",
        }
        if self._dropped:
            d["dropped"] = {k: v for k, v in self._dropped.items() if v}
        return d
