"""Chainer functions inside a Chainer worker, timed through Chainer's own function hooks.

:class:`ChainerProbe` registers one :class:`chainer.FunctionHook` for the traced window and records
each forward (``<label>``) and backward (``<label> backward``) of every ``FunctionNode`` as an
``op`` span with its input shapes (:class:`SpanRecorder`). Hooks are per thread: the probe must
start on the thread that runs the steps. Only imported inside a Chainer worker. Details:
``docs/frameworks-mxnet-chainer.md`` ("The chainer probe").
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from profiler.core.clock import now_ns
from profiler.core.events import OP, EventBuilder, EventTable
from profiler.core.frameworks import Availability, framework_availability, traced_by
from profiler.probes.base import Probe, ProbeTarget


def shapes_of(arrays: Any) -> str | None:
    """Input shapes in the form the other tracers use: ``[[32, 3, 224, 224], [64, 3, 7, 7]]``."""
    out = []
    for a in arrays or ():
        shape = getattr(a, "shape", None)
        out.append(list(shape) if shape is not None else [])
    return str(out) if any(out) else None


class SpanRecorder:
    """The hook body, free of Chainer: a per-thread stack of open calls written to an EventBuilder.

    Kept separate from the ``FunctionHook`` subclass so it can be tested without Chainer.
    """

    def __init__(self, builder: EventBuilder, pid: int, clock: Any = now_ns) -> None:
        self.b, self.pid, self.clock = builder, pid, clock
        self._stack: list[tuple[str, int, str | None]] = []
        self.calls = 0
        self.unmatched = 0
        self._tid = threading.get_native_id()

    def begin(self, name: str, arrays: Any) -> None:
        self._stack.append((name, self.clock(), shapes_of(arrays)))

    def end(self, name: str) -> None:
        t1 = self.clock()
        # pop back to the matching call: an exception inside a function leaves its entry open
        while self._stack:
            n, t0, shapes = self._stack.pop()
            if n == name:
                self.b.span(OP, name, t0, t1 - t0, self.pid, self._tid, shapes=shapes)
                self.calls += 1
                return
            self.unmatched += 1
        self.unmatched += 1

    def close(self) -> None:
        self.unmatched += len(self._stack)
        self._stack.clear()


def _make_hook(recorder: SpanRecorder) -> Any:
    import chainer

    class _SpanHook(chainer.FunctionHook):
        name = "profiler_spans"

        def forward_preprocess(self, function: Any, in_data: Any) -> None:
            recorder.begin(function.label, in_data)

        def forward_postprocess(self, function: Any, in_data: Any) -> None:
            recorder.end(function.label)

        def backward_preprocess(self, function: Any, in_data: Any, out_grad: Any) -> None:
            recorder.begin(f"{function.label} backward", out_grad)

        def backward_postprocess(self, function: Any, in_data: Any, out_grad: Any) -> None:
            recorder.end(f"{function.label} backward")

    return _SpanHook()


class ChainerProbe(Probe):
    name: ClassVar[str] = "chainer"
    where: ClassVar[str] = "worker"
    frameworks: ClassVar[tuple[str, ...]] = traced_by("chainer")  # core/frameworks.py
    summary: ClassVar[str] = "chainer FunctionHook: every function's forward/backward with input shapes"
    overhead_note: ClassVar[str] = (
        "~+7 µs per function call (Python hook; median, loaded 2-core CPU; "
        "benchmarks/framework_tracer_overhead.py); traced window only"
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._hook: Any = None
        self._rec: SpanRecorder | None = None
        self._builder = EventBuilder()
        self._table = EventTable()

    @classmethod
    def availability(cls) -> Availability:
        return framework_availability("chainer")

    def start(self, target: ProbeTarget) -> None:
        self._rec = SpanRecorder(self._builder, target.pid)
        self._builder.name_thread(target.pid, self._rec._tid, "chainer functions (main thread)")
        hook = _make_hook(self._rec)
        hook.__enter__()
        self._hook = hook

    def stop(self) -> None:
        if self._hook is None:
            return
        hook, self._hook = self._hook, None
        try:
            hook.__exit__(None, None, None)
        except Exception as e:  # keep what was recorded
            self.errors.append(f"chainer hook: {type(e).__name__}: {e}")
        assert self._rec is not None
        self._rec.close()
        self._table = self._builder.build()

    def events(self) -> EventTable:
        return self._table

    def info(self) -> dict[str, Any]:
        if self._rec is None:
            return {}
        return {"function_calls": self._rec.calls, "unmatched": self._rec.unmatched}
