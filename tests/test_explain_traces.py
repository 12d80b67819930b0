"""``profiler explain A B`` on traces other tools wrote (imported like ``report`` does), on run
directories, and on one of each: what it compares, every pair fast then slow, and warnings when the
two ran on different devices, world sizes or framework versions."""

from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

import pytest

from profiler.analysis.explain import context, context_warnings, explain
from profiler.core.categories import CATEGORIES

TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gpu-traces"
DIFF = TRACES / "hta-trace_diff"
CONTROL, TEST = DIFF / "control.json.gz", DIFF / "test.json.gz"

needs_traces = pytest.mark.skipif(not CONTROL.is_file() or not TEST.is_file(),
                                  reason=f"the real GPU traces are not here ({DIFF})")


def raw_step_mean_ms(path: Path) -> float:
    """The mean ``ProfilerStep#N`` duration, straight from the JSON (µs as written)."""
    doc = json.loads(gzip.decompress(path.read_bytes()))
    durs = [float(e["dur"]) for e in doc["traceEvents"]
            if e.get("ph") == "X" and str(e.get("name", "")).startswith("ProfilerStep#")]
    return statistics.fmean(durs) / 1e3


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """``explain control.json.gz test.json.gz --json``, run once for the module."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("runs")
    r = run_cli("explain", str(CONTROL), str(TEST), "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), out


@needs_traces
def test_two_trace_files_are_imported_and_explained(pair):
    e, out = pair
    # the A100 trace is the faster one; its times are the means of the traces' own steps
    assert e["fast"] == "torch/control.json.gz" and e["slow"] == "torch/test.json.gz"
    assert e["fast_ms"] == pytest.approx(raw_step_mean_ms(CONTROL), rel=1e-9)
    assert e["slow_ms"] == pytest.approx(raw_step_mean_ms(TEST), rel=1e-9)
    assert e["speedup"] == pytest.approx(e["slow_ms"] / e["fast_ms"])
    # what is compared: the mean of traced steps, uncompensated breakdowns, said for each side
    assert e["statistic"] == "mean" and "mean of traced steps" in e["sentence"]
    assert e["gap_basis"].startswith("traced")
    assert "traced steps" in e["compares"]["fast"] and "traced steps" in e["compares"]["slow"]
    # the categories of each side sum to its step (same steps, same statistic), and their
    # differences to the gap
    for side, ms in (("fast", e["fast_ms"]), ("slow", e["slow_ms"])):
        assert sum(v or 0.0 for v in e["category_ms"][side].values()) == pytest.approx(ms, rel=0.01)
    assert sum(e["category_delta_ms"].values()) == pytest.approx(e["slow_ms"] - e["fast_ms"], rel=0.01)
    # both were saved as runs, named in the document
    assert all(Path(e["runs"][k]).parent == out for k in "ab") and e["imported"]["a"] == str(CONTROL)


@needs_traces
def test_every_pair_is_fast_then_slow(pair):
    e, _ = pair
    fd, sd = e["dispatch"]["fast"], e["dispatch"]["slow"]
    assert fd["ops"] != sd["ops"]
    assert f"{fd['ops']:,.0f} vs {sd['ops']:,.0f} op dispatches per step" in e["sentence"]
    assert f"{fd['kernels']:,.0f} vs {sd['kernels']:,.0f} kernel launches per step" in e["sentence"]
    assert e["sentence"].index(f"{e['fast_ms']:.2f} vs {e['slow_ms']:.2f}") > 0
    assert list(e["top_op_deltas"][0]).index("calls_fast") < list(e["top_op_deltas"][0]).index("calls_slow")


@needs_traces
def test_the_a100_v100_pair_is_warned_about(pair):
    e, _ = pair
    w = " | ".join(e["warnings"])
    assert "device model: NVIDIA A100-PG509-200 (torch/control.json.gz) vs Tesla V100-SXM2-16GB" in w
    assert "world size: 8 (torch/control.json.gz) vs 2 (torch/test.json.gz)" in w


@pytest.mark.slow
@needs_traces
def test_text_says_what_it_compares_and_warns(cli, tmp_path):
    r = cli("explain", str(CONTROL), str(TEST), "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "fast: torch/control.json.gz: mean of 6 traced steps" in out
    assert "warning: different device model" in out and "warning: different world size" in out
    assert out.index("calls/step fast") < out.index("calls/step slow")
    assert "imported as" in out


@pytest.mark.slow
@needs_traces
def test_a_run_directory_against_a_trace_file(cli, tmp_path):
    r = cli("report", str(CONTROL), "--json", "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    run_dir = json.loads(r.stdout)["run_dir"]
    r = cli("explain", run_dir, str(TEST), "--json", "--out", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["runs"]["a"] == run_dir and e["imported"] == {"a": None, "b": str(TEST)}
    assert e["fast_ms"] == pytest.approx(raw_step_mean_ms(CONTROL), rel=1e-9)
    # its run.json works as well as its directory
    r = cli("explain", str(Path(run_dir) / "run.json"), run_dir, "--json", "--out", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
@needs_traces
def test_a_folder_that_is_not_one_job_is_one_line(cli, tmp_path):
    r = cli("explain", str(DIFF), str(TEST), "--out", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not the ranks of one job" in r.stderr and r.stderr.strip().count("\n") == 0


def _v(name, step, *, statistic="median", traced=None, compensated=False, **extra):
    ms = {c: 0.0 for c in CATEGORIES}
    ms["compute"] = step
    bd = {"ms": ms, "step_ms": step}
    if compensated:
        bd["compensation"] = {"removed_ms": 1.0}
    return {"framework": "torch", "variant": name, "status": "ok",
            "step_ms": {"median": step, "mean": step, "statistic": statistic, "n_steps": 8},
            "traced_step_ms": traced, "breakdown": bd, "top_ops": [], "dispatch": {}, **extra}


def test_clean_against_traced_is_said_and_warned():
    ours = _v("ours", 10.0, traced={"median": 12.0}, compensated=True)
    theirs = _v("theirs.json.gz", 11.0, statistic="mean", scenario="imported", imported={"format": "kineto-json"})
    e = explain(theirs, ours)
    assert e["fast"] == "torch/ours" and e["statistic"] == "median vs mean"
    assert "median of 8 clean steps" in e["compares"]["fast"] and "mean of 8 traced steps" in e["compares"]["slow"]
    assert "(10.00 vs 11.00 ms per step, median vs mean of clean vs traced steps)" in e["sentence"]
    assert any("clean, torch/theirs.json.gz's traced" in w for w in e["warnings"])
    assert any("different statistics (median vs mean)" in w for w in e["warnings"])


def test_context_of_our_runs_and_imported_traces():
    rec = {"kind": "trace", "versions": {"torch": "2.3.1"}, "host": {"cpu": "Xeon", "gpus": [{"name": "H100"}]}}
    a = context(rec, {"framework": "torch", "device": "cuda"})
    assert a == {"device": "cuda", "device_model": "H100", "world_size": 1, "framework": "torch",
                 "framework_version": "2.3.1"}
    imp = {"kind": "import", "versions": {"profiler": "0.1"}, "host": {"cpu": "recorded elsewhere"}}
    b = context(imp, {"framework": "torch", "device": "cuda", "imported": {
        "device_properties": [{"name": "A100"}, {"name": "A100"}], "distributed_info": {"world_size": 8}}})
    assert b["device_model"] == "A100" and b["world_size"] == 8 and b["framework_version"] is None
    w = context_warnings(a, b, ("a", "b"))
    assert [x.split(":")[0] for x in w] == ["different device model", "different world size"]
    older = dict(a, framework_version="2.1.0")
    assert context_warnings(a, older, ("a", "b")) == [
        "different framework version: 2.3.1 (a) vs 2.1.0 (b); the gap is not the code's alone"]
    # unknown on one side: nothing said; a CPU run against a GPU one: the device, not its model
    assert context_warnings(a, dict(a, world_size=None, device_model=None), ("a", "b")) == []
    cpu = context({"kind": "trace", "host": {"cpu": "Xeon"}}, {"framework": "torch", "device": "cpu"})
    assert [x.split(":")[0] for x in context_warnings(a, cpu, ("a", "b"))] == ["different device"]


def test_warnings_name_the_fast_side_first():
    from profiler.analysis.explain import explain_runs

    slow_rec = {"kind": "trace", "versions": {"torch": "2.1.0"}, "variants": [_v("old", 20.0)]}
    fast_rec = {"kind": "trace", "versions": {"torch": "2.3.1"}, "variants": [_v("new", 10.0)]}
    e = explain_runs(slow_rec, fast_rec)  # A is the slow one
    assert e["fast"] == "torch/new"
    assert e["warnings"] == ["different framework version: 2.3.1 (torch/new) vs 2.1.0 (torch/old); "
                             "the gap is not the code's alone"]
