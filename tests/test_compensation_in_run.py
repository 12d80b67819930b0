"""Compensation from the run itself: the tracer's total is the traced steps minus the clean ones,
the calibration only says where it lands; fault time per thread; floors from the same run's
roofline; unresolved calibrations never used. Known answers built span by span."""

from __future__ import annotations

import math
import statistics
import threading

import pytest

from profiler.analysis.compensation import (
    CROSS_CHECK_FACTOR,
    compensate,
    record_cost,
    roofline_floors,
    tracer_in_run,
)
from profiler.analysis.step_usage import kernel_excess, usage_summary
from profiler.analysis.variant import analyse_variant
from profiler.core.events import OP, STEP, EventBuilder, EventTable
from profiler.core.usage import PROCESS_FIELDS, THREAD_FIELDS, usage_delta, usage_now

CLEAN_MS = 10.0
N_OPS = 1000
TRUE_OP_US = 3.0  # an add's own time, clean
TRUE_INSIDE_US, TRUE_OUTSIDE_US = 2.0, 1.0  # what the tracer really adds per record in these steps
THREADS = 2


def _cfg(total: float, inside: float, unresolved: str | None = None) -> dict:
    return {
        "total_us": {"median": total, "min": total, "max": total, "n": 5},
        "inside_us": {"median": inside, "min": inside, "max": inside, "n": 5},
        "outside_us": total - inside,
        "unresolved": unresolved,
    }


def _calibration(total: float, inside: float, unresolved: str | None = None) -> dict:
    """A calibration whose torch.profiler figure is ``total`` µs per record, ``inside`` of it inside."""
    return {"tracer_costs": {"torch": {"configs": {"shapes_flops": _cfg(total, inside, unresolved)}},
                             "own_spans": {"total_us": {"median": 0.7, "min": 0.7, "max": 0.7, "n": 5},
                                           "inside_us": 0.35, "outside_us": 0.35, "unresolved": None}}}


def _usage(minflt: int = 0, stime_us: int = 0, thread_minflt: int | None = None,
           thread_stime_us: int | None = None) -> dict[str, int]:
    u = {"minflt": minflt, "majflt": 0, "nvcsw": 0, "nivcsw": 0, "utime_us": 0, "stime_us": stime_us}
    if thread_minflt is not None:
        u.update(thread_minflt=thread_minflt, thread_utime_us=0, thread_stime_us=thread_stime_us or 0)
    return u


