"""End to end: `profiler trace --scenario cudnn_lstm` on CPU, its JSON, run directory and Chrome trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.export.chrome_check import check_chrome_trace, load_trace
from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.slow]


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("runs")
    # an empty calibration cache: uncalibrated, the breakdown is of the traced steps (what the
    # checks below compare it with), whatever this machine's own cache holds
    env = {"PROFILER_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    r = run_cli("trace", "--scenario", "cudnn_lstm", "--framework", "torch", "--preset", "cpu",
                "--variant", "fused,unfused",
                # eight clean steps: a median that one or two steps slowed by the machine (a page-fault
                # storm on a fresh VM, a preemption) does not move, as the fused-is-faster check needs
                "--warmup", "2", "--steps", "8", "--trace-steps", "2", "--out", str(out), "--json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout), out, env


def test_json_document_shape(traced):
    doc, _, _ = traced
    assert Path(doc["run_dir"]).is_dir() and Path(doc["trace"]).is_file()
    assert doc["status"] == "ok"
    by = {v["variant"]: v for v in doc["variants"]}
    assert set(by) == {"fused", "unfused"}
    for v in by.values():
        assert v["status"] == "ok" and v["scenario"] == "cudnn_lstm" and v["framework"] == "torch"
        assert 0 < v["step_ms"]["min"] <= v["step_ms"]["median"] <= v["step_ms"]["max"]
        bd = v["breakdown_ms"]
        assert set(bd) >= {"compute", "memory_io", "data_loading", "framework_overhead", "idle"}
        assert all(x >= 0 for x in bd.values())
        # closure: categories sum to the traced step time within 1 %
        assert abs(v["residual_pct"]) < 1.0
        assert sum(bd.values()) == pytest.approx(v["traced_step_ms"]["median"], rel=0.5)  # mean vs median
    # the fused kernel does far fewer dispatches and more of its time in compute
    assert by["unfused"]["breakdown_ms"]["framework_overhead"] > by["fused"]["breakdown_ms"]["framework_overhead"]
    assert doc["comparisons"] and doc["comparisons"][0]["fast"] == "torch/fused"


def test_chrome_trace_is_valid_and_complete(traced):
    doc, _, _ = traced
    trace = load_trace(doc["trace"])
    assert check_chrome_trace(trace) == []
    evs = trace["traceEvents"]
    procs = {e["args"]["name"] for e in evs if e.get("ph") == "M" and e["name"] == "process_name"}
    assert any("fused" in p for p in procs) and any("unfused" in p for p in procs)
    # Kineto's categories (HTA, TensorBoard read them); ours where Kineto has none, in args.category
    cats = {e.get("cat") for e in evs if e.get("ph") == "X"}
    assert {"cpu_op", "user_annotation"} <= cats
    assert any(e["name"].startswith("ProfilerStep#") for e in evs if e.get("ph") == "X")
    ours = {(e.get("args") or {}).get("category") for e in evs if e.get("ph") == "X"}
    assert {"phase", "warmup"} <= ours
    assert all(e["dur"] >= 0 for e in evs if e.get("ph") == "X")


def test_run_record_and_report_rerender(traced):
    from tests.conftest import run_cli

    doc, _, env = traced
    rec = json.loads((Path(doc["run_dir"]) / "run.json").read_text())
    assert rec["schema"] == "profiler/2"
    assert rec["host"]["cores"] >= 1 and "torch" in rec["versions"]
    assert rec["probes"]["torch"]["available"] is True
    v = rec["variants"][0]
    assert v["info"]["parameters"] > 0 and v["phases_ms"]["import"] > 0
    assert (Path(doc["run_dir"]) / v["events"]).is_file()
    r = run_cli("report", doc["run_dir"], env=env)
    assert r.returncode == 0, r.stderr
    flat = " ".join(r.stdout.split())
    # the comparison sentence: a winner, or — when the CI of the ratio contains 1 — no winner
    assert "framework overhead" in r.stdout and (
        "faster than torch/unfused" in flat or "and torch/unfused show no significant difference" in flat)
    r2 = run_cli("report", doc["run_dir"], "--reanalyse", "--json", env=env)
    assert r2.returncode == 0, r2.stderr
    again = json.loads(r2.stdout)
    for a, b in zip(again["variants"], doc["variants"], strict=True):
        assert a["breakdown_ms"] == pytest.approx(b["breakdown_ms"])
