"""The tracers' own cost per recorded event on this machine, measured in a fresh worker process.

Run as ``python -m profiler.run.tracer_cost [--quick]``: prints one JSON object. ``profiler calibrate``
starts it as a child so that the framework is imported fresh (and never into the CLI process).

Method (the trace-based HPC tools' one: N events with and without the tracer, differenced):

* **torch.profiler** — ``N`` one-element ``torch.add`` calls timed bare, then under
  ``torch.profiler.profile`` (CPU activity) in each configuration the toolkit can use: plain, with
  ``record_shapes`` + ``with_flops`` (what the torch probe records), and with ``with_stack`` on top.
  ``total_us`` per op = (traced − bare) / N. Where the cost lands: ``inside_us`` is the part inside
  the recorded op span (its mean recorded duration minus the op's bare dispatch time, estimated as
  the bare per-call time less an empty Python call's), clamped to ``[0, total_us]``;
  ``outside_us = total_us − inside_us`` lands in the gaps between records.
* **our own spans** (``ctx.region``/step spans): ``N`` spans appended to an
  :class:`~profiler.core.events.EventBuilder` against an empty loop.
* TF TraceMe and MXNet's op records: measured only where the framework imports; otherwise the entry
  says ``unavailable: <reason>``.

Each figure is the median of ``reps`` repetitions with its spread (min–max, in µs); the cost is per
recorded event, so it does not depend on what the op computes.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any


def _stats(vals: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    }


def _timed(fn: Any, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        out.append(float(time.perf_counter_ns() - t0))
    return out


def torch_costs(n: int, reps: int) -> dict[str, Any]:
    """Per-op cost of torch.profiler in each configuration (µs), or ``{"unavailable": reason}``."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except Exception as e:  # a broken install is a reason, not a crash
        return {"unavailable": f"unavailable: torch does not import ({type(e).__name__}: {e})"}
    torch.set_num_threads(1)
    x = torch.ones(1)

    def ops() -> None:
        for _ in range(n):
            torch.add(x, x)

    def nothing(a: Any, b: Any) -> None:
        return None

    def empty() -> None:
        for _ in range(n):
            nothing(x, x)

    ops()  # warm the dispatcher and allocator
    configs = {
        "plain": {},
        "shapes_flops": {"record_shapes": True, "with_flops": True},
        "shapes_flops_stack": {"record_shapes": True, "with_flops": True, "with_stack": True},
    }
    out: dict[str, Any] = {"framework": "torch", "version": torch.__version__, "ops_per_rep": n, "configs": {}}
    bare_runs: list[float] = []
    empty_runs: list[float] = []
    for name, kw in configs.items():
        total, inside = [], []
        for _ in range(reps):
            # bare and traced alternate so that load drift hits both alike
            b = _timed(ops, 1)[0]
            e = _timed(empty, 1)[0]
            bare_runs.append(b)
            empty_runs.append(e)
            with profile(activities=[ProfilerActivity.CPU], **kw) as prof:
                t = _timed(ops, 1)[0]
            recorded = [ev.cpu_time_total for ev in prof.key_averages() if ev.key == "aten::add"]
            counts = [ev.count for ev in prof.key_averages() if ev.key == "aten::add"]
            per_bare = b / n / 1e3
            cost = max(0.0, (t - b) / n / 1e3)
            dispatch = max(0.0, per_bare - e / n / 1e3)
            rec_mean = recorded[0] / counts[0] if recorded and counts and counts[0] else None
            total.append(cost)
            inside.append(min(cost, max(0.0, rec_mean - dispatch)) if rec_mean is not None else cost)
        tot = _stats(total)
        ins = _stats(inside)
        out["configs"][name] = {
            "options": kw,
            "total_us": tot,
            "inside_us": ins,
            "outside_us": max(0.0, tot["median"] - ins["median"]),
        }
    out["bare_op_us"] = _stats([b / n / 1e3 for b in bare_runs])
    out["empty_call_us"] = _stats([e / n / 1e3 for e in empty_runs])
    return out


def own_span_cost(n: int, reps: int) -> dict[str, Any]:
    """Per-span cost (µs) of the toolkit's own region/step spans (time stamps + one builder append)."""
    from profiler.core.clock import now_ns
    from profiler.core.events import REGION, EventBuilder

    def spans() -> None:
        b = EventBuilder()
        for _ in range(n):
            t0 = now_ns()
            b.span(REGION, "r", t0, now_ns() - t0, 1, 0, args=None)

    def empty() -> None:
        for _ in range(n):
            pass

    costs = []
    for _ in range(reps):
        s = _timed(spans, 1)[0]
        e = _timed(empty, 1)[0]
        costs.append(max(0.0, (s - e) / n / 1e3))
    st = _stats(costs)
    # the stamps bracket the region, so about half the cost (the second stamp and the append)
    # lands after it; the first stamp's read lands inside
    return {"spans_per_rep": n, "total_us": st, "inside_us": st["median"] / 2, "outside_us": st["median"] / 2}


def framework_import_note(module: str) -> dict[str, Any]:
    """TF/MXNet: per-op tracer cost is not measured by this version; say why, or that it does not import."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return {"unavailable": f"unavailable: {module} is not installed"}
    return {"unavailable": f"not measured: per-op cost of {module}'s tracer is not measured by this version"}


def measure(quick: bool = False) -> dict[str, Any]:
    # each repetition starts and stops a profiler session (the slow part on a busy machine)
    n = 1000 if quick else 5000
    reps = 3 if quick else 5
    t0 = time.perf_counter()
    rec = {
        "method": "N events with and without the tracer in a fresh worker, differenced; median of reps",
        "torch": torch_costs(n, reps),
        "own_spans": own_span_cost(n, reps),
        "tensorflow": framework_import_note("tensorflow"),
        "mxnet": framework_import_note("mxnet"),
    }
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    import os

    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rec["load"] = {"loadavg_1min": load, "cores": cores, "busy": load > cores}
    return rec


if __name__ == "__main__":
    json.dump(measure("--quick" in sys.argv), sys.stdout)
    sys.stdout.write("\n")
