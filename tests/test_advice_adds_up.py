"""Advice that adds up: ``scale``'s "why it flattens" groups, the Amdahl fit's claims and the
fusion-candidate chains count each instant of the step once.

* op-scaling groups partition the traced breakdown: an op table whose self times include the
  dispatch the breakdown books as framework overhead (a torch step came out at 158% of itself) is
  scaled to compute + memory I/O, so the groups sum to the step and their shares to ≤ 100%;
* a fit with as many free parameters as points is marked, and neither a residual nor an
  extrapolation is printed for it;
* a chain's time is its ops' own time (and their children's), not the parent's time between them;
  chains nested in others or sharing ops are counted once, so the shares sum to ≤ 100%. The expected
  figures are computed here from the raw spans with plain Python interval arithmetic.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from profiler.analysis.breakdown import step_windows
from profiler.analysis.op_scaling import op_scaling
from profiler.analysis.op_sequences import op_sequences
from profiler.analysis.thread_fits import Point, fit_amdahl, scaling_figures
from profiler.analysis.thread_scaling import scaling_result
from profiler.core.events import OP, STEP, EventBuilder
from profiler.report.scale import ScaleReport


# ---------------------------------------------------------------------------- why it flattens
def _torch_like(threads: int, addmm: float, linear_self: float, sigmoid: float, compute: float,
                memory: float, overhead: float, idle: float) -> dict:  # fmt: skip
    """A traced worker entry whose op table's self times exceed the breakdown's compute + memory
    I/O (each op's self time holds its dispatch, which the breakdown puts in framework overhead)."""
    ops = [
        {"name": "aten::addmm", "kind": "gemm", "category": "compute", "self_ms_per_step": addmm},
        {"name": "aten::linear", "kind": "gemm", "category": "compute", "self_ms_per_step": linear_self},
        {"name": "aten::sigmoid", "kind": "elementwise", "category": "memory_io", "self_ms_per_step": sigmoid},
        {"name": "aten::t", "kind": "view", "category": "framework_overhead", "self_ms_per_step": 2.0},
    ]
    traced = {"compute": compute, "memory_io": memory, "framework_overhead": overhead, "data_loading": 0.0,
              "communication": 0.0, "idle": idle}  # fmt: skip
    step = sum(traced.values())
    return {
        "threads": threads,
        "top_ops": ops,
        # breakdown_ms is the compensated (clean-step) composition; the groups read the traced one
        "breakdown_ms": {k: v * 0.8 for k, v in traced.items()},
        "breakdown": {"traced_ms": traced},
        "traced_step_ms": {"median": step},
    }


def test_flatten_groups_sum_to_the_step_they_cite() -> None:
    # op self times: 60 + 8 + 12 = 80 ms against 50 ms of compute + memory I/O in a 97.5 ms step;
    # ops' self + overhead + idle would be 80 + 40 + 7.5 = 127.5 ms, 131% of the step
    lo = _torch_like(1, 60.0, 8.0, 12.0, 42.0, 8.0, 40.0, 7.5)
    hi = _torch_like(2, 30.0, 8.0, 12.0, 24.0, 8.0, 40.0, 7.0)
    e = op_scaling(lo, hi, "torch/default")
    assert e["available"]
    for end, step in (("lo", 97.5), ("hi", 79.0)):
        total = sum(r[f"ms_{end}"] for r in e["groups"])
        assert total == pytest.approx(step)
        assert e[f"breakdown_step_ms_{end}"] == pytest.approx(step)
        shares = sum(r[f"share_{end}_pct"] for r in e["groups"])
        assert shares <= 100.0 + 1e-9 and shares == pytest.approx(100.0)
        assert all(0.0 <= r[f"share_{end}_pct"] <= 100.0 for r in e["groups"])
    g = {r["group"]: r for r in e["groups"]}
    # the op kinds split compute + memory I/O (50 ms) in proportion to their self times (68 : 12)
    assert g["GEMM"]["ms_lo"] == pytest.approx(50.0 * 68.0 / 80.0)
    assert g["elementwise"]["ms_lo"] == pytest.approx(50.0 * 12.0 / 80.0)
    assert g["framework overhead"]["ms_lo"] == pytest.approx(40.0)
    assert e["op_self_ms_lo"] == pytest.approx(80.0)
    # the sentence's flat share is one of those shares, not more than the step
    assert 0.0 <= e["flat_share_lo_pct"] <= 100.0


def test_flatten_groups_keep_other_ops_when_the_op_table_is_cut() -> None:
    # op table below compute + memory I/O (ops under its cut): the rest is "other ops", still summing
    lo = _torch_like(1, 20.0, 1.0, 4.0, 40.0, 10.0, 20.0, 0.0)
    hi = _torch_like(4, 6.0, 1.0, 4.0, 15.0, 10.0, 20.0, 0.0)
    e = op_scaling(lo, hi)
    g = {r["group"]: r for r in e["groups"]}
    assert g["GEMM"]["ms_lo"] == pytest.approx(21.0)  # untouched: nothing to take back
    assert g["other ops"]["ms_lo"] == pytest.approx(50.0 - 25.0)
    assert sum(r["ms_lo"] for r in e["groups"]) == pytest.approx(70.0)
    assert sum(r["share_hi_pct"] for r in e["groups"]) == pytest.approx(100.0)


# ---------------------------------------------------------------------------- exactly determined fits
def test_two_point_fit_says_it_is_exactly_determined() -> None:
    fit = fit_amdahl([Point(1, 100.0), Point(2, 54.2)])
    assert fit.exactly_determined and fit.parameters == 2
    assert fit.rms_rel_residual is None and fit.max_speedup is None and fit.half_efficiency_threads is None
    assert fit.serial_fraction == pytest.approx(0.084)  # the two points still say this much
    assert "no residual" in fit.note and "extrapolate" in fit.note
    # three points for two parameters: a residual and an extrapolation
    fit3 = fit_amdahl([Point(1, 100.0), Point(2, 54.2), Point(4, 31.0)])
    assert not fit3.exactly_determined and fit3.rms_rel_residual is not None and fit3.max_speedup is not None
    # clamped to a bound, two points fit one parameter: one degree of freedom is left
    fitc = fit_amdahl([Point(1, 100.0), Point(2, 110.0)])
    assert fitc.clamped == "f=1" and fitc.parameters == 1 and not fitc.exactly_determined
    assert fitc.rms_rel_residual is not None


def _entry(t: int, ms: float) -> dict:
    return {"series": "torch/default", "threads": t, "repeat": 0, "status": "ok", "step_ms": {"median": ms},
            "traced": False, "busy_threads": None}  # fmt: skip


def _render(doc: dict) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(ScaleReport(doc))
    return buf.getvalue()


def test_scale_report_prints_no_residual_or_ceiling_for_two_points() -> None:
    res = scaling_result([_entry(1, 100.0), _entry(2, 54.2)], ["torch/default"], [1, 2], cores=2)
    out = _render({"scenario": "fcn5_infer", "status": "ok", "settings": {"repeats": 1}, "run_dir": "/x", **res})
    assert "exactly determined" in out
    assert "residual 0.0%" not in out and "at most" not in out and "efficiency 50%" not in out
    res3 = scaling_result([_entry(1, 100.0), _entry(2, 54.2), _entry(4, 31.0)], ["torch/default"], [1, 2, 4],
                          cores=4)  # fmt: skip
    out3 = _render({"scenario": "fcn5_infer", "status": "ok", "settings": {"repeats": 1}, "run_dir": "/x", **res3})
    assert "fit residual" in out3 and "at most" in out3 and "exactly determined" not in out3


def test_oversubscribed_counts_do_not_lend_a_two_point_fit_degrees_of_freedom() -> None:
    sf = scaling_figures([Point(1, 100.0), Point(2, 55.0), Point(4, 70.0)], fit_max_threads=2)
    assert sf.fit is not None and sf.fit.n_points == 2 and sf.fit.exactly_determined


# ---------------------------------------------------------------------------- fusion candidates
def _union_ms(spans: list[tuple[int, int, int]]) -> float:
    """Total time covered by (tid, start, end) intervals, per thread, in ms (plain Python)."""
    total = 0
    for tid in {s[0] for s in spans}:
        iv = sorted((a, b) for t, a, b in spans if t == tid)
        cur_s, cur_e = iv[0]
        for a, b in iv[1:]:
            if a > cur_e:
                total += cur_e - cur_s
                cur_s, cur_e = a, b
            else:
                cur_e = max(cur_e, b)
        total += cur_e - cur_s
    return total / 1e6


def _nested_trace() -> tuple[EventBuilder, list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Per step, 3× a parent op (150 µs) holding the chain x → y → z (5 µs each, 45 µs apart):
    15 µs of ops in a 150 µs parent; and 4× a top-level pair a → b where b holds c → d."""
    b = EventBuilder()
    xyz: list[tuple[int, int, int]] = []
    abcd: list[tuple[int, int, int]] = []
    for step in range(2):
        t0 = step * 1_000_000
        b.span(STEP, f"step {step}", t0, 1_000_000, 1, 0, args={"index": step, "traced": True})
        for k in range(3):
            p0 = t0 + 10_000 + k * 200_000
            b.span(OP, "parent", p0, 150_000, 1, 1)
            for i, n in enumerate("xyz"):
                s = p0 + 5_000 + i * 50_000
                b.span(OP, n, s, 5_000, 1, 1)
                xyz.append((1, s, s + 5_000))
        for k in range(4):
            a0 = t0 + 650_000 + k * 80_000
            b.span(OP, "a", a0, 10_000, 1, 1)
            b.span(OP, "b", a0 + 12_000, 40_000, 1, 1)
            b.span(OP, "c", a0 + 14_000, 8_000, 1, 1)
            b.span(OP, "d", a0 + 24_000, 8_000, 1, 1)
            abcd += [(1, a0, a0 + 10_000), (1, a0 + 12_000, a0 + 52_000)]
    return b, xyz, abcd


def test_chain_time_is_its_ops_not_the_parents_own_time() -> None:
    b, xyz, _ = _nested_trace()
    t = b.build()
    res = op_sequences(t, 1, step_windows(t))
    seq = {tuple(s["ops"]): s for s in res["sequences"]}
    c = seq[("x", "y", "z")]
    assert c["inside"] == "parent" and c["per_step"] == 3
    # 3 × 15 µs of ops per step: 0.045 ms, not the 3 × 105 µs the chain spans inside its parent
    assert c["ms_per_step"] == pytest.approx(_union_ms(xyz) / 2)
    assert c["ms_per_step"] == pytest.approx(0.045)
    assert c["span_ms_per_step"] == pytest.approx(0.315)
    assert c["step_pct"] == pytest.approx(100 * 0.045 / 1.0)


def test_nested_chains_are_counted_once_and_shares_sum_to_at_most_100() -> None:
    b, xyz, abcd = _nested_trace()
    t = b.build()
    res = op_sequences(t, 1, step_windows(t))
    seq = {tuple(s["ops"]): s for s in res["sequences"]}
    assert ("a", "b") in seq and ("c", "d") in seq
    # c → d lies inside b: its 16 µs count for it, a → b keeps the rest of its 50 µs
    assert seq[("c", "d")]["ms_per_step"] == pytest.approx(4 * 0.016)
    assert seq[("a", "b")]["ms_per_step"] == pytest.approx(4 * (0.050 - 0.016))
    assert seq[("a", "b")]["chain_ms_per_step"] == pytest.approx(4 * 0.050)
    # all chains together: exactly the time their ops cover, each instant once
    total = sum(s["ms_per_step"] for s in res["sequences"])
    assert total == pytest.approx(_union_ms(xyz + abcd) / 2)
    assert sum(s["step_pct"] for s in res["sequences"]) <= 100.0
    assert res["total_pct"] == pytest.approx(sum(s["step_pct"] for s in res["sequences"]))
    assert "of the step" in res["sentence"]


def test_concurrent_threads_cite_their_op_time_and_stay_under_100() -> None:
    # two threads run the same dense chain at the same instants: 2 × 0.9 ms of ops in a 1 ms step
    b = EventBuilder()
    spans = []
    for step in range(2):
        t0 = step * 1_000_000
        b.span(STEP, f"step {step}", t0, 1_000_000, 1, 0, args={"index": step, "traced": True})
        for tid in (1, 2):
            for k in range(9):
                s = t0 + k * 100_000
                b.span(OP, "u", s, 50_000, 1, tid)
                b.span(OP, "v", s + 50_000, 40_000, 1, tid)
                spans += [(tid, s, s + 50_000), (tid, s + 50_000, s + 90_000)]
    t = b.build()
    res = op_sequences(t, 1, step_windows(t))
    assert res["share_of"].startswith("the op time of all threads")
    assert res["share_basis_ms"] == pytest.approx(_union_ms(spans) / 2)
    assert sum(s["ms_per_step"] for s in res["sequences"]) == pytest.approx(1.62)
    assert sum(s["step_pct"] for s in res["sequences"]) == pytest.approx(100.0)


def test_real_lstm_recording_chain_time_matches_the_raw_json() -> None:
    """On a real torch recording (``tests/data/kineto/lstmcell_cpu.json.gz``): the ``expand → copy_``
    chain inside ``addmm`` costs what its events in the raw JSON last (summed here with plain Python,
    not the importer), not the span inside ``addmm`` it sits in; all chains together stay within the
    ops' time and the step."""
    import gzip
    import json
    from pathlib import Path

    from profiler.importers.kineto_json import read_kineto_json

    path = Path(__file__).parent / "data" / "kineto" / "lstmcell_cpu.json.gz"
    raw = [e for e in json.load(gzip.open(path))["traceEvents"] if e.get("ph") == "X"]
    steps = [e for e in raw if str(e.get("name", "")).startswith("ProfilerStep#")]
    ops = [e for e in raw if e.get("cat") == "cpu_op"
           and any(s["ts"] <= e["ts"] < s["ts"] + s["dur"] for s in steps)]  # fmt: skip
    inside_addmm_us = sum(
        k["dur"]
        for a in ops if a["name"] == "aten::addmm"
        for k in ops
        if k["name"] in ("aten::expand", "aten::copy_") and a["ts"] <= k["ts"] and k["ts"] + k["dur"] <= a["ts"] + a["dur"]
    )  # fmt: skip
    union_ms = _union_ms([(1, int(e["ts"] * 1e3), int((e["ts"] + e["dur"]) * 1e3)) for e in ops])
    t, facts = read_kineto_json(path)
    w = step_windows(t)
    assert len(w) == len(steps)
    res = op_sequences(t, facts["host_pid"], w)
    (c,) = [s for s in res["sequences"] if s["ops"] == ["aten::expand", "aten::copy_"]]
    assert c["inside"] == "aten::addmm"
    assert c["ms_per_step"] == pytest.approx(inside_addmm_us / 1e3 / len(steps), rel=1e-3)
    assert c["span_ms_per_step"] > 10 * c["ms_per_step"]  # what the wall time used to report
    total = sum(s["ms_per_step"] for s in res["sequences"])
    assert total <= union_ms / len(steps) + 1e-9
    assert sum(s["step_pct"] for s in res["sequences"]) <= 100.0
