"""Intervals, foundation breakdown closure, op tables and explain on hand-built event tables."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.analysis.breakdown import CATEGORIES, breakdown, step_windows
from profiler.analysis.explain import explain
from profiler.analysis.intervals import clip, innermost_segments, merge, union_length
from profiler.analysis.ops import dispatch_counts, op_table
from profiler.analysis.stats import summarize_ms
from profiler.core.events import DATA_LOADING, KERNEL, MEMCPY, OP, STEP, SYNC, EventBuilder, device_tid


def test_merge_and_union():
    s, e = merge(np.array([5, 0, 2, 20]), np.array([8, 3, 4, 25]))
    assert s.tolist() == [0, 5, 20] and e.tolist() == [4, 8, 25]
    assert union_length(np.array([0, 1]), np.array([10, 2])) == 10
    cs, ce = clip(np.array([0, 5, 30]), np.array([10, 8, 40]), 2, 9)
    assert cs.tolist() == [2, 5] and ce.tolist() == [9, 8]


def test_innermost_segments_self_time():
    # outer [0,100) with children [10,30) and [50,60), grandchild [12,20)
    s, e, o = innermost_segments(np.array([0, 10, 12, 50]), np.array([100, 30, 20, 60]))
    self_time = np.zeros(4, int)
    np.add.at(self_time, o, e - s)
    assert self_time.tolist() == [70, 12, 8, 10]
    assert int((e - s).sum()) == 100


def _host_run():
    """One traced step of 1000 ns: data wait 100, mm 400 (with a view child of 50), add 200."""
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(DATA_LOADING, "next", 0, 100, 1, 0)
    b.span(OP, "aten::linear", 100, 400, 1, 7)
    b.span(OP, "aten::t", 110, 50, 1, 7)
    b.span(OP, "aten::add", 600, 200, 1, 7)
    return b.build()


def test_host_breakdown_sums_to_step_and_splits_by_kind():
    bd = breakdown(_host_run(), pid=1)
    assert bd.basis == "host ops"
    ns = {k: round(v * 1e6) for k, v in bd.ms.items()}
    assert ns == {"data_loading": 100, "communication": 0, "memory_io": 200, "compute": 350,
                  "framework_overhead": 350, "idle": 0}
    assert abs(bd.residual_ms) < 1e-12
    assert set(bd.ms) == set(CATEGORIES)


def test_device_breakdown_priority_and_idle():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::mm", 0, 300, 1, 7)  # host dispatch
    b.span(KERNEL, "ampere_sgemm_128x64", 200, 400, 1, device_tid(0, 7))
    b.span(MEMCPY, "Memcpy DtoH", 500, 200, 1, device_tid(0, 7))  # overlaps kernel: memory wins
    b.span(SYNC, "cudaDeviceSynchronize", 700, 250, 1, 7)
    bd = breakdown(b.build(), pid=1)
    ns = {k: round(v * 1e6) for k, v in bd.ms.items()}
    assert bd.basis == "device kernels"
    assert ns["memory_io"] == 200
    assert ns["compute"] == 300  # 200..500
    assert ns["framework_overhead"] == 200  # host dispatch 0..200 while the device idles
    assert ns["idle"] == 250 + 50  # the sync 700..950, and 950..1000 where nothing runs on either side
    assert sum(ns.values()) == 1000


def test_steps_only_marks_categories_not_measured():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    bd = breakdown(b.build(), pid=1)
    assert bd.basis == "steps only"
    assert "compute" in bd.not_measured and "memory_io" in bd.not_measured


def test_step_windows_filter_traced():
    b = EventBuilder()
    for i in range(3):
        b.span(STEP, f"step {i}", i * 10, 5, 1, 0, args={"index": i, "traced": i == 2})
    t = b.build()
    assert [w.index for w in step_windows(t, 1, traced=False)] == [0, 1]
    assert [w.index for w in step_windows(t, 1, traced=True)] == [2]


def test_op_table_and_dispatch_counts():
    t = _host_run()
    steps = step_windows(t, 1)
    ops = op_table(t, 1, steps)
    by = {o["name"]: o for o in ops}
    assert by["aten::linear"]["self_ms_per_step"] == pytest.approx(350 / 1e6)
    assert by["aten::linear"]["total_ms_per_step"] == pytest.approx(400 / 1e6)
    assert ops[0]["name"] == "aten::linear"
    d = dispatch_counts(t, 1, steps)
    assert d["ops"] == 3 and d["top_level_ops"] == 2 and d["kernels"] == 0


def test_summarize_ms():
    s = summarize_ms([1e6, 2e6, 4e6])
    assert s["median"] == 2.0 and s["min"] == 1.0 and s["max"] == 4.0 and s["spread_pct"] == 150.0
    assert summarize_ms([])["median"] is None


def _variant(name, step, bd, ops):
    return {"framework": "torch", "variant": name, "step_ms": {"median": step},
            "breakdown": {"step_ms": sum(bd.values()), "ms": bd}, "top_ops": ops,
            "dispatch": {"ops": ops[0]["calls_per_step"], "kernels": 0}}


def test_explain_splits_gap_by_category():
    z = dict.fromkeys(CATEGORIES, 0.0)
    fast = _variant("fused", 10.0, {**z, "compute": 8.0, "framework_overhead": 2.0},
                    [{"name": "aten::lstm", "where": "host", "self_ms_per_step": 8.0, "calls_per_step": 200}])
    slow = _variant("unfused", 30.0, {**z, "compute": 12.0, "framework_overhead": 18.0},
                    [{"name": "aten::mm", "where": "host", "self_ms_per_step": 12.0, "calls_per_step": 12800}])
    e = explain(slow, fast)
    assert e["fast"] == "torch/fused" and e["speedup"] == pytest.approx(3.0)
    assert e["main_category"] == "framework_overhead"
    assert e["category_share_pct"]["framework_overhead"] == pytest.approx(80.0)
    assert "200 vs 12,800 op dispatches per step" in e["sentence"]  # fast first, as the times
    assert e["top_op_deltas"][0]["name"] == "aten::mm"


def test_comparisons_within_each_framework_then_best_against_best():
    from profiler.analysis.variant import comparisons

    z = dict.fromkeys(CATEGORIES, 0.0)

    def v(fw, name, ms, info=None):
        return {"framework": fw, "variant": name, "mode": "train", "status": "ok", "info": info or {},
                "step_ms": {"median": ms}, "breakdown": {"step_ms": ms, "ms": {**z, "compute": ms}},
                "top_ops": [], "dispatch": {}}

    runs = [v("torch", "fused", 10), v("torch", "unfused", 30), v("mxnet", "fused", 20),
            v("mxnet", "unfused", 40), v("numba", "kernels_fused", 5, {"train": "forward only"})]
    pairs = [(c["fast"], c["slow"]) for c in comparisons(runs)]
    assert ("torch/fused", "torch/unfused") in pairs and ("mxnet/fused", "mxnet/unfused") in pairs
    assert ("torch/fused", "mxnet/fused") in pairs
    # forward-only work in a train run is never compared across frameworks
    assert not any("numba" in p for pair in pairs for p in pair)
