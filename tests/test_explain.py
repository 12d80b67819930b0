"""``profiler explain RUN_A RUN_B``: the wall-time gap split by category, ops and dispatch counts."""

from __future__ import annotations

import json

import pytest

from profiler.analysis import explain as explain_analysis
from profiler.analysis.breakdown import CATEGORIES
from profiler.core.errors import InputError
from profiler.core.record import SCHEMA, RunRecord
from profiler.core.rundir import RunDir


def _variant(variant, step, ms, ops, dispatch):
    return {
        "framework": "torch",
        "variant": variant,
        "status": "ok",
        "step_ms": {"median": step},
        "breakdown": {"ms": {c: ms.get(c, 0.0) for c in CATEGORIES}, "step_ms": sum(ms.values())},
        "top_ops": ops,
        "dispatch": dispatch,
    }


def _run(root, label, variants):
    run = RunDir.create(root, label)
    run.write_record(RunRecord.from_dict(
        {"schema": SCHEMA, "id": run.path.name, "kind": "trace", "variants": variants, "scenario": {"name": label}}
    ))
    return run.path


@pytest.fixture
def runs(tmp_path):
    fused = _variant(
        "fused",
        10.0,
        {"compute": 8.0, "memory_io": 1.0, "framework_overhead": 1.0},
        [{"name": "aten::lstm", "where": "host", "self_ms_per_step": 8.0, "calls_per_step": 1}],
        {"ops": 200, "kernels": 0},
    )
    unfused = _variant(
        "unfused",
        45.0,
        {"compute": 10.0, "memory_io": 10.0, "framework_overhead": 25.0},
        [
            {"name": "aten::addmm", "where": "host", "self_ms_per_step": 10.0, "calls_per_step": 100},
            {"name": "aten::sigmoid", "where": "host", "self_ms_per_step": 6.0, "calls_per_step": 300},
        ],
        {"ops": 12800, "kernels": 0},
    )
    return _run(tmp_path, "a", [fused]), _run(tmp_path, "b", [unfused, fused])


def explain_runs(a, b, variant_a=None, variant_b=None):
    """What ``profiler explain A B`` computes: the records loaded, then the pure analysis."""
    ra, rb = RunDir.open(a), RunDir.open(b)
    return explain_analysis.explain_runs(ra.read_record().to_dict(), rb.read_record().to_dict(), variant_a,
                                         variant_b, (str(a), str(b)))


def test_gap_split_by_category_and_ops(runs):
    a, b = runs
    e = explain_runs(a, b, variant_b="torch/unfused")
    assert e["fast"].startswith("torch/fused") and e["slow"] == "torch/unfused"
    assert e["gap_ms"] == pytest.approx(35.0) and e["speedup"] == pytest.approx(4.5)
    assert e["category_delta_ms"]["framework_overhead"] == pytest.approx(24.0)
    assert sum(e["category_delta_ms"].values()) == pytest.approx(e["traced_gap_ms"])
    assert e["category_share_pct"]["framework_overhead"] == pytest.approx(100 * 24 / 35)
    assert e["main_category"] == "framework_overhead"
    assert e["top_op_deltas"][0]["name"] == "aten::addmm"
    assert "200 vs 12,800 op dispatches per step" in e["sentence"]  # fast first, as the times
    assert "69% of the gap is framework overhead" in e["sentence"]


def test_default_picks_the_fastest_variant_and_same_labels_are_told_apart(runs):
    a, b = runs
    e = explain_runs(a, b)  # both default to their fastest: fused vs fused
    assert e["fast"] != e["slow"] and "(" in e["fast"]


def test_bad_input(runs, tmp_path):
    a, _ = runs
    with pytest.raises(InputError, match="no such run directory"):
        explain_runs(a, tmp_path / "missing")
    with pytest.raises(InputError, match="no ok variant"):
        explain_runs(a, a, variant_b="torch/nope")


@pytest.mark.slow
def test_cli(runs, cli):
    a, b = runs
    r = cli("explain", str(a), str(b), "--variant-b", "unfused")
    assert r.returncode == 0, r.stderr
    assert "framework overhead" in r.stdout and "aten::addmm" in r.stdout
    j = cli("explain", str(a), str(b), "--variant-b", "unfused", "--json")
    assert json.loads(j.stdout)["main_category"] == "framework_overhead"
    bad = cli("explain", str(a), "/nonexistent")
    assert bad.returncode == 2 and bad.stderr.startswith("profiler: error:")


