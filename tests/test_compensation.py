"""Tracer-cost compensation: a known answer built span by span, and the measuring worker."""

from __future__ import annotations

import pytest

from profiler.analysis.compensation import compensate, record_cost
from profiler.analysis.variant import analyse_variant
from profiler.core.events import OP, STEP, EventBuilder

TRUE_OP_US, INSIDE_US, OUTSIDE_US, N_OPS = 3.0, 2.0, 1.0, 1000
CLEAN_MS = 10.0


def _calibration(inside: float = INSIDE_US, outside: float = OUTSIDE_US) -> dict:
    tot = inside + outside
    return {
        "tracer_costs": {
            "torch": {
                "configs": {
                    "shapes_flops": {
                        "total_us": {"median": tot, "min": tot, "max": tot, "n": 1},
                        "inside_us": {"median": inside, "min": inside, "max": inside, "n": 1},
                        "outside_us": outside,
                    }
                }
            }
        }
    }


def _events() -> EventBuilder:
    """3 clean steps of 10 ms (1000 × 3 µs adds + 7 ms of interpreter), then 3 traced steps where the
    tracer adds 2 µs inside each recorded add and 1 µs in the gap after it."""
    b = EventBuilder()
    t = 0
    for i in range(3):
        b.span(STEP, f"step {i}", t, int(CLEAN_MS * 1e6), 1, 0, args={"index": i, "traced": False})
        t += int(CLEAN_MS * 1e6)
    for i in range(3, 6):
        t0 = t
        gap = 7_000_000 // N_OPS
        for _ in range(N_OPS):
            b.span(OP, "aten::add", t, int((TRUE_OP_US + INSIDE_US) * 1e3), 1, 0)
            t += int((TRUE_OP_US + INSIDE_US) * 1e3) + gap + int(OUTSIDE_US * 1e3)
        b.span(STEP, f"step {i}", t0, t - t0, 1, 0, args={"index": i, "traced": True})
    return b


def test_known_answer_compensated_matches_clean_while_raw_is_off() -> None:
    out = analyse_variant(_events().build(), {"pid": 1, "framework": "torch"}, calibration=_calibration())
    bd, raw = out["breakdown_ms"], out["breakdown"]["traced_ms"]
    true_mem = N_OPS * TRUE_OP_US / 1e3  # 3 ms
    assert sum(v for v in bd.values() if v is not None) == pytest.approx(out["step_ms"]["median"], rel=0.01)
    assert bd["memory_io"] == pytest.approx(true_mem, rel=0.02)
    assert bd["framework_overhead"] == pytest.approx(CLEAN_MS - true_mem, rel=0.02)
    assert raw["memory_io"] > 1.5 * true_mem  # the uncompensated figure is visibly off
    assert abs(out["breakdown"]["compensation"]["residual_pct"]) < 1.0
    assert "clean step" in out["breakdown"]["describes"]
    assert not out.get("warnings")
    assert bd["data_loading"] is None  # not measured is null, not 0


def test_without_calibration_says_uncompensated() -> None:
    out = analyse_variant(_events().build(), {"pid": 1, "framework": "torch"}, calibration=None)
    assert "uncompensated: no calibration" in out["breakdown"]["describes"]
    assert out["breakdown_ms"] == out["breakdown"]["traced_ms"]


def test_wrong_cost_leaves_a_residual_and_a_warning() -> None:
    out = analyse_variant(
        _events().build(), {"pid": 1, "framework": "torch", "warnings": ["earlier"]},
        calibration=_calibration(0.0, 0.0),
    )
    assert out["breakdown"]["compensation"]["residual_pct"] > 10
    assert out["warnings"][0] == "earlier"
    assert "residual" in out["warnings"][1] and "uncertain" in out["warnings"][1]


def test_record_cost_reasons() -> None:
    assert record_cost({"cpu": {}}, "torch")[0] is None
    assert "no measured tracer cost" in record_cost({"tracer_costs": {}}, "tensorflow")[1]
    c, how = record_cost(_calibration(), "torch")
    assert c == {"inside_us": INSIDE_US, "outside_us": OUTSIDE_US} and "µs per op" in how


def test_compensate_never_negative_and_keeps_nulls() -> None:
    r = compensate({"memory_io": 0.1, "framework_overhead": 0.1, "compute": None},
                   {"memory_io": 1000}, {"inside_us": 5.0, "outside_us": 5.0}, 1.0)
    assert r["ms"]["compute"] is None
    assert all(v is None or v >= 0 for v in r["ms"].values())


