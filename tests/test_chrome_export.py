"""Chrome trace export: validity, exact times, nesting repair, flows, and the --trace-budget."""

from __future__ import annotations

import json

import pytest

from profiler.core.events import DATA_LOADING, KERNEL, OP, RUNTIME, STEP, EventBuilder, device_tid
from profiler.export.chrome import ChromeTraceExporter
from profiler.export.chrome_check import check_chrome_trace, load_trace


def _table():
    b = EventBuilder()
    b.name_process(1, "worker one")
    b.span(STEP, "step 0", 1_000, 100_000, 1, 0, args={"index": 0, "traced": True})
    b.span(DATA_LOADING, "next", 1_000, 5_000, 1, 0)
    b.span(OP, "aten::linear", 10_001, 50_000, 1, 7, shapes="[[2, 3], [4, 3]]", flops=48.0)
    b.span(OP, "aten::addmm", 10_500, 40_000, 1, 7)
    b.span(OP, "overhang", 55_000, 20_000, 1, 7)  # starts inside linear, ends after it
    b.span(RUNTIME, "cudaLaunchKernel", 20_000, 1_000, 1, 7, corr=42)
    b.span(KERNEL, "sgemm", 30_000, 9_999, 1, device_tid(0, 7), corr=42)
    for i in range(100):
        b.counter("power W", 1_000 + i * 1_000, 100.0 + i, pid=1)
    for i in range(200):  # many short ops to drop first
        b.span(OP, "tiny", 60_000 + i * 100, 10 + i % 7, 1, 9)
    return b.build()


def test_trace_is_valid_exact_and_nested(tmp_path):
    p = ChromeTraceExporter(metadata={"run": "r"}).write(_table(), tmp_path / "t.json.gz")
    tr = load_trace(p)
    assert check_chrome_trace(tr) == []
    assert tr["otherData"]["run"] == "r"
    evs = tr["traceEvents"]
    x = {e["name"]: e for e in evs if e["ph"] == "X"}
    assert x["aten::linear"]["ts"] == pytest.approx(9.001) and x["aten::linear"]["dur"] == pytest.approx(50.0)
    assert x["aten::linear"]["args"] == {"flops": 48.0, "shapes": "[[2, 3], [4, 3]]"}
    assert x["step 0"]["args"] == {"index": 0, "traced": True}
    # "overhang" starts inside linear (10.001..60.001 µs) and ends after: cut at its parent's end
    assert x["overhang"]["args"]["clipped_ns"] == 15_000 - 1
    flows = [e for e in evs if e["ph"] in ("s", "f")]
    assert {e["ph"] for e in flows} == {"s", "f"} and all(e["id"] == 42 for e in flows)
    names = {e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {"worker one"}
    assert sum(e["ph"] == "C" for e in evs) == 100


def test_plain_json_is_written_uncompressed(tmp_path):
    p = ChromeTraceExporter().write(_table(), tmp_path / "t.json")
    assert json.loads(p.read_text())["traceEvents"]


def test_budget_downsamples_counters_and_drops_shortest_spans_first(tmp_path):
    full = ChromeTraceExporter().write(_table(), tmp_path / "full.json")
    size = len(full.read_bytes())
    ex = ChromeTraceExporter(budget_mb=size * 0.6 / 1e6)
    p = ex.write(_table(), tmp_path / "small.json")
    tr = load_trace(p)
    assert check_chrome_trace(tr) == []
    d = tr["otherData"]["trace_budget"]
    assert d == ex.dropped
    assert d["json_mb"] <= size * 0.6 / 1e6
    assert len(p.read_bytes()) <= size * 0.6 + 4096  # plus the metadata and the note itself
    assert d["counters_downsampled"]["every_kth"] >= 2
    assert d["dropped_spans"] > 0 and set(d["dropped_by_category"]) == {"op"}
    kept = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    names = {e["name"] for e in kept}
    # frames and the long ops survive; what went were the shortest ones
    assert {"step 0", "next", "aten::linear", "aten::addmm", "sgemm"} <= names
    dropped_max = d["dropped_up_to_us"]
    assert all(e["dur"] >= dropped_max for e in kept if e["name"] == "tiny")
    note = [e for e in tr["traceEvents"] if e.get("name") == "trace budget"]
    assert note and note[0]["args"]["dropped_spans"] == d["dropped_spans"]


def test_budget_larger_than_trace_drops_nothing(tmp_path):
    ex = ChromeTraceExporter(budget_mb=100)
    tr = load_trace(ex.write(_table(), tmp_path / "t.json"))
    assert ex.dropped["dropped_spans"] == 0
    assert not [e for e in tr["traceEvents"] if e.get("name") == "trace budget"]


def test_trace_budget_option_is_validated(cli, tmp_path):
    r = cli("trace", "--scenario", "synthetic", "--trace-budget", "0", "--out", str(tmp_path))
    assert r.returncode == 2 and "--trace-budget" in r.stderr