@pytest.mark.slow
def test_explain_carries_the_ratio_ci_and_verdict(tmp_path, cli):
    """explain's comparison has the same ratio_ci95 and verdict as trace's and compare's."""
    import random

    def with_steps(v, centre):
        rng = random.Random(centre)
        v = dict(v)
        v["repeats"] = {"processes": [
            {"status": "ok", "step_ms": [centre * (1 + 0.02 * rng.uniform(-1, 1)) for _ in range(8)]}
            for _ in range(3)
        ]}
        return v

    ms = {"compute": 8.0, "framework_overhead": 2.0}
    fast = with_steps(_variant("fused", 10.0, ms, [], {"ops": 200}), 10.0)
    slow = with_steps(_variant("unfused", 11.0, ms, [], {"ops": 300}), 11.0)
    same = with_steps(_variant("unfused", 10.0, ms, [], {"ops": 300}), 10.0)
    a, b, c = _run(tmp_path, "a", [fast]), _run(tmp_path, "b", [slow]), _run(tmp_path, "c", [same])
    j = json.loads(cli("explain", str(a), str(b), "--json").stdout)
    assert j["verdict"] == "faster" and j["ratio_ci95"][0] > 1.0 > 0.0, j
    assert "95% CI" in j["sentence"]
    k = json.loads(cli("explain", str(a), str(c), "--json").stdout)
    assert k["verdict"] == "no significant difference" and k["ratio_ci95"][0] <= 1.0 <= k["ratio_ci95"][1], k


@pytest.mark.parametrize("name", ["e.md", "e.html", "e.json", "e.csv", "e.txt"])
def test_explain_writes_the_format_its_output_file_names(runs, tmp_path, name):
    from click.testing import CliRunner

    from profiler.cli.main import cli

    a, b = runs
    out = tmp_path / name
    r = CliRunner().invoke(cli, ["explain", str(a), str(b), "--variant-b", "unfused", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    e = explain_runs(a, b, variant_b="unfused")
    fo = f"{e['category_delta_ms']['framework_overhead']:+.3f}"  # the gap's largest part, as every format writes it
    if name.endswith(".json"):
        doc = json.loads(text)
        assert doc["kind"] == "explain" and doc["main_category"] == "framework_overhead"
        assert doc["category_delta_ms"] == pytest.approx(e["category_delta_ms"])
    elif name.endswith(".csv"):
        assert text.splitlines()[0] == "table,row,column,value"
        assert f"gap,4,Δ ms/step,{fo}" in text and "ops,0,op,aten::addmm" in text
    else:
        assert e["sentence"] in " ".join(text.split()) or e["sentence"][:60] in text
        assert fo in text and "aten::addmm" in text
        if name.endswith(".md"):
            assert f"| framework overhead | 1.000 | 25.000 | {fo} |" in text
        if name.endswith(".html"):
            assert text.startswith("<!doctype html>") and 'data-table="gap"' in text and "http" not in text


def test_one_process_a_side_names_its_interval_within_run_not_ci():
    from profiler.analysis.explain import with_verdict
    from profiler.report.summary import verdict_line

    def v(variant, centre, procs):
        return {"framework": "torch", "variant": variant, "repeats": {"processes": [
            {"status": "ok", "step_ms": [centre * (1 + 0.01 * (i % 3)) for i in range(9)]} for _ in range(procs)]}}

    for procs, name, short in ((1, "within-run 95% interval", "within-run"), (3, "95% CI", "CI")):
        e = {"fast": "torch/fused", "slow": "torch/unfused", "speedup": 2.0,
             "sentence": "torch/fused is 2.00× faster than torch/unfused; the gap ..."}
        out = with_verdict(e, v("fused", 10.0, procs), v("unfused", 20.0, procs))
        assert out["ratio_ci_processes"] == procs and out["verdict"] == "faster"
        assert f"({name} " in out["sentence"], out["sentence"]
        assert f"2.00× faster ({short} " in verdict_line(out)
    # a stored comparison without the count (an older run) keeps its "CI"
    assert "(CI 1.20–1.90)" in verdict_line({"fast": "a/b", "slow": "c/d", "speedup": 1.5, "ratio_ci95": [1.2, 1.9]})
