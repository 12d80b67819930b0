"""Thread-scaling analysis on synthetic timings with known answers: speedup, efficiency, the Amdahl
fit, Karp–Flatt, the knees, busy-thread counting, the op explanation and the sweep aggregation."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

from profiler.analysis.op_scaling import op_scaling
from profiler.analysis.thread_fits import (
    Point,
    busy_threads,
    fit_amdahl,
    karp_flatt,
    scaling_figures,
    spread_pct,
    thread_mismatch,
)
from profiler.analysis.thread_scaling import scaling_result
from profiler.export.thread_sweep import to_csv


def amdahl(t1: float, f: float, ps: list[int]) -> list[Point]:
    return [Point(p, t1 * (f + (1 - f) / p)) for p in ps]


# ------------------------------------------------------------------------------------ exact curves
@pytest.mark.parametrize("f", [0.0, 0.05, 0.1, 0.3, 0.7, 1.0])
def test_exact_amdahl_curve_is_recovered(f: float) -> None:
    fit = fit_amdahl(amdahl(200.0, f, [1, 2, 4, 8, 16]))
    assert fit.serial_fraction == pytest.approx(f, abs=1e-9)
    assert fit.t1_ms == pytest.approx(200.0, rel=1e-9)
    assert fit.rms_rel_residual == pytest.approx(0.0, abs=1e-9)
    if f > 0:
        assert fit.max_speedup == pytest.approx(1 / f)
        assert fit.half_efficiency_threads == pytest.approx((1 + f) / f)
    else:
        assert fit.max_speedup is None


def test_fit_works_without_a_one_thread_point() -> None:
    # T(p) = a + b/p is fitted in absolute time, so the 1-thread time is extrapolated
    fit = fit_amdahl(amdahl(80.0, 0.2, [2, 4, 8]))
    assert fit.serial_fraction == pytest.approx(0.2, abs=1e-9)
    assert fit.t1_ms == pytest.approx(80.0)


def test_karp_flatt_equals_the_serial_fraction_on_an_exact_amdahl_curve() -> None:
    sf = scaling_figures(amdahl(100.0, 0.15, [1, 2, 4, 8]))
    assert sf.points[0].karp_flatt is None  # undefined at p = 1
    for pt in sf.points[1:]:
        assert pt.karp_flatt == pytest.approx(0.15, abs=1e-12)


def test_speedup_and_efficiency() -> None:
    sf = scaling_figures([Point(1, 100.0), Point(2, 50.0), Point(4, 40.0)])
    assert [p.speedup for p in sf.points] == pytest.approx([1.0, 2.0, 2.5])
    assert [p.efficiency for p in sf.points] == pytest.approx([1.0, 1.0, 0.625])
    assert karp_flatt(2.5, 4) == pytest.approx((1 / 2.5 - 0.25) / 0.75)


# ------------------------------------------------------------------------------------ noisy curves
@pytest.mark.parametrize("seed", range(10))
def test_noisy_amdahl_curve_is_recovered_within_tolerance(seed: int) -> None:
    rng = random.Random(seed)
    pts = [
        Point(p.threads, p.median_ms * (1 + rng.uniform(-0.03, 0.03)))
        for p in amdahl(500.0, 0.25, [1, 2, 4, 8, 16, 32])
    ]
    fit = fit_amdahl(pts)
    assert fit.serial_fraction == pytest.approx(0.25, abs=0.04)
    assert fit.rms_rel_residual < 0.05


def test_noise_does_not_make_karp_flatt_wild_at_low_counts_but_is_visible() -> None:
    pts = [Point(1, 100.0), Point(2, 100.0 * (0.1 + 0.45) * 1.02)]  # f = 0.1 with 2% noise at p=2
    e = scaling_figures(pts).points[1].karp_flatt
    assert e is not None and 0.1 < e < 0.16


# ------------------------------------------------------------------------------- constrained fits
def test_superlinear_times_clamp_to_fully_parallel() -> None:
    fit = fit_amdahl([Point(1, 100.0), Point(2, 45.0), Point(4, 20.0)])
    assert fit.clamped == "f=0"
    assert fit.serial_fraction == 0.0


def test_times_growing_with_threads_clamp_to_fully_serial() -> None:
    fit = fit_amdahl([Point(1, 100.0), Point(2, 110.0), Point(4, 130.0)])
    assert fit.clamped == "f=1"
    assert fit.serial_fraction == 1.0
    assert fit.max_speedup == pytest.approx(1.0)


def test_oversubscribed_points_are_left_out_of_the_fit() -> None:
    pts = [*amdahl(100.0, 0.1, [1, 2]), Point(4, 90.0)]  # 4 threads on 2 cores: slower
    sf = scaling_figures(pts, fit_max_threads=2)
    assert sf.fit is not None and sf.fit.serial_fraction == pytest.approx(0.1)
    assert sf.fit.n_points == 2
    assert "4" in (sf.fit_note or "")
    assert sf.turns_negative_at == 4


def test_one_point_has_no_fit_but_figures() -> None:
    sf = scaling_figures([Point(1, 10.0)])
    assert sf.fit is None and "needs 2" in (sf.fit_note or "")
    assert sf.best_threads == 1


def test_base_other_than_one_thread_is_said_and_karp_flatt_left_out() -> None:
    sf = scaling_figures([Point(2, 60.0), Point(4, 40.0)])
    assert sf.base_threads == 2
    assert sf.points[1].speedup == pytest.approx(1.5)
    assert sf.points[1].efficiency == pytest.approx(0.75)
    assert all(p.karp_flatt is None for p in sf.points)
    assert any("relative to 2 threads" in n for n in sf.notes)


# ---------------------------------------------------------------------------------------- knees
def test_where_scaling_stops_paying_and_turns_negative() -> None:
    sf = scaling_figures([Point(1, 100.0), Point(2, 55.0), Point(4, 53.0), Point(8, 60.0)])
    assert sf.stops_paying_at == 4  # 55 → 53 is < 5%
    assert sf.turns_negative_at == 8
    assert sf.best_threads == 4
    assert sf.best_speedup == pytest.approx(100 / 53)


def test_a_rise_within_the_measured_noise_is_not_negative() -> None:
    pts = [Point(1, 100.0, 1.0), Point(2, 60.0, 8.0), Point(4, 63.0, 8.0)]  # +5% < 8% spread
    sf = scaling_figures(pts)
    assert sf.turns_negative_at is None
    assert sf.stops_paying_at == 4


def test_spread_warning_above_ten_percent() -> None:
    sf = scaling_figures([Point(1, 100.0, 12.0), Point(2, 50.0, 3.0)])
    assert [p.spread_warning for p in sf.points] == [True, False]
    assert spread_pct([10.0, 11.0, 12.0]) == pytest.approx(100 * 2 / 11)
    assert spread_pct([10.0]) == 0.0


@pytest.mark.parametrize(
    "bad",
    [[], [Point(0, 1.0)], [Point(1, 1.0), Point(1, 2.0)], [Point(1, 0.0)], [Point(2, float("nan"))]],
)
def test_bad_points_raise(bad: list[Point]) -> None:
    with pytest.raises(ValueError):
        scaling_figures(bad)


# ----------------------------------------------------------------------------------- busy threads
def test_busy_threads_counts_threads_relative_to_the_busiest() -> None:
    # two threads each got only 15% of the window (a loaded machine), one idle helper thread
    b = busy_threads({1: 1.0, 2: 0.0, 3: 0.5}, {1: 1.15, 2: 0.15, 3: 0.5}, window_s=1.0)
    assert b.busy == 2
    assert b.cpu_parallelism == pytest.approx(0.3)
    assert b.threads_seen == 3
    assert thread_mismatch(2, b) is None
    assert thread_mismatch(4, b) == "2 busy thread(s) for 4 requested"


def test_a_thread_born_in_the_window_counts_and_short_blips_do_not() -> None:
    b = busy_threads({1: 0.0}, {1: 0.5, 7: 0.4, 8: 0.005}, window_s=0.5)
    assert b.busy == 2  # 8 ran 1% of the window: not busy


def test_tick_clock_needs_a_long_enough_window() -> None:
    short = busy_threads({1: 0.0}, {1: 0.05}, window_s=0.05, resolution_s=0.01)
    assert not short.resolved
    assert "too short" in (thread_mismatch(1, short) or "")
    long = busy_threads({1: 0.0}, {1: 1.0}, window_s=1.0, resolution_s=0.01)
    assert long.resolved and long.busy == 1
    assert thread_mismatch(1, None) == "busy threads not measured"


# -------------------------------------------------------------------------------- op explanation
def _traced(threads: int, gemm: float, sigmoid: float, softmax: float, overhead: float) -> dict:
    ops = [
        {
            "name": "aten::addmm",
            "where": "host",
            "kind": "gemm",
            "category": "compute",
            "self_ms_per_step": gemm,
        },
        {
            "name": "aten::sigmoid",
            "where": "host",
            "kind": "elementwise",
            "category": "memory_io",
            "self_ms_per_step": sigmoid,
        },
        {
            "name": "aten::_softmax",
            "where": "host",
            "kind": "softmax",
            "category": "memory_io",
            "self_ms_per_step": softmax,
        },
        {
            "name": "aten::t",
            "where": "host",
            "kind": "view",
            "category": "framework_overhead",
            "self_ms_per_step": 0.1,
        },
    ]
    step = gemm + sigmoid + softmax + overhead
    return {
        "threads": threads,
        "top_ops": ops,
        "breakdown_ms": {
            "compute": gemm,
            "memory_io": sigmoid + softmax,
            "framework_overhead": overhead,
            "data_loading": 0.0,
            "communication": 0.0,
            "idle": 0.0,
        },
        "traced_step_ms": {"median": step},
    }


def test_op_scaling_separates_gemm_from_what_stays_flat() -> None:
    e = op_scaling(_traced(1, 80.0, 10.0, 5.0, 5.0), _traced(4, 22.0, 9.5, 5.0, 5.5), "torch/default")
    assert e["available"]
    g = {r["group"]: r for r in e["groups"]}
    assert g["GEMM"]["verdict"] == "scales"
    assert g["GEMM"]["speedup"] == pytest.approx(80 / 22)
    assert g["GEMM"]["ops"] == ["addmm"]
    assert g["elementwise"]["verdict"] == "flat"
    assert g["softmax"]["verdict"] == "flat"
    assert g["framework overhead"]["verdict"] == "flat"
    # the groups sum to the traced step at both counts
    assert sum(r["ms_lo"] for r in e["groups"]) == pytest.approx(100.0)
    assert sum(r["ms_hi"] for r in e["groups"]) == pytest.approx(42.0)
    assert e["flat_share_lo_pct"] == pytest.approx(20.0)
    assert "does not scale" in e["sentence"] and "flattens" in e["sentence"]
    assert e["sentence"].startswith("torch/default: the traced step is 2.38× faster at 4")


def test_op_scaling_unavailable_without_a_traced_breakdown() -> None:
    e = op_scaling({"threads": 1}, _traced(2, 1, 1, 1, 1))
    assert not e["available"] and "no traced op table at 1 threads" in e["reason"]


# ------------------------------------------------------------------------------------ aggregation
def _entry(series: str, t: int, r: int, ms: float, busy: int | None = None, par: float = 1.0) -> dict:
    return {
        "series": series,
        "threads": t,
        "repeat": r,
        "status": "ok",
        "step_ms": {"median": ms},
        "traced": False,
        "busy_threads": None
        if busy is None
        else {"busy": busy, "cpu_parallelism": par, "resolved": True, "window_s": 1.0},
    }


def test_scaling_result_medians_spread_mismatch_and_contention() -> None:
    s = "torch/default"
    entries = [
        _entry(s, 1, 0, 100.0, 1),
        _entry(s, 1, 1, 102.0, 1),
        _entry(s, 1, 2, 98.0, 1),
        _entry(s, 2, 0, 60.0, 1),
        _entry(s, 2, 1, 75.0, 1),
        _entry(s, 2, 2, 55.0, 1, par=0.5),
    ]
    res = scaling_result(entries, [s], [1, 2], cores=2)
    pts = res["series"][0]["points"]
    assert pts[0]["median_ms"] == 100.0 and pts[1]["median_ms"] == 60.0
    assert pts[0]["spread_pct"] == pytest.approx(4.0)
    assert pts[1]["spread_pct"] == pytest.approx(100 * 20 / 60)
    assert pts[1]["speedup"] == pytest.approx(100 / 60)
    assert pts[1]["karp_flatt"] == pytest.approx((0.6 - 0.5) / 0.5)
    assert pts[1]["thread_mismatch"] == "1 busy thread(s) for 2 requested"
    assert pts[0]["thread_mismatch"] is None
    w = " | ".join(res["warnings"])
    assert "at 2 thread(s): repeats spread 33%" in w
    assert "1 busy thread(s) for 2 requested" in w
    assert res["series"][0]["figures"]["fit"]["serial_fraction"] == pytest.approx(0.2)
    assert not res["series"][0]["explanation"]["available"]
    csv_lines = to_csv(res).splitlines()
    assert csv_lines[0].startswith("series,framework,variant,threads,oversubscribed,median_ms")
    assert csv_lines[2].startswith("torch/default,torch,default,2,False,60,55,75,")


def test_failed_repeats_are_counted_not_averaged() -> None:
    s = "mxnet/hybridized"
    bad = {"series": s, "threads": 2, "repeat": 1, "status": "failed", "error": "boom", "step_ms": None}
    res = scaling_result([_entry(s, 1, 0, 10.0), _entry(s, 2, 0, 6.0), bad], [s], [1, 2], cores=2)
    p2 = res["series"][0]["points"][1]
    assert p2["repeats"] == 2 and p2["repeats_ok"] == 1 and p2["median_ms"] == 6.0
    assert p2["errors"] == ["boom"]


def test_report_renders_the_seed_table_layout() -> None:
    from profiler.report.scale import ScaleReport

    s = "torch/default"
    res = scaling_result([_entry(s, 1, 0, 100.0, 1), _entry(s, 2, 0, 55.0, 1)], [s], [1, 2], cores=2)
    doc = {"scenario": "fcn5_infer", "status": "ok", "settings": {"repeats": 1}, "run_dir": "/x", **res}
    buf = io.StringIO()
    Console(file=buf, width=140, color_system=None).print(ScaleReport(doc))
    out = buf.getvalue()
    assert "1 thr" in out and "2 thr" in out
    assert "55.00" in out and "1.82×" in out and "91%" in out
    assert "Karp–Flatt" in out and "0.100" in out
    assert "≠ thread mismatch: torch/default at 2: 1 busy thread(s) for 2 requested" in out


def test_op_scaling_says_when_nothing_scaled() -> None:
    e = op_scaling(_traced(1, 20.0, 2.0, 1.0, 1.0), _traced(2, 21.0, 2.5, 1.0, 1.2))
    assert e["sentence"].startswith("the traced step is 1.07× slower at 2")
    assert "nothing in the step scaled: GEMM (addmm)" in e["sentence"]


def test_thread_cpu_seconds_reads_this_process() -> None:
    import os
    import threading

    from profiler.probes.process import thread_cpu_times

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        cpu, resolution = thread_cpu_times(os.getpid())
    finally:
        stop.set()
        t.join()
    assert os.getpid() in cpu and t.native_id in cpu
    assert all(v >= 0 for v in cpu.values()) and cpu[os.getpid()] > 0
    assert resolution in (1e-9, 1.0 / os.sysconf("SC_CLK_TCK"))
