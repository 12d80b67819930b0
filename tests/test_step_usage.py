"""Page faults and kernel time per step, and traced steps the machine stretched: what the breakdown
does with them, on known answers built span by span; the harness's own step counters."""

from __future__ import annotations

import json

import pytest

from profiler.analysis.stats import disturbed
from profiler.analysis.step_usage import kernel_excess, usage_summary
from profiler.analysis.variant import analyse_variant
from profiler.core.events import OP, STEP, EventBuilder, EventTable
from profiler.core.usage import USAGE_FIELDS, usage_arg, usage_delta, usage_now
from tests.test_compensation import CLEAN_MS, INSIDE_US, N_OPS, OUTSIDE_US, TRUE_OP_US, _calibration

THREADS = 2
FAULT_WALL_MS = 6.0  # what the traced steps' extra page faults cost in wall time (on THREADS threads)
FAULTS = 5000


def _usage(minflt: int = 0, stime_us: int = 0) -> dict[str, int]:
    return {"minflt": minflt, "majflt": 0, "nvcsw": 0, "nivcsw": 0, "utime_us": 0, "stime_us": stime_us}


def _events(traced_faults: bool, stretch_ms: float = 0.0, n_traced: int = 3) -> EventTable:
    """Clean steps of 10 ms (1000 × 3 µs adds + 7 ms of interpreter); traced steps where the tracer
    adds 2 µs inside each add and 1 µs after it, and (``traced_faults``) a ``fill_`` of a buffer the
    allocator gave back: 6 ms of page faults on two threads (12 ms of kernel CPU). The last traced
    step is stretched by ``stretch_ms`` of nothing (the machine took the core)."""
    b = EventBuilder()
    t = 0
    for i in range(3):
        b.span(STEP, f"step {i}", t, int(CLEAN_MS * 1e6), 1, 0, args={"index": i, "traced": False, "usage": _usage()})
        t += int(CLEAN_MS * 1e6)
    gap = 7_000_000 // N_OPS
    for i in range(3, 3 + n_traced):
        t0 = t
        if traced_faults:
            b.span(OP, "aten::fill_", t, int(FAULT_WALL_MS * 1e6), 1, 0)
            t += int(FAULT_WALL_MS * 1e6)
        for _ in range(N_OPS):
            b.span(OP, "aten::add", t, int((TRUE_OP_US + INSIDE_US) * 1e3), 1, 0)
            t += int((TRUE_OP_US + INSIDE_US) * 1e3) + gap + int(OUTSIDE_US * 1e3)
        if i == 2 + n_traced:
            t += int(stretch_ms * 1e6)
        u = _usage(FAULTS, int(THREADS * FAULT_WALL_MS * 1e3)) if traced_faults else _usage()
        b.span(STEP, f"step {i}", t0, t - t0, 1, 0, args={"index": i, "traced": True, "usage": u})
    return b.build()


def _entry() -> dict:
    return {"pid": 1, "framework": "torch", "info": {"torch_threads": THREADS}}


def test_the_kernel_time_of_extra_faults_comes_out_of_memory_io() -> None:
    cal = _calibration()
    cal["cpu"] = {"page_fault_us": {"median": 1.2}}
    out = analyse_variant(_events(traced_faults=True), _entry(), calibration=cal)
    bd, comp = out["breakdown_ms"], out["breakdown"]["compensation"]
    true_mem = N_OPS * TRUE_OP_US / 1e3  # 3 ms: the fill_ costs nothing in the clean step (no faults)
    assert bd["memory_io"] == pytest.approx(true_mem, rel=0.03), out["breakdown"]["describes"]
    assert bd["framework_overhead"] == pytest.approx(CLEAN_MS - true_mem, rel=0.02)
    assert abs(comp["residual_pct"]) < 1.0
    pf = comp["page_faults"]
    assert pf["faults_per_step"] == FAULTS and pf["ms"] == pytest.approx(FAULT_WALL_MS)
    assert pf["per_fault_us"] == pytest.approx(1e3 * FAULT_WALL_MS / FAULTS)
    d = out["breakdown"]["describes"]
    assert "5,000 more minor page faults per traced step" in d and "removed from memory I/O" in d, d
    assert "1.2 µs each against 1.2 µs calibrated" in d, d


def test_without_counters_the_faults_stay_and_the_residual_says_so() -> None:
    table = _events(traced_faults=True)
    for a in table.span_args.values():
        a.pop("usage", None)
    out = analyse_variant(table, _entry(), calibration=_calibration())
    comp = out["breakdown"]["compensation"]
    assert comp["page_faults"] is None
    assert comp["residual_pct"] == pytest.approx(100 * FAULT_WALL_MS / CLEAN_MS, abs=2.0)
    assert any("residual" in w for w in out["warnings"])


