"""TensorFlow's profiler inside the worker, converted into the shared event model.

:class:`TensorFlowProbe` runs ``tf.profiler.experimental.start(logdir)`` over the traced window;
the XSpace TF writes under the worker's ``tf_profile`` is read back with
:func:`profiler.importers.xspace.load_xspace`, re-based onto the run clock, and left in place for
TensorBoard. Python tracer off, device tracer on. Only imported inside a TensorFlow or Keras
worker. Details: ``docs/frameworks-tensorflow.md`` ("The tensorflow probe and the XSpace importer").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from profiler.core.clock import epoch_offset_ns
from profiler.core.events import EventTable
from profiler.core.frameworks import Availability, framework_availability, traced_by
from profiler.probes.base import Probe, ProbeTarget

#: Sub-directory of the worker's directory that TF's profiler writes into.
LOGDIR = "tf_profile"


class TensorFlowProbe(Probe):
    name: ClassVar[str] = "tensorflow"
    where: ClassVar[str] = "worker"
    frameworks: ClassVar[tuple[str, ...]] = traced_by("tensorflow")  # core/frameworks.py
    summary: ClassVar[str] = "tf.profiler (XSpace): TF op kernels and runtime; CUDA kernels via CUPTI on a GPU"
    overhead_note: ClassVar[str] = (
        "a TraceMe per op and executor step (~1 µs each); applies to the traced window only"
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._target: ProbeTarget | None = None
        self._logdir: Path | None = None
        self._running = False
        self._table = EventTable()
        self._file: Path | None = None

    @classmethod
    def availability(cls) -> Availability:
        return framework_availability("tensorflow")

    def start(self, target: ProbeTarget) -> None:
        import tensorflow as tf

        self._target = target
        self._logdir = Path(target.run_dir or ".") / LOGDIR
        self._logdir.mkdir(parents=True, exist_ok=True)
        opts = tf.profiler.experimental.ProfilerOptions(
            host_tracer_level=int(self.options.get("host_tracer_level", 2)),
            python_tracer_level=int(self.options.get("python_tracer_level", 0)),
            device_tracer_level=int(self.options.get("device_tracer_level", 1)),
        )
        tf.profiler.experimental.start(str(self._logdir), options=opts)
        self._running = True

    def stop(self) -> None:
        if not self._running:
            return
        import tensorflow as tf

        from profiler.importers.xspace import find_xspace, load_xspace

        self._running = False
        assert self._target is not None and self._logdir is not None
        try:
            tf.profiler.experimental.stop()
        except Exception as e:  # keep the run; say what broke
            self.errors.append(f"tf.profiler stop: {type(e).__name__}: {e}")
            return
        try:
            self._file = find_xspace(self._logdir)
            self._table = load_xspace(
                self._file, pid=self._target.pid, epoch_offset_ns=epoch_offset_ns(), steps=False
            )
            # The harness names the worker's process; the XSpace's own name would replace it.
            self._table.processes.pop(self._target.pid, None)
        except Exception as e:
            self.errors.append(f"reading the XSpace: {type(e).__name__}: {e}")

    def events(self) -> EventTable:
        return self._table

    def info(self) -> dict[str, Any]:
        rel = None
        if self._file is not None and self._target is not None and self._target.run_dir:
            try:
                rel = str(self._file.relative_to(self._target.run_dir))
            except ValueError:
                rel = str(self._file)
        return {"xspace": rel, "tf_spans": self._table.n_spans}
