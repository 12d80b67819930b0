"""The device timeline, HTA's idle split and launch statistics on hand-built traces with known answers
(the real-trace checks against HTA are in test_gpu_traces_hta.py)."""

from __future__ import annotations

import pytest

from profiler.analysis.breakdown import step_windows
from profiler.analysis.gpu import gpu_summary
from profiler.analysis.gpu_timeline import device_activities, idle_split, timeline
from profiler.analysis.launches import launch_stats
from profiler.core.events import KERNEL, MEMCPY, RUNTIME, STEP, EventBuilder, device_tid

US = 1000


def _trace():
    """One step [0, 1000) µs on GPU 0: compute [100, 300) stream 7, NCCL [200, 500) stream 20,
    memcpy [450, 550) stream 7, compute [600, 700) stream 7 and [729, 800) stream 7.

    Launch calls start at 50 (sgemm), 60 (NCCL), 320 (memcpy: after sgemm ended at 300), 560 (relu:
    after the memcpy ended at 550) and 650 (add: before relu ended at 700)."""
    b = EventBuilder()
    b.span(STEP, "ProfilerStep#1", 0, 1000 * US, 1, 0, args={"index": 0, "traced": True})
    rows = [  # (cat, name, start, dur, stream, corr, launch start, launch dur)
        (KERNEL, "sgemm", 100, 200, 7, 1, 50, 10),
        (KERNEL, "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)", 200, 300, 20, 2, 60, 10),
        (MEMCPY, "Memcpy HtoD (Pageable -> Device)", 450, 100, 7, 3, 320, 10),
        (KERNEL, "relu", 600, 100, 7, 4, 560, 10),
        (KERNEL, "add", 729, 71, 7, 5, 650, 10),
    ]
    for cat, name, s, d, stream, corr, ls, ld in rows:
        b.span(RUNTIME, "cudaMemcpyAsync" if cat == MEMCPY else "cudaLaunchKernel", ls * US, ld * US, 1, 0, corr=corr)
        b.span(cat, name, s * US, d * US, 1, device_tid(0, stream), corr=corr)
    return b.build()


def test_timeline_known_answers():
    t = _trace()
    (a,) = device_activities(t, 1)
    w = timeline(a)
    assert w.window_ms == pytest.approx(0.700)  # 100 .. 800
    assert w.busy_ms == pytest.approx(0.621)  # [100, 550) + [600, 700) + [729, 800)
    assert w.idle_ms == pytest.approx(0.079)
    assert w.computation_ms == pytest.approx(0.371)
    assert w.comm_ms == pytest.approx(0.300) and w.memcpy_ms == pytest.approx(0.100)
    assert w.exposed_comm_ms == pytest.approx(0.200)  # [300, 500)
    assert w.exposed_memcpy_ms == pytest.approx(0.050)  # [500, 550): neither computation nor communication
    # TraceLens's identity: computation + exposed comm + exposed memcpy + idle = the window
    assert w.computation_ms + w.exposed_comm_ms + w.exposed_memcpy_ms + w.idle_ms == pytest.approx(w.window_ms)
    assert w.comm_overlap_pct == pytest.approx(100 * 100 / 300)
    assert w.non_compute_ms == pytest.approx(w.busy_ms - w.computation_ms)
    s = timeline(a, 0, 1000 * US)  # the step's own window
    assert s.window_ms == pytest.approx(1.0) and s.idle_ms == pytest.approx(0.379)


def test_idle_split_is_htas_rule():
    (a,) = device_activities(_trace(), 1)
    sp = idle_split(a)
    # stream 7: gaps 150 (memcpy launched at 320 after sgemm ended at 300: host wait), 50 (relu
    # launched at 560 after the memcpy's end at 550: host wait), 29 (add launched at 650, before
    # relu ended: kernel wait, under 30 µs); stream 20 has one activity, no gap
    assert sp.host_wait_ms == pytest.approx(0.200)
    assert sp.kernel_wait_ms == pytest.approx(0.029)
    assert sp.other_ms == 0


def test_a_30us_gap_with_work_queued_is_other():
    b = EventBuilder()
    b.span(RUNTIME, "cudaLaunchKernel", 0, 5 * US, 1, 0, corr=1)
    b.span(RUNTIME, "cudaLaunchKernel", 10 * US, 5 * US, 1, 0, corr=2)
    b.span(KERNEL, "a", 20 * US, 100 * US, 1, device_tid(0, 7), corr=1)
    b.span(KERNEL, "b", 150 * US, 10 * US, 1, device_tid(0, 7), corr=2)
    (a,) = device_activities(b.build(), 1)
    sp = idle_split(a)
    assert (sp.host_wait_ms, sp.kernel_wait_ms, sp.other_ms) == (0, 0, pytest.approx(0.030))


def test_graph_launch_counts_once():
    """A 60 µs cudaGraphLaunch running three kernels: one call, one launch-delay value, one outlier."""
    b = EventBuilder()
    b.span(STEP, "ProfilerStep#1", 0, 1000 * US, 1, 0, args={"index": 0, "traced": True})
    b.span(RUNTIME, "cudaGraphLaunch", 10 * US, 60 * US, 1, 0, corr=9)
    for i in range(3):
        b.span(KERNEL, f"k{i}", (100 + 50 * i) * US, 20 * US, 1, device_tid(0, 7), corr=9)
    t = b.build()
    la = launch_stats(t, 1, step_windows(t))
    assert la["calls"] == 1 and la["pairs"] == 3 and la["per_step"] == 1
    assert la["runtime_outliers"]["count"] == 1
    assert la["launch_delay_us"]["median"] == pytest.approx(30.0)  # 100 − (10 + 60)
    assert la["by_api"]["cudaGraphLaunch"] == {"calls": 1, "activities": 3, "launch_delay_median_us": 30.0,
                                               "call_median_us": 60.0}
    g = gpu_summary(t, 1, step_windows(t))
    assert g["launch_delay_us"]["n"] == 1 and g["launch_delay_us"]["median"] == pytest.approx(30.0)


def test_gpu_summary_carries_the_timeline_per_device():
    t = _trace()
    g = gpu_summary(t, 1, step_windows(t))
    assert g["whole_trace"]["busy_ms"] == pytest.approx(0.621)
    assert set(g["whole_trace"]["devices"]) == {"0"} and g["whole_trace"]["left_out"]["activities"] == 0
    assert g["per_step"]["n_steps"] == 1 and g["per_step"]["idle_ms"] == pytest.approx(0.379)
    assert g["idle_split"]["kernel_wait_ms"] == pytest.approx(0.029)
    assert g["queue"]["devices"]["0"]["7"]["max"] >= 1
    assert g["top_kernels"]["devices"]["0"]["communication"][0]["count"] == 1


def test_two_workers_two_devices_are_kept_apart():
    b = EventBuilder()
    for pid, dev in ((1, 0), (2, 1)):
        b.span(RUNTIME, "cudaLaunchKernel", pid * US, 5 * US, pid, 0, corr=1)
        b.span(KERNEL, "k", 10 * US, (10 + 10 * pid) * US, pid, device_tid(dev, 7), corr=1)
    acts = device_activities(b.build())
    assert [(a.pid, a.device) for a in acts] == [(1, 0), (2, 1)]
    assert [timeline(a).busy_ms for a in acts] == [pytest.approx(0.020), pytest.approx(0.030)]
    # each kernel joined to its own worker's launch (both carry correlation 1)
    assert [int(a.launch_start[0]) for a in acts] == [1 * US, 2 * US]