def _events(
    inside_us: float = TRUE_INSIDE_US,
    outside_us: float = TRUE_OUTSIDE_US,
    fault_ms: float = 0.0,
    traced_usage: dict | None = None,
    clean_usage: dict | None = None,
    extra_traced_ms: float = 0.0,
    clean_ms: float = CLEAN_MS,
    n_traced: int = 4,
    lengths_ms: list[float] | None = None,
    traced_lengths_ms: list[float] | None = None,
) -> EventTable:
    """Clean steps of ``clean_ms`` (1000 × 3 µs adds, the rest interpreter gaps); traced steps of the
    10 ms step where the tracer adds ``inside_us`` inside each add and ``outside_us`` after it, a ``fill_`` of
    ``fault_ms`` (page faults on a buffer the allocator gave back) and ``extra_traced_ms`` of
    something else between the ops (spread over the gaps). ``lengths_ms``: clean steps of these
    lengths instead, and as many traced steps, each its clean twin plus the tracer's cost
    (``traced_lengths_ms``: the traced steps' clean lengths, when they differ)."""
    b = EventBuilder()
    t = 0
    lengths = lengths_ms or [clean_ms] * 4
    for i, length in enumerate(lengths):
        t0 = t
        g = int((length * 1e6 - N_OPS * TRUE_OP_US * 1e3) // N_OPS)
        for _ in range(N_OPS):
            b.span(OP, "aten::add", t, int(TRUE_OP_US * 1e3), 1, 0)
            t += int(TRUE_OP_US * 1e3) + g
        b.span(STEP, f"step {i}", t0, t - t0, 1, 0,
               args={"index": i, "traced": False, "usage": clean_usage or _usage(0, 0, 0, 0)})
    extra_gap = int(extra_traced_ms * 1e6 / N_OPS)
    twins = traced_lengths_ms or lengths_ms or [CLEAN_MS] * n_traced
    for i, length in enumerate(twins, start=len(lengths)):
        t0 = t
        traced_gap = int((length * 1e6 - N_OPS * TRUE_OP_US * 1e3) // N_OPS)
        if fault_ms:
            b.span(OP, "aten::fill_", t, int(fault_ms * 1e6), 1, 0)
            t += int(fault_ms * 1e6)
        for _ in range(N_OPS):
            b.span(OP, "aten::add", t, int((TRUE_OP_US + inside_us) * 1e3), 1, 0)
            t += int((TRUE_OP_US + inside_us) * 1e3) + traced_gap + int(outside_us * 1e3) + extra_gap
        b.span(STEP, f"step {i}", t0, t - t0, 1, 0,
               args={"index": i, "traced": True, "usage": traced_usage or _usage(0, 0, 0, 0)})
    return b.build()


def _entry(framework: str = "torch") -> dict:
    return {"pid": 1, "framework": framework, "variant": "v", "info": {"torch_threads": THREADS}}


TRUE_MEM_MS = N_OPS * TRUE_OP_US / 1e3  # 3 ms: the adds' own time in the clean step


def test_in_run_total_is_removed_whatever_the_calibrated_cost() -> None:
    # the calibration measured a third of what a record costs in this step (1 µs against 3), in the
    # right ratio (2/3 inside): the in-run method removes the measured 3 µs and lands on the answer
    out = analyse_variant(_events(), _entry(), calibration=_calibration(1.0, 2.0 / 3.0))
    bd, comp = out["breakdown_ms"], out["breakdown"]["compensation"]
    assert comp["method"] == "in run"
    assert comp["in_run"]["per_step_ms"] == pytest.approx(3.0, rel=0.01)  # 1000 records × 3 µs
    assert comp["placed"]["per_record_us"] == pytest.approx(TRUE_INSIDE_US + TRUE_OUTSIDE_US, rel=0.01)
    assert comp["placed"]["inside_us"] == pytest.approx(TRUE_INSIDE_US, rel=0.01)
    assert bd["memory_io"] == pytest.approx(TRUE_MEM_MS, rel=0.02)
    assert bd["framework_overhead"] == pytest.approx(CLEAN_MS - TRUE_MEM_MS, rel=0.02)
    assert abs(comp["residual_pct"]) < 1.0
    assert not out.get("warnings")
    # calibrate's figure disagrees 3× (beyond the 2× the cross-check allows): said, not used
    cc = comp["cross_check"]
    assert cc["ratio"] == pytest.approx(3.0, rel=0.02) and not cc["agrees"] and cc["factor"] == CROSS_CHECK_FACTOR
    assert any("3.0× off" in n for n in out["breakdown"]["notes"])
    assert "measured in this run: 3.00 ms per traced step" in out["breakdown"]["describes"]


def test_the_same_events_without_counters_fall_back_to_the_calibrated_cost() -> None:
    table = _events()
    for a in table.span_args.values():
        a.pop("usage", None)
    out = analyse_variant(table, _entry(), calibration=_calibration(1.0, 2.0 / 3.0))
    comp = out["breakdown"]["compensation"]
    assert comp["method"] == "calibrated" and comp["in_run"] is None
    # 2 of the 3 µs per record stay: +20% of the 10 ms clean step, and the warning says so
    assert comp["residual_pct"] == pytest.approx(20.0, abs=1.0)
    assert any("residual of +20" in w for w in out["warnings"])


def test_calibration_within_the_factor_has_no_note() -> None:
    out = analyse_variant(_events(), _entry(), calibration=_calibration(2.0, 4.0 / 3.0))
    cc = out["breakdown"]["compensation"]["cross_check"]
    assert cc["agrees"] and cc["ratio"] == pytest.approx(1.5, rel=0.02) and cc["note"] is None
    assert not any("off the" in n for n in out["breakdown"]["notes"])


def test_the_calibration_ratio_decides_where_it_lands() -> None:
    # all of the calibrated cost between records: the in-run 3 µs all come out of framework overhead,
    # and memory I/O keeps the 2 µs per add the tracer really put inside (the split is what the
    # calibration says, the total is what the run says)
    out = analyse_variant(_events(), _entry(), calibration=_calibration(1.0, 0.0))
    bd, comp = out["breakdown_ms"], out["breakdown"]["compensation"]
    assert comp["placed"]["inside_us"] == 0.0 and comp["placed"]["outside_us"] == pytest.approx(3.0, rel=0.01)
    assert sum(v for v in bd.values() if v is not None) == pytest.approx(CLEAN_MS, rel=0.001)
    assert bd["memory_io"] == pytest.approx(TRUE_MEM_MS + N_OPS * TRUE_INSIDE_US / 1e3, rel=0.02)
    assert abs(comp["residual_pct"]) < 1.0


def test_faults_on_the_stepping_thread_count_whole() -> None:
    # the traced steps fault 6 ms on the stepping thread alone (a buffer the tracer's allocations made
    # the allocator give back, zeroed by one single-threaded fill_): the old even split over 2 threads
    # would remove 3 ms of it; per thread, all 6
    u = _usage(5000, 6000, thread_minflt=5000, thread_stime_us=6000)
    out = analyse_variant(_events(fault_ms=6.0, traced_usage=u), _entry(), calibration=_calibration(3.0, 2.0))
    bd, comp = out["breakdown_ms"], out["breakdown"]["compensation"]
    pf = comp["page_faults"]
    assert pf["split"] == "per thread" and pf["ms"] == pytest.approx(6.0)
    assert pf["per_thread"]["stepping_thread_kernel_ms"] == pytest.approx(6.0)
    assert pf["per_thread"]["other_threads_kernel_ms"] == pytest.approx(0.0)
    assert bd["memory_io"] == pytest.approx(TRUE_MEM_MS, rel=0.03)
    assert comp["placed"]["per_record_us"] == pytest.approx(3.0, rel=0.02)
    assert abs(comp["residual_pct"]) < 1.0
    assert "the stepping thread 6.0 ms, the other threads 0.0 ms over 2" in out["breakdown"]["describes"]
    # without the per-thread counters (older steps): the kernel time evenly over the 2 threads
    even = analyse_variant(_events(fault_ms=6.0, traced_usage=_usage(5000, 6000)), _entry(),
                           calibration=_calibration(3.0, 2.0))
    pe = even["breakdown"]["compensation"]["page_faults"]
    assert pe["split"] == "even" and pe["ms"] == pytest.approx(3.0)


def test_faults_in_parallel_count_once() -> None:
    # both threads fault 6 ms at once inside a parallel fill_: 12 ms of kernel CPU, 6 ms of wall
    s = usage_summary([], [])
    assert s is None
    summary = {"clean": _usage(0, 0, 0, 0), "traced": _usage(10000, 12000, 5000, 6000)}
    e = kernel_excess(summary, THREADS)
    assert e["split"] == "per thread" and e["ms"] == pytest.approx(6.0) and e["remove_ms"] == pytest.approx(6.0)
    # a pool the stepping thread waits on (its own kernel time unchanged): the pool's over its threads
    e = kernel_excess({"clean": _usage(0, 0, 0, 0), "traced": _usage(10000, 12000, 0, 0)}, THREADS)
    assert e["ms"] == pytest.approx(6.0)
    # the clean step faulting more: negative, from the same rule
    e = kernel_excess({"clean": _usage(10000, 8000, 10000, 8000), "traced": _usage(0, 0, 0, 0)}, THREADS)
    assert e["ms"] == pytest.approx(-8.0) and e["remove_ms"] == pytest.approx(-8.0)


def test_a_category_is_not_taken_below_its_roofline_floor() -> None:
    # memory I/O 9.81 ms traced; 9.93 ms of fault time would take it to zero; the same steps'
    # roofline says its memory-bound ops move bytes worth 4.0 ms at the calibrated bandwidth
    traced = {"data_loading": None, "communication": None, "memory_io": 9.81, "compute": 5.0,
              "framework_overhead": 40.0, "idle": 0.0}
    r = compensate(traced, {"memory_io": 2000, "compute": 500, "framework_overhead": 7000},
                   {"inside_us": 0.0, "outside_us": 1.5}, 36.0, fault_ms=9.93,
                   in_run=tracer_in_run([54.81] * 4, [36.0] * 4, 36.0), floors_ms={"memory_io": 4.0})
    assert r["clamped"]["memory_io"]["kept_ms"] == pytest.approx(4.0)
    assert r["clamped"]["memory_io"]["would_be_ms"] == pytest.approx(9.81 - 9.93)
    # the 4.12 ms of fault time memory I/O cannot hold was paid in the other ops: taken from compute
    # and framework overhead in proportion to what they hold after the tracer's records (5.0 and
    # 40 - 18.81 + 9.93 = 31.12 ms), so nothing stays unplaced
    spill = 4.0 - (9.81 - 9.93)
    fw = 40.0 - (18.81 - 9.93)
    assert r["clamped"]["memory_io"]["faults_elsewhere_ms"] == pytest.approx(spill)
    assert r["ms"]["compute"] == pytest.approx(5.0 - spill * 5.0 / (5.0 + fw), rel=1e-6)
    assert r["ms"]["framework_overhead"] == pytest.approx(fw - spill * fw / (5.0 + fw), rel=1e-6)
    assert any("page-fault time that memory I/O could not hold" in n for n in r["notes"])
    assert r["residual_pct"] == pytest.approx(0.0, abs=0.05)
    # a floor above what the traced steps measured is contradicted by them: set aside, never used
    # (here the fault time takes memory I/O to zero, said, with no floor)
    r = compensate(traced, {}, {"inside_us": 0.0, "outside_us": 0.0}, 36.0, fault_ms=20.0,
                   floors_ms={"memory_io": 50.0, "compute": 1.0})
    assert r["floors_contradicted"] == {"memory_io": 50.0} and r["floors_ms"] == {"compute": 1.0}
    assert r["clamped"]["memory_io"]["kept_ms"] == 0.0 and r["clamped"]["memory_io"]["floor_ms"] == 0.0
    # the fault time beyond memory I/O's 9.81 ms went to the other ops (compute down to its 1 ms floor)
    assert r["clamped"]["memory_io"]["faults_elsewhere_ms"] == pytest.approx(20.0 - 9.81)
    assert r["ms"]["compute"] >= 1.0


def test_roofline_floors_from_bytes_and_flops() -> None:
    cal = {"cpu": {"peak_gflops": 100.0, "peak_gbs": 10.0}}
    rl = {"ops": [
        {"name": "aten::add_", "bound": "memory", "mb_per_step": 45.3, "calls_per_step": 100, "gflop_per_step": 0.01},
        {"name": "aten::copy_", "bound": "memory", "mb_per_step": 5.0, "calls_per_step": 10, "gflop_per_step": 0.0},
        {"name": "aten::addmm", "bound": "compute", "mb_per_step": 1.0, "calls_per_step": 4, "gflop_per_step": 2.5},
        {"name": "aten::view", "bound": None, "mb_per_step": 0.0, "calls_per_step": 4, "gflop_per_step": 0.0},
    ]}
    f = roofline_floors(rl, cal)
    # bytes ÷ bandwidth and FLOPs ÷ peak, worked by hand: (45.3 + 5.0) MB at 10 GB/s, 2.5 GFLOP at 100
    assert f["ms"]["memory_io"] == pytest.approx(50.3e6 / 10e9 * 1e3)
    assert f["ms"]["compute"] == pytest.approx(2.5e9 / 100e9 * 1e3)
    assert f["ops"] == {"memory_io": 2, "compute": 1}
    # an op whose bytes per call fit the calibrated cache is held to the cache's bandwidth
    cal["cpu"].update(cache_gbs=100.0, cache_bytes=1e6)
    f = roofline_floors(rl, cal)
    assert f["ms"]["memory_io"] == pytest.approx(45.3e6 / 100e9 * 1e3 + 5.0e6 / 100e9 * 1e3)
    assert roofline_floors(rl, None) == {"ms": {}, "ops": {}}
    assert roofline_floors({"ops": []}, cal) == {"ms": {}, "ops": {}}


def test_an_unresolved_calibration_is_never_used() -> None:
    why = "the median cost stayed at zero over 15 paired repetitions"
    cal = _calibration(0.0, 0.0, unresolved=why)
    c, how = record_cost(cal, "torch")
    assert c is None and "unresolved" in how and why in how
    out = analyse_variant(_events(), _entry(), calibration=cal)
    assert "uncompensated" in out["breakdown"]["describes"] and why in out["breakdown"]["describes"]
    assert out["breakdown_ms"] == out["breakdown"]["traced_ms"]
    cal["tracer_costs"]["own_spans"]["unresolved"] = why
    c, how = record_cost(cal, "numba")
    assert c is None and "own span cost unresolved" in how


def test_own_spans_are_in_the_clean_steps_too() -> None:
    # numba's records are the toolkit's own spans, made in the clean steps as well: a traced step
    # slower by 1.5 ms is not a tracer cost; nothing is removed per record and the run says so
    out = analyse_variant(_events(0.0, 0.0, extra_traced_ms=1.5), _entry("numba"), calibration=_calibration(3.0, 2.0))
    comp = out["breakdown"]["compensation"]
    assert comp["placed"]["per_record_us"] is None and comp["placed"]["tracer_ms"] == 0.0
    assert comp["residual_pct"] == pytest.approx(15.0, abs=0.5)
    assert any("not a tracer cost" in w for w in out["warnings"])
    # the same steps with no difference: nothing removed, no residual (before, 0.7 µs per span was
    # removed from the traced step, though the clean step paid for the same spans)
    out = analyse_variant(_events(0.0, 0.0), _entry("numba"), calibration=_calibration(3.0, 2.0))
    comp = out["breakdown"]["compensation"]
    assert comp["removed_ms"] == pytest.approx(0.0, abs=1e-9) and abs(comp["residual_pct"]) < 0.5
    assert not out.get("warnings")


def test_traced_faster_than_clean_removes_nothing_and_says_why() -> None:
    out = analyse_variant(_events(0.0, 0.0, clean_ms=12.0), _entry(), calibration=_calibration(3.0, 2.0))
    comp = out["breakdown"]["compensation"]
    assert comp["placed"]["tracer_ms"] < 0 and comp["removed_ms"] == pytest.approx(0.0, abs=1e-9)
    assert comp["residual_pct"] < -10
    assert any("faster than the clean step" in w for w in out["warnings"])


def test_tracer_in_run_statistics() -> None:
    r = tracer_in_run([12.0, 13.0, 14.0], [10.0, 10.0, 10.0, 10.0], 10.0)
    assert r["per_step_ms"] == pytest.approx(3.0) and r["median_ms"] == 3.0
    assert (r["min_ms"], r["max_ms"]) == (2.0, 4.0)
    # the standard error of a difference of means, worked by hand: var(12, 13, 14) = 1, over 3 steps
    assert r["sem_ms"] == pytest.approx(math.sqrt(1.0 / 3))
    r = tracer_in_run([12.0, 14.0], [9.0, 11.0], 10.0)
    assert r["sem_ms"] == pytest.approx(math.sqrt(2.0 / 2 + 2.0 / 2))
    assert tracer_in_run([], [10.0], 10.0) is None and tracer_in_run([1.0], [1.0], None) is None


def test_thread_counters_name_the_stepping_thread() -> None:
    import mmap

    # another thread touches 2,048 fresh pages: the process counts them, the stepping thread does not
    m = mmap.mmap(-1, 8 << 20)
    a = usage_now()

    def touch() -> None:
        for off in range(0, len(m), mmap.PAGESIZE):
            m[off] = 1

    t = threading.Thread(target=touch)
    t.start()
    t.join()
    d = usage_delta(a, usage_now())
    assert set(d) == set(PROCESS_FIELDS + THREAD_FIELDS)
    assert d["minflt"] >= 2000 and d["thread_minflt"] < 100, d
    # and the stepping thread's own: counted on both
    m2 = mmap.mmap(-1, 8 << 20)
    a = usage_now()
    for off in range(0, len(m2), mmap.PAGESIZE):
        m2[off] = 1
    d = usage_delta(a, usage_now())
    assert d["thread_minflt"] >= 2000 and d["minflt"] >= d["thread_minflt"]
    m.close()
    m2.close()
    # readings on two threads: no thread counters (they would be two threads' counts subtracted)
    box: list = []
    t = threading.Thread(target=lambda: box.append(usage_now()))
    t.start()
    t.join()
    d = usage_delta(a, box[0])
    assert set(d) == set(PROCESS_FIELDS)


def test_a_reading_costs_microseconds() -> None:
    import time

    usage_now()
    per = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(1000):
            usage_now()
        per.append((time.perf_counter_ns() - t0) / 1000 / 1e3)
    # measured 1.55 µs here; reading /proc/self/task/*/stat instead cost 33–68 µs
    assert statistics.median(per) < 15.0, per


def test_mean_against_mean_on_skewed_steps() -> None:
    # clean steps 10, 10, 10, 12 ms (the 12 is within 25% of the median: not disturbed), each traced
    # twin 3 ms longer: the tracer added 3 ms a step. The traced side is a mean (13.5 ms); set
    # against the clean median (10) it would read 3.5 ms, against the clean mean (10.5) the 3 ms
    out = analyse_variant(_events(lengths_ms=[10.0, 10.0, 10.0, 12.0]), _entry(), calibration=_calibration(3.0, 2.0))
    comp, bd = out["breakdown"]["compensation"], out["breakdown_ms"]
    assert comp["in_run"]["clean_ms"] == pytest.approx(10.5, rel=1e-3)
    assert comp["in_run"]["per_step_ms"] == pytest.approx(3.0, rel=0.01)
    assert comp["placed"]["per_record_us"] == pytest.approx(3.0, rel=0.01)
    assert abs(comp["residual_pct"]) < 1.0
    # then scaled to the headline (the clean median): memory I/O is the adds' 3 ms × 10 / 10.5
    assert out["step_ms"]["median"] == pytest.approx(10.0, rel=1e-3)
    assert sum(v for v in bd.values() if v is not None) == pytest.approx(10.0, rel=1e-3)
    assert bd["memory_io"] == pytest.approx(TRUE_MEM_MS * 10.0 / 10.5, rel=0.02)


def test_a_reanalysis_replaces_the_compensation_warnings() -> None:
    events = _events(0.0, 0.0, extra_traced_ms=1.5)
    first = analyse_variant(events, _entry("numba"), calibration=_calibration(3.0, 2.0))
    again = analyse_variant(events, {**_entry("numba"), "warnings": ["earlier", *first["warnings"]]},
                            calibration=_calibration(3.0, 2.0))
    assert again["warnings"] == ["earlier", *first["warnings"]]


def test_a_difference_within_the_steps_noise_is_not_a_warning() -> None:
    # own spans, traced steps 0.07 ms slower than clean ones that scatter by ±0.5 ms: within two
    # standard errors of the difference, so nothing is said; 1.5 ms slower on the same scatter is
    lengths = [9.5, 10.5, 9.5, 10.5]
    quiet = analyse_variant(_events(0.0, 0.0, extra_traced_ms=0.07, lengths_ms=lengths), _entry("numba"),
                            calibration=_calibration(3.0, 2.0))
    assert quiet["breakdown"]["compensation"]["in_run"]["sem_ms"] > 0.07 / 2
    assert not quiet.get("warnings")
    loud = analyse_variant(_events(0.0, 0.0, extra_traced_ms=1.5, lengths_ms=lengths), _entry("numba"),
                           calibration=_calibration(3.0, 2.0))
    assert any("not a tracer cost" in w for w in loud["warnings"])


# a machine whose speed changed during the run (measured here on the numba kernels: clean steps at
# 6.2 ms, then from the 121st on at 7.8 ms with CPU time per step up alike, and the three traced steps
# at 7.8-8.1 ms; traced/clean +24% with no tracer in the traced steps)
DRIFT = [6.2] * 30 + [7.8] * 12


def test_a_speed_change_during_the_run_is_not_tracer_cost() -> None:
    out = analyse_variant(_events(0.0, 0.0, lengths_ms=DRIFT, traced_lengths_ms=[7.8] * 3), _entry("numba"),
                          calibration=_calibration(3.0, 2.0))
    comp = out["breakdown"]["compensation"]
    assert comp["in_run"]["clean_ms"] == pytest.approx(7.8, rel=1e-3)  # the last clean steps, not all
    assert abs(comp["in_run"]["per_step_ms"]) < 0.01 and abs(comp["residual_pct"]) < 0.5
    # the earlier clean steps: the 30 at 6.2 ms (the first two at 7.8 among them are left out by the
    # disturbed rule, as they would be from a breakdown)
    assert comp["in_run"]["drift"]["earlier_ms"] == pytest.approx(6.2, rel=1e-3)
    assert any("speed changed during the run" in n for n in out["breakdown"]["notes"])
    assert not any("not a tracer cost" in w for w in out.get("warnings") or [])
    # the headline stays the clean median (6.2), and the breakdown is scaled to it
    assert sum(v for v in out["breakdown_ms"].values() if v is not None) == pytest.approx(6.2, rel=1e-3)
    # with a tracer in the traced steps, its 3 µs per record are measured against the same last steps
    out = analyse_variant(_events(lengths_ms=DRIFT, traced_lengths_ms=[7.8] * 3), _entry(),
                          calibration=_calibration(3.0, 2.0))
    assert out["breakdown"]["compensation"]["placed"]["per_record_us"] == pytest.approx(3.0, rel=0.02)


def test_steady_clean_steps_have_no_drift() -> None:
    lengths = [9.5, 10.5] * 20
    out = analyse_variant(_events(lengths_ms=lengths, traced_lengths_ms=[10.0] * 4), _entry(),
                          calibration=_calibration(3.0, 2.0))
    comp = out["breakdown"]["compensation"]
    assert comp["in_run"]["n_clean"] == 10 and "drift" not in comp["in_run"]
    assert comp["placed"]["per_record_us"] == pytest.approx(3.0, rel=0.02)


def test_tracer_time_framework_overhead_cannot_hold_lands_inside_the_records() -> None:
    # a TensorFlow-like step: the calibration puts the tracer's whole cost between records, but the
    # 5.4 ms the run measured beyond the faults is more than the 2.18 ms of framework overhead the
    # traced steps hold; the 3.22 ms left over was spent inside the records (1,200 in memory-bound
    # ops, 600 in compute ops) and comes out of those categories 2:1, so the categories sum to the
    # clean step and nothing stays as a residual
    traced = {"data_loading": 0.0, "communication": 0.0, "memory_io": 7.36, "compute": 11.75,
              "framework_overhead": 2.18, "idle": 0.0}
    clean = 15.14
    fault = 0.76
    tracer = sum(traced.values()) - clean - fault
    r = compensate(traced, {"memory_io": 1200, "compute": 600, "framework_overhead": 19},
                   {"inside_us": 0.0, "outside_us": 1.5}, clean, fault_ms=fault, fixed_ms={"data_loading": 0.0},
                   in_run=tracer_in_run([sum(traced.values())] * 3, [clean] * 9, clean))
    spill = tracer - 2.18
    assert r["clamped"]["framework_overhead"]["inside_records_ms"] == pytest.approx(spill)
    assert r["ms"]["framework_overhead"] == 0.0
    assert r["ms"]["memory_io"] == pytest.approx(7.36 - fault - spill * 2 / 3, rel=1e-6)
    assert r["ms"]["compute"] == pytest.approx(11.75 - spill / 3, rel=1e-6)
    assert r["residual_pct"] == pytest.approx(0.0, abs=0.05)
    assert any("framework overhead could not hold" in n for n in r["notes"])
    assert not any("kept at 0" in w for w in r["warnings"])
    # a floor stops a category; the rest goes to the others; what none can take stays, said
    r = compensate(traced, {"memory_io": 1200, "compute": 600, "framework_overhead": 19},
                   {"inside_us": 0.0, "outside_us": 1.5}, clean, fault_ms=fault, fixed_ms={"data_loading": 0.0},
                   in_run=tracer_in_run([sum(traced.values())] * 3, [clean] * 9, clean),
                   floors_ms={"memory_io": 6.5, "compute": 11.7})
    room = (7.36 - fault - 6.5) + (11.75 - 11.7)
    assert r["clamped"]["framework_overhead"]["inside_records_ms"] == pytest.approx(room)
    assert r["residual_pct"] == pytest.approx(100 * (spill - room) / clean, rel=1e-6)
    assert any("kept at 0" in w for w in r["warnings"])