def test_a_stretched_traced_step_is_left_out_of_the_breakdown() -> None:
    out = analyse_variant(_events(False, stretch_ms=30.0, n_traced=4), _entry(), calibration=_calibration())
    d = out["disturbed_traced_steps"]
    assert d["indices"] == [6] and d["left_out_ms"][0] == pytest.approx(CLEAN_MS + 3.0 + 30.0, rel=0.01)
    assert out["breakdown"]["n_steps"] == 3
    assert abs(out["breakdown"]["compensation"]["residual_pct"]) < 1.0
    assert out["breakdown_ms"]["memory_io"] == pytest.approx(N_OPS * TRUE_OP_US / 1e3, rel=0.02)
    assert "1 disturbed traced step left out (43.0 ms" in out["breakdown"]["describes"]
    # every traced step still counts in the traced step time: it is what tracing cost
    assert out["traced_step_ms"]["n"] == 4


def test_disturbed_needs_a_long_step_and_three_of_them() -> None:
    assert disturbed([29.5, 29.75, 59.8]) == [False, False, True]
    assert disturbed([23.95, 25.9, 32.1]) == [False, False, False]  # within 25% of the median
    assert disturbed([10.0, 30.0]) == [False, False]
    assert disturbed([10.0, 10.0, 10.0, 1.0]) == [False] * 4  # short steps are never disturbed
    assert disturbed([10.0, 11.0, 12.0, 10.5, 16.0]) == [False, False, False, False, True]


def test_usage_summary_and_excess() -> None:
    from profiler.analysis.breakdown import StepWindow

    clean = [StepWindow(i, 0, 1, False, 1, _usage(f, s)) for i, (f, s) in enumerate([(0, 0), (3662, 4000), (0, 0)])]
    traced = [StepWindow(i, 0, 1, True, 1, _usage(f, s)) for i, (f, s) in enumerate([(9000, 20000), (10000, 40000)])]
    s = usage_summary(clean, traced)
    assert s["clean"]["minflt"] == 0 and s["clean_max"]["minflt"] == 3662  # the headline's median step
    assert s["traced"]["minflt"] == 9500 and s["traced"]["stime_us"] == 30000
    e = kernel_excess(s, 2, 1.1)
    assert e["kernel_cpu_ms"] == 30.0 and e["ms"] == 15.0 and e["per_fault_us"] == pytest.approx(15e3 / 9500)
    assert usage_summary([StepWindow(0, 0, 1, False, 1)], []) is None
    assert kernel_excess(usage_summary(clean, []), 2) is None


def test_usage_readings() -> None:
    import mmap

    m = mmap.mmap(-1, 8 << 20)  # a fresh anonymous mapping: no page of it is resident yet
    a = usage_now()
    for off in range(0, len(m), mmap.PAGESIZE):
        m[off] = 1
    d = usage_delta(a, usage_now())
    m.close()
    assert set(d) == set(USAGE_FIELDS) and d["minflt"] >= 1000, d  # 2048 pages first touched
    assert usage_delta(None, a) is None
    assert usage_arg(d) == d and usage_arg({"minflt": 1}) is None and usage_arg("x") is None


@pytest.mark.slow
def test_harness_steps_carry_their_counters(tmp_path, cli) -> None:
    r = cli("trace", "-s", "synthetic", "-f", "python", "-p", "cpu", "--steps", "4", "--trace-steps", "3",
            "--out", str(tmp_path), "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    run_dir = json.loads(r.stdout)["run_dir"]
    from pathlib import Path

    (ev,) = Path(run_dir).glob("workers/*/events.parquet")
    t = EventTable.load(ev)
    from profiler.analysis.breakdown import step_windows

    steps = step_windows(t)
    assert steps and all(w.usage is not None and set(w.usage) == set(USAGE_FIELDS) for w in steps), steps[:2]
    v = json.loads((Path(run_dir) / "run.json").read_text())["variants"][0]
    assert v["step_usage"]["n_clean"] >= 1 and v["step_usage"]["n_traced"] >= 1, v.get("step_usage")


def test_calibrated_fault_cost_is_a_microsecond_or_so() -> None:
    from profiler.run.calibrate import page_fault_cpu

    pf = page_fault_cpu(8 << 20, 2, threads=1)
    # a minor fault costs well under a millisecond and more than a memory write: the kernel zeroes
    # and maps a 4 KiB page
    assert 0.05 < pf["median"] < 200.0, pf


def test_report_line_and_the_allocator_hint() -> None:
    from profiler.report.run import usage_line

    assert usage_line({}) is None
    quiet = usage_line({"step_usage": {"clean": _usage(0, 0), "traced": _usage(9718, 22600)}}).plain
    assert "clean (median) 0 minor faults" in quiet and "traced (mean) 9,718 minor faults, 22.6 ms kernel CPU" in quiet
    assert "fresh memory" not in quiet
    cal = {"breakdown": {"compensation": {"page_faults": {"calibrated_us": 1.2}}}}
    faulty = usage_line({"step_usage": {"clean": _usage(3662, 4000), "traced": None}, **cal}).plain
    assert "~14 MiB of fresh memory every step" in faulty and "~4.4 ms at the calibrated 1.2 µs" in faulty