def test_own_span_cost_is_measured() -> None:
    from profiler.run.tracer_cost import own_span_cost

    r = own_span_cost(2000, 3)
    assert r["total_us"]["n"] == 3 and r["total_us"]["median"] > 0


def test_torch_profiler_cost_measured_in_a_fresh_worker() -> None:
    pytest.importorskip("torch")
    import json
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "profiler.run.tracer_cost", "--quick"],
                       capture_output=True, text=True, timeout=1200)
    rec = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
    cfg = rec["torch"]["configs"]
    for name in ("plain", "shapes_flops", "shapes_flops_stack"):
        u = cfg[name]["total_us"]
        assert u["n"] == 3 and u["min"] <= u["median"] <= u["max"]
    # recording shapes costs something on top of the plain record (median of 3, µs per op)
    assert cfg["shapes_flops"]["total_us"]["median"] > 0


def test_explanation_shares_are_of_the_clean_gap_when_compensated() -> None:
    from profiler.analysis.explain import explain

    fast = analyse_variant(_events().build(), {"pid": 1, "framework": "torch"}, calibration=_calibration())
    b = EventBuilder()  # a slower variant: 20 ms clean steps, twice the adds
    t = 0
    for i in range(3):
        b.span(STEP, f"step {i}", t, 20_000_000, 1, 0, args={"index": i, "traced": False})
        t += 20_000_000
    for i in range(3, 6):
        t0 = t
        for _ in range(2 * N_OPS):
            b.span(OP, "aten::add", t, 5_000, 1, 0)
            t += 5_000 + 7_000 + 1_000 - 1_500  # 20 ms of clean step per 2000 adds
        b.span(STEP, f"step {i}", t0, t - t0, 1, 0, args={"index": i, "traced": True})
    slow = analyse_variant(b.build(), {"pid": 1, "framework": "torch"}, calibration=_calibration())
    for v, name in ((fast, "a"), (slow, "b")):
        v.update(framework="torch", variant=name)
    e = explain(fast, slow)
    gap = slow["step_ms"]["median"] - fast["step_ms"]["median"]
    assert e["gap_basis"].startswith("clean")
    assert e["traced_gap_ms"] == pytest.approx(gap, rel=1e-6)
    assert sum(e["category_delta_ms"].values()) == pytest.approx(gap, rel=0.01)


def test_synthetic_trace_breakdown_sums_to_the_clean_median(tmp_path, monkeypatch, cli) -> None:
    import json

    from profiler.core import calibration as calcache
    from profiler.run.calibrate import sgemm_cpu, stream_cpu
    from profiler.run.tracer_cost import own_span_cost

    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    bw = max(stream_cpu(1 << 20, 2).values())
    fl = sgemm_cpu(256, 2)
    calcache.save({
        "version": calcache.CALIBRATION_VERSION, "created": "test", "quick": True,
        "cpu": {"peak_gflops": fl, "peak_gbs": bw, "flops_from": "numpy sgemm", "bw_from": "stream"},
        "gpu": {"unavailable": "unavailable: not measured in this test"},
        "tracer_costs": {"own_spans": own_span_cost(2000, 3)},
    })
    env = {"PROFILER_CACHE_DIR": str(tmp_path / "cache")}
    r = cli("trace", "-s", "synthetic", "-f", "python", "-p", "cpu", "--out", str(tmp_path), "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)["variants"][0]
    total = sum(x for x in v["breakdown_ms"].values() if x is not None)
    assert total == pytest.approx(v["step_ms"]["median"], rel=0.01)
    assert "clean step" in v["breakdown_of"]
    assert v["traced_breakdown_ms"] is not None
    rep = cli("report", json.loads(r.stdout)["run_dir"], env=env)
    assert rep.returncode == 0 and "the breakdown describes the clean step" in rep.stdout


def test_calibration_lines_show_tracer_costs() -> None:
    from profiler.core.calibration import summary_line, tracer_cost_line

    rec = {"cpu": {"peak_gflops": 1.0, "peak_gbs": 1.0}, "created": "t",
           "tracer_costs": {**_calibration()["tracer_costs"], "mxnet": {"unavailable": "unavailable: x"}}}
    line = tracer_cost_line(rec)
    assert "torch.profiler shapes_flops 3.00 µs/op (3.00–3.00)" in line and "mxnet unavailable: x" in line
    assert "tracers torch.profiler" in summary_line(rec)
    assert tracer_cost_line({"cpu": {}}) == "cost not measured"


def test_busy_machine_is_said() -> None:
    from profiler.core.calibration import tracer_cost_line

    rec = {"tracer_costs": {"load": {"loadavg_1min": 9.0, "cores": 2, "busy": True}}}
    assert "machine busy" in tracer_cost_line(rec)
