"""The breakdown that explains: priority closure, input-bound verdict, loader processes, GPU specifics
(on a hand-built Kineto fixture with known answers), nested self time, and the synthetic known-answer
scenario end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.analysis.breakdown import CATEGORIES, breakdown, input_bound_verdict, step_windows
from profiler.analysis.gpu import SmLimits, gpu_summary, occupancy_estimate, theoretical_occupancy
from profiler.analysis.intervals import innermost_segments
from profiler.analysis.nesting import is_laminar, self_segments
from profiler.core.events import DATA_LOADING, OP, STEP, EventBuilder
from profiler.importers.kineto_json import read_kineto_json

US = 1000  # ns


def test_input_bound_thresholds():
    assert input_bound_verdict(0.49, 10)["verdict"] == "not input-bound"
    assert input_bound_verdict(0.5, 10)["verdict"] == "moderately input-bound"
    assert input_bound_verdict(1.99, 10)["verdict"] == "moderately input-bound"
    assert input_bound_verdict(2.0, 10)["verdict"] == "highly input-bound"
    assert input_bound_verdict(2.0, 10)["pct"] == pytest.approx(20.0)


def test_loader_worker_processes_are_seen_and_not_counted_as_step_time():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(DATA_LOADING, "next", 0, 100, 1, 0)  # the step waits 100 ns
    b.span(OP, "aten::mm", 100, 800, 1, 7)
    # two loader worker processes producing batches during the step (their own pids)
    b.span(DATA_LOADING, "worker batch", 50, 600, 77, 0)
    b.span(DATA_LOADING, "worker batch", 300, 600, 78, 0)
    bd = breakdown(b.build(), pid=1)
    assert bd.ms["data_loading"] == pytest.approx(100 / 1e6)
    assert bd.loader == {
        "processes": 2,
        "work_ms_per_step": pytest.approx(1200 / 1e6),
        "busy_ms_per_step": pytest.approx(850 / 1e6),
        "spans": 2,
        "work_ms_total": pytest.approx(1200 / 1e6),
    }
    assert bd.input_bound["verdict"] == "moderately input-bound"  # 10 %
    assert abs(bd.residual_ms) < 1e-12


def test_unmarked_input_pipeline_is_not_measured_not_zero():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::mm", 100, 800, 1, 7)
    bd = breakdown(b.build(), pid=1)
    assert "data_loading" in bd.not_measured
    assert bd.input_bound["verdict"] == "not measured"
    assert bd.to_dict()["not_measured"]["data_loading"]


@pytest.fixture(scope="module")
def gpu_trace(data_dir=None):
    from tests.conftest import DATA

    return read_kineto_json(DATA / "kineto" / "gpu_handbuilt.json")


def test_gpu_fixture_breakdown_known_answers(gpu_trace):
    t, facts = gpu_trace
    steps = step_windows(t)
    assert len(steps) == 2
    bd = breakdown(t, facts["host_pid"], steps)
    us = {k: round(v * 1e3, 6) for k, v in bd.ms.items()}
    assert us == {
        "data_loading": 40,
        "communication": 0,
        "memory_io": 140,
        "compute": 300,
        "framework_overhead": 35,  # the host busy while the device idles (mm before its kernel, a launch)
        "idle": 485,  # the sync, a gap with its kernel already queued, and where nothing runs
    }
    assert bd.basis == "device kernels"
    assert bd.input_bound["pct"] == pytest.approx(9.0)
    assert bd.input_bound["verdict"] == "moderately input-bound"


def test_gpu_fixture_idle_gaps_launches_occupancy(gpu_trace):
    t, facts = gpu_trace
    g = gpu_summary(t, facts["host_pid"], step_windows(t))
    d = g["devices"]["0"]
    assert d["busy_pct"] == pytest.approx(39.0)
    assert d["kernels_per_step"] == 3 and d["memcpy_memset_per_step"] == 1
    gaps = {k: round(v * 1e3, 6) for k, v in d["idle_gaps_ms_per_step"].items()}
    # B waited 30 µs with its launch already queued: not under HTA's 30 µs kernel-wait threshold, so other
    assert gaps == {"host_launch_bound": 140, "kernel_wait": 0, "other": 420}
    assert sum(gaps.values()) + 390 + 50 == 1000  # gaps + kernels + memcpy = the step
    assert g["launch_calls_per_step"] == 3
    # HTA's launch delay, once per call: device start − end of the call (10, 90, 10 µs)
    assert g["launch_delay_us"]["median"] == pytest.approx(10.0)
    assert g["launch_delay_us"]["n"] == 6
    # sgemm: 4 blocks/SM by registers (occupancy 0.5), 128 blocks fill 128/432 of an A100 wave;
    # elementwise: 16 blocks/SM (occupancy 1.0), 1024 blocks fill 1024/1728; weighted 300:50
    exp = (300 * 0.5 * 128 / 432 + 50 * 1.0 * 1024 / 1728) / 350
    assert d["occupancy_estimate"] == pytest.approx(exp)
    assert d["occupancy_kineto"] == pytest.approx(0.14)


def test_theoretical_occupancy_limits():
    lim = SmLimits()
    assert theoretical_occupancy(256, 64, 0, lim) == (0.5, 4)  # registers limit
    assert theoretical_occupancy(1024, 16, 0, lim) == (1.0, 2)  # warps limit
    assert theoretical_occupancy(128, 0, 100_000, lim) == (pytest.approx(4 / 64), 1)  # shared memory
    assert occupancy_estimate([1, 1, 1], [32, 1, 1], 16, 0, lim) == pytest.approx((32 / 64) / (108 * 32))


def test_no_device_spans_no_gpu_summary():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    t = b.build()
    assert gpu_summary(t, 1, step_windows(t)) is None


@st.composite
def _forest(draw):
    """A laminar family of intervals (a call tree), possibly with duplicates and zero lengths."""
    out = []

    def tree(lo, hi, depth):
        out.append((lo, hi))
        if depth == 0 or hi - lo < 2:
            return
        cuts = sorted(draw(st.lists(st.integers(lo, hi), min_size=0, max_size=6)))
        for a, b in zip(cuts[0::2], cuts[1::2], strict=False):
            tree(a, b, depth - 1)

    t = 0
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 200))
        tree(t, t + n, 3)
        t += n + draw(st.integers(0, 5))
    if draw(st.booleans()) and out:
        out.append(out[draw(st.integers(0, len(out) - 1))])
    perm = draw(st.permutations(range(len(out))))
    return [out[i] for i in perm]


@settings(max_examples=150, deadline=None)
@given(_forest())
def test_self_segments_match_the_stack_walk(iv):
    s = np.array([a for a, _ in iv], np.int64)
    e = np.array([b for _, b in iv], np.int64)
    assert is_laminar(s, e)
    a = self_segments(s, e)
    # the reference walk lets a zero-length span own time after it; zero-length spans own nothing
    pos = e > s
    b = innermost_segments(s[pos], e[pos])
    b = (b[0], b[1], np.flatnonzero(pos)[b[2]])

    # same self time per distinct interval (identical intervals may trade ownership)
    def per_interval(res):
        tot = {}
        for o, d in zip(res[2].tolist(), (res[1] - res[0]).tolist(), strict=True):
            key = (int(s[o]), int(e[o]))
            tot[key] = tot.get(key, 0) + d
        return tot

    assert per_interval(a) == per_interval(b)
    assert int((a[1] - a[0]).sum()) == int((b[1] - b[0]).sum())


def test_overlapping_non_nested_spans_fall_back_to_the_stack_walk():
    s, e = np.array([0, 5]), np.array([10, 15])
    assert not is_laminar(s, e)
    seg = self_segments(s, e)
    assert int((seg[1] - seg[0]).sum()) == 15


@pytest.mark.slow
def test_synthetic_known_answer_end_to_end(tmp_path):
    """Run the framework-free scenario; the breakdown recovers each part within 5 %."""
    from tests.conftest import run_cli

    r = run_cli(
        "trace",
        "--scenario",
        "synthetic",
        "--probes",
        "process",
        "--out",
        str(tmp_path),
        "--json",
        env={"PROFILER_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    run = json.loads((tmp_path / doc["run_dir"] / "run.json").read_text())
    v = run["variants"][0]
    from profiler.core.events import EventTable

    t = EventTable.load(tmp_path / doc["run_dir"] / v["events"])
    steps = step_windows(t, v["pid"], traced=True)
    rows = {n: [] for n in ("wait for batch", "matmul", "copy")}
    for sp in t.iter_spans():
        if sp["name"] in rows and any(w.start_ns <= sp["start_ns"] < w.end_ns for w in steps):
            rows[sp["name"]].append(sp["dur_ns"] / 1e6)
    part = {k: sum(x) / len(steps) for k, x in rows.items()}
    bd = v["breakdown"]
    assert bd["ms"]["data_loading"] == pytest.approx(part["wait for batch"], rel=0.05)
    assert bd["ms"]["compute"] == pytest.approx(part["matmul"], rel=0.05)
    assert bd["ms"]["memory_io"] == pytest.approx(part["copy"], rel=0.05)
    assert abs(bd["residual_pct"]) <= 1.0
    assert sum(bd["ms"].values()) == pytest.approx(bd["step_ms"], rel=0.01)
    # the wait is a sleep of wait_ms: never shorter
    assert part["wait for batch"] >= 20.0 * 0.95
    # the roofline recovers the exact work of each op
    ops = {o["name"]: o for o in v["roofline"]["ops"]}
    assert ops["matmul"]["gflop_per_step"] == pytest.approx(2 * 384**3 / 1e9)
    assert ops["matmul"]["mb_per_step"] == pytest.approx(3 * 4 * 384**2 / 1e6)
    assert ops["copy"]["mb_per_step"] == pytest.approx(2 * 32 * 2**20 / 1e6)
    assert ops["copy"]["gflop_per_step"] == 0
    assert set(bd["ms"]) == set(CATEGORIES)
    assert run["plots"]["breakdown"] == "breakdown.png"
    assert (tmp_path / doc["run_dir"] / "breakdown.png").stat().st_size > 1000


def test_launch_config_reads_kineto_and_cupti_arg_names():
    from profiler.analysis.gpu import launch_config

    assert launch_config(
        {"grid": [2, 1, 1], "block": [64, 1, 1], "registers per thread": 40, "shared memory": 1024}
    ) == ([2, 1, 1], [64, 1, 1], 40, 1024)
    assert launch_config(
        {
            "grid": [2, 1, 1],
            "block": [64, 1, 1],
            "registers_per_thread": 40,
            "static_shared_memory": 512,
            "dynamic_shared_memory": 256,
        }
    ) == ([2, 1, 1], [64, 1, 1], 40, 768)
    assert launch_config({"grid": [2]}) is None
    lim = SmLimits()
    assert occupancy_estimate([None, None, None], [64, 1, 1], 32, 0, lim) == 0.0


def test_sm_limits_from_kineto_device_properties(gpu_trace):
    from profiler.analysis.gpu import limits_from_kineto

    _, facts = gpu_trace
    lim = limits_from_kineto(facts["device_properties"])
    assert (lim.sms, lim.max_warps, lim.registers) == (108, 64, 65536)
    assert limits_from_kineto([{"numSms": 80, "maxThreadsPerMultiprocessor": 1024}]).max_warps == 32
    assert limits_from_kineto(None) is None and limits_from_kineto([{"numSms": "x"}]) is None
