"""HTA's own GPU figures for one trace file, as JSON on stdout.

Run under the interpreter that has HolisticTraceAnalysis installed (never imported by the
profiler)::

    .venv-hta/bin/python benchmarks/hta_reference.py TRACE.json.gz

Every figure is HTA's, read from its public API with its defaults (``include_last_profiler_step``
on, so the last step is kept): the temporal breakdown (idle / compute / non-compute over the
first-to-last kernel window), the GPU kernel-type breakdown (computation, communication and memory
kernels, their overlaps split out), the communication-computation overlap, the idle-time breakdown
(host wait / kernel wait under 30 µs / other, per stream, summed), the CUDA launch statistics
(launch delay = kernel start - end of its launch call, clipped at 0) and the queue-length summary
per stream. Times are microseconds, as HTA gives them.

HTA rounds fractional-microsecond timestamps inward by default (start up, end down: up to 2 µs off
every activity); with ``HTA_DISABLE_NS_ROUNDING=1`` in the environment (HTA's own switch) it keeps
them, and ``ns_rounding`` in the output says which. ``union_us`` is the union of each HTA kernel type
made with HTA's own ``get_kernel_type`` and ``merge_kernel_intervals`` on HTA's dataframe (its
kernel-type breakdown truncates every overlap segment to whole microseconds; this does not).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings


def main(path: str) -> dict:
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    from hta.trace_analysis import TraceAnalysis

    path = os.path.abspath(path)
    ta = TraceAnalysis(trace_files={0: path}, trace_dir=os.path.dirname(path), include_last_profiler_step=True)
    out: dict = {"file": path}
    df = ta.t.get_trace(0)
    out["device_events"] = int(df["stream"].ne(-1).sum())

    from hta.configs.env_options import disable_ns_rounding
    from hta.utils.utils import get_kernel_type, merge_kernel_intervals

    out["ns_rounding"] = not disable_ns_rounding()
    sym = ta.t.symbol_table.get_sym_table()
    g = df[df["stream"].ne(-1)].copy()
    g["kernel_type"] = [get_kernel_type(sym[n]) for n in g["name"]]
    union: dict[str, float] = {}
    for k in ("COMPUTATION", "COMMUNICATION", "MEMORY", "OTHER"):
        m = merge_kernel_intervals(g[g["kernel_type"].eq(k)].copy())
        union[k] = float((m["end"] - m["ts"]).sum()) if len(m) else 0.0
    out["union_us"] = union

    tb = ta.get_temporal_breakdown(visualize=False).iloc[0]
    out["temporal"] = {
        "idle_us": float(tb["idle_time(us)"]),
        "compute_us": float(tb["compute_time(us)"]),
        "non_compute_us": float(tb["non_compute_time(us)"]),
        "kernel_time_us": float(tb["kernel_time(us)"]),
        "idle_pct": float(tb["idle_time_pctg"]),
    }

    types, _ = ta.get_gpu_kernel_breakdown(visualize=False, include_memory_kernels=True)
    sums = dict(zip(types["kernel_type"].astype(str), types["sum"].astype(float), strict=True))
    out["kernel_types_us"] = sums
    out["kernel_type_union_us"] = {
        k: float(sum(v for name, v in sums.items() if k in name))
        for k in ("COMPUTATION", "COMMUNICATION", "MEMORY")
    }

    ov = ta.get_comm_comp_overlap(visualize=False).iloc[0]
    out["comm_comp_overlap_pct"] = float(ov["comp_comm_overlap_pctg"])

    idle, _ = ta.get_idle_time_breakdown(visualize=False)
    split: dict[str, float] = {}
    for cat, t in zip(idle["idle_category"].astype(str), idle["idle_time"].astype(float), strict=True):
        split[cat] = split.get(cat, 0.0) + t
    out["idle_breakdown_us"] = split

    ls = ta.get_cuda_kernel_launch_stats(visualize=False).get(0)
    if ls is not None and len(ls):
        out["launch"] = {
            "pairs": len(ls),
            "launch_delay_median_us": float(ls["launch_delay"].median()),
            "launch_delay_mean_us": float(ls["launch_delay"].mean()),
            "runtime_over_50us": int((ls["cpu_duration"] > 50).sum()),
            "launch_delay_over_100us": int((ls["launch_delay"] > 100).sum()),
            "short_kernels": int((ls["gpu_duration"] < ls["cpu_duration"]).sum()),
        }
    else:
        out["launch"] = None

    q = ta.get_queue_length_summary()
    if q is not None:
        q = q.reset_index()
        out["queue"] = {
            str(int(r[("stream", "")])): {
                "count": float(r[("queue_length", "count")]),
                "mean": float(r[("queue_length", "mean")]),
                "max": float(r[("queue_length", "max")]),
            }
            for _, r in q.iterrows()
        }
    else:
        out["queue"] = None
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: hta_reference.py TRACE")
    json.dump(main(sys.argv[1]), sys.stdout, indent=1)
    print()
