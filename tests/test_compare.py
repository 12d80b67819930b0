"""``profiler compare``: framework selection, rows in the seed's layout, findings, outputs, CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from profiler.analysis.compare import (
    Unavailable,
    compare_result,
    compare_rows,
    param_findings,
    spread_sentence,
)
from profiler.core.errors import InputError
from profiler.core.registry import builtin_scenarios
from profiler.export.compare import CSV_COLUMNS, to_csv, write_outputs
from profiler.report.compare import CompareTable
from profiler.run.compare import select_frameworks
from tests.conftest import have, needs_torch

CATS = ("data_loading", "communication", "memory_io", "compute", "framework_overhead", "idle")


def _variant(fw: str, variant: str, step: float, params: int | None, bd: dict[str, float] | None,
             status: str = "ok", error: str | None = None) -> dict[str, Any]:  # fmt: skip
    v: dict[str, Any] = {"framework": fw, "variant": variant, "status": status, "error": error}
    if status != "ok":
        return v
    v["step_ms"] = {"median": step, "min": step, "max": step, "spread_pct": 0.0, "n": 3}
    v["items_per_step"] = 32
    v["per_unit_ms"] = step * 1000 / 32
    v["info"] = {"parameters": params} if params is not None else {}
    if bd is not None:
        ms = {c: bd.get(c, 0.0) for c in CATS}
        v["breakdown"] = {"ms": ms, "step_ms": sum(ms.values())}
        v["traced_step_ms"] = {"median": sum(ms.values())}
        v["top_ops"] = []
        v["dispatch"] = {}
    return v


def _record(variants: list[dict[str, Any]], unit: str = "1000 images") -> dict[str, Any]:
    sc = builtin_scenarios()["resnet50_infer"].to_dict()
    sc["unit"] = unit
    return {
        "scenario": sc,
        "settings": {"mode": "infer", "preset": "cpu", "data": "ram", "device": "cpu",
                     "params": {"batch": 32, "image_size": 64, "expected_params": 23_508_032},
                     "steps": 3, "warmup": 1, "trace_steps": 1, "threads": 2},
        "variants": variants,
    }  # fmt: skip


# ------------------------------------------------------------------------------------ selection
def test_select_frameworks() -> None:
    sc = builtin_scenarios()["resnet50_infer"]
    assert select_frameworks(sc, "all") == (list(sc.frameworks), [])
    assert select_frameworks(sc, None)[0] == ["torch", "tensorflow", "keras", "mxnet", "chainer"]
    run, skipped = select_frameworks(sc, "mxnet, torch,torch,cntk")
    assert run == ["mxnet", "torch"]
    assert [u.framework for u in skipped] == ["cntk"] and "Python 3.11" in skipped[0].reason
    with pytest.raises(InputError, match=r"unknown framework 'pytorch'; valid: .*torch") as e:
        select_frameworks(sc, "torch,pytorch")
    for fw in ("tensorflow", "keras", "mxnet", "chainer"):
        assert fw in str(e.value)
    with pytest.raises(InputError, match="has no numba implementation"):
        select_frameworks(sc, "numba")
    with pytest.raises(InputError, match="cannot be combined"):
        select_frameworks(sc, "all,torch")


# ------------------------------------------------------------------------------------------ rows
def test_rows_headline_breakdown_and_params() -> None:
    rec = _record(
        [
            _variant("mxnet", "imperative", 200.0, 23_526_912, {"compute": 150.0, "framework_overhead": 50.0}),
            _variant("torch", "default", 100.0, 23_508_032, {"compute": 80.0, "memory_io": 20.0}),
            _variant("keras", "default", 0, None, None, status="failed",
                     error="RuntimeError: boom\nTraceback (most recent call last):"),
        ]
    )  # fmt: skip
    rows = compare_rows(rec, [Unavailable("cntk", "no build")])
    assert [r["framework"] for r in rows] == ["torch", "keras", "mxnet", "cntk"]  # declaration order
    t = rows[0]
    assert t["display"] == "PyTorch"
    assert t["headline_s"] == pytest.approx(100.0 / 32)  # s per 1000 images at 32 images per step
    assert t["items_per_s"] == pytest.approx(320.0)
    assert t["compute_pct"] == pytest.approx(80.0) and t["memory_io_pct"] == pytest.approx(20.0)
    assert t["param_delta_pct"] == 0
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "RuntimeError: boom"
    assert rows[2]["param_delta_pct"] == pytest.approx(100 * (23_526_912 - 23_508_032) / 23_508_032)
    assert rows[3]["status"] == "unavailable" and rows[3]["error"] == "unavailable: no build"
    assert all(tuple(r) == CSV_COLUMNS for r in rows)

    per_step = compare_rows(_record([_variant("torch", "default", 250.0, 1, None)], unit="step"))
    assert per_step[0]["headline_s"] == pytest.approx(0.25)
    assert per_step[0]["compute_pct"] is None


def test_param_findings_report_beyond_two_percent() -> None:
    rows = compare_rows(
        _record(
            [
                _variant("torch", "default", 10, 23_508_032, None),
                _variant("keras", "default", 10, 23_534_592, None),  # +0.11 %: same network
                _variant("chainer", "default", 10, 25_557_032, None),  # full model: +8.7 %
                _variant("mxnet", "hybridized", 10, None, None),
            ]
        )
    )
    f = param_findings(rows)
    assert len(f) == 2
    assert "Chainer/default has 25,557,032 parameters, +8.7%" in f[0]
    assert "MXNet(Gluon)/hybridized did not report" in f[1]
    no_decl = [{**r, "expected_parameters": None} for r in rows[:3]]
    assert len(param_findings(no_decl)) == 1  # against the first framework's count instead


def test_spread_sentence_names_the_category() -> None:
    rec = _record(
        [
            _variant("torch", "default", 100.0, 1, {"compute": 80.0, "framework_overhead": 20.0}),
            _variant("tensorflow", "default", 300.0, 1, {"compute": 90.0, "framework_overhead": 200.0}),
            _variant("mxnet", "hybridized", 150.0, 1, {"compute": 100.0, "framework_overhead": 50.0}),
        ]
    )
    s = spread_sentence(rec)
    assert s.startswith("PyTorch/default is fastest and TensorFlow/default slowest (3.00×")
    assert "95% of the traced gap is framework overhead" in s and "then compute" in s
    one = _record(
        [_variant("torch", "default", 100.0, 1, None), _variant("keras", "default", 0, None, None, "failed")]
    )
    assert spread_sentence(one).startswith("Only PyTorch/default completed")
    assert "no traced breakdown" in spread_sentence(
        _record([_variant("torch", "default", 1.0, 1, None), _variant("keras", "default", 2.0, 1, None)])
    )


# --------------------------------------------------------------------------------------- outputs
def test_outputs_csv_json_png_and_table(tmp_path: Path) -> None:
    rec = _record(
        [
            _variant("torch", "default", 100.0, 23_508_032, {"compute": 80.0, "memory_io": 20.0}),
            _variant("keras", "default", 0, None, None, status="failed", error="ValueError: bad"),
        ]
    )
    res = compare_result(rec, [Unavailable("cntk", "CNTK has no build")])
    parsed = list(csv.DictReader(io.StringIO(to_csv(res))))
    assert [r["framework"] for r in parsed] == ["torch", "keras", "cntk"]
    assert float(parsed[0]["headline_s"]) == pytest.approx(3.125)
    assert parsed[1]["headline_s"] == ""
    files = write_outputs(res, tmp_path)
    assert json.loads((tmp_path / files["json"]).read_text())["rows"][0]["framework"] == "torch"
    if have("matplotlib"):
        assert (tmp_path / files["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    buf = io.StringIO()
    Console(file=buf, width=80, color_system=None).print(CompareTable(res, str(tmp_path)))
    text = buf.getvalue()
    assert "s / 1000 images" in text and "3.125" in text and "23.51 M" in text
    assert "failed: ValueError: bad" in text and "unavailable: CNTK has no build" in text
    assert "Only PyTorch/default completed" in text


# -------------------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_unknown_framework_exits_2_listing_known(cli, tmp_path: Path) -> None:
    r = cli("compare", "--scenario", "resnet50_infer", "--frameworks", "torch,caffe2", "--out", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unknown framework 'caffe2'" in r.stderr
    for fw in ("torch", "tensorflow", "keras", "mxnet", "chainer"):
        assert fw in r.stderr
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


SCENARIO_FILE = """
from profiler.core.scenario import Implementation, Scenario, Variant

SCENARIO = Scenario(
    name="cmp_tiny",
    summary="one framework works, one fails in build",
    implementations=(
        Implementation("python", (Variant("default", "a sum"),)),
        Implementation("numba", (Variant("default", "fails"),)),
    ),
    presets={"cpu": {"batch": 8, "expected_params": 3, "warmup": 1, "steps": 3, "trace_steps": 1}},
    modes=("infer",),
    default_mode="infer",
    unit="1000 images",
)


class W:
    info = {"parameters": 3}

    def step(self):
        sum(range(2000))


def build(ctx):
    if ctx.spec.framework == "numba":
        raise RuntimeError("no kernel for this\\nsecond line")
    return W()
"""


@pytest.mark.slow
def test_cli_failed_worker_row_others_still_run(cli, tmp_path: Path) -> None:
    f = tmp_path / "cmp_tiny.py"
    f.write_text(textwrap.dedent(SCENARIO_FILE))
    r = cli("compare", "-s", str(f), "--frameworks", "numba,python,cntk", "--probes", "process",
            "--out", str(tmp_path / "runs"), "--json", timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {row["framework"]: row for row in doc["rows"]}
    assert doc["settings"]["threads"] == len(os.sched_getaffinity(0))  # the same explicit count for all
    assert rows["python"]["status"] == "ok" and rows["python"]["headline_s"] > 0
    assert rows["numba"]["status"] == "failed"
    assert rows["numba"]["error"] == "RuntimeError: no kernel for this"
    assert rows["cntk"]["status"] == "unavailable" and rows["cntk"]["error"].startswith("unavailable: CNTK")
    run = Path(doc["run_dir"])
    for name in ("compare.csv", "compare.json", "run.json"):
        assert (run / name).is_file()
    rec = json.loads((run / "run.json").read_text())
    assert rec["kind"] == "compare" and rec["compare"]["spread"] == doc["spread"]
    rep = cli("report", str(run))  # a saved comparison re-renders with its table
    assert rep.returncode == 0, rep.stderr
    assert "unavailable: CNTK" in rep.stdout and "failed: RuntimeError: no kernel for this" in rep.stdout


@needs_torch
@pytest.mark.slow
def test_cli_compare_torch_disk_end_to_end(cli, tmp_path: Path) -> None:
    """A real torch workload through workers, disk mode: loader spans reach the trace."""
    r = cli("compare", "-s", "fcn5_infer", "--frameworks", "torch", "--preset", "mnist_cpu", "--data", "disk",
            "--steps", "2", "--threads", "1", "--out", str(tmp_path / "runs"), "--json",
            env={"PROFILER_DATA_DIR": str(tmp_path / "ds")}, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    row = doc["rows"][0]
    assert row["status"] == "ok" and row["parameters"] == 14_205_962 and row["param_delta_pct"] == 0
    assert row["data_loading_ms"] is not None
    assert doc["settings"]["data"] == "disk" and doc["unit"] == "step" and doc["settings"]["threads"] == 1
    run = Path(doc["run_dir"])
    rec = json.loads((run / "run.json").read_text())
    info = rec["variants"][0]["info"]
    assert info["data"] == "disk" and info["loader_spans"] > 0 and info["epochs"] >= 1
    from profiler.core.events import EventTable

    ev = EventTable.load(run / rec["variants"][0]["events"])
    pid = rec["variants"][0]["pid"]
    names = {(s["pid"] == pid, s["name"]) for s in ev.iter_spans(ev.cat_mask("data_loading"))}
    assert (True, "next_batch (disk)") in names and (False, "decode") in names
    assert any(n.startswith("DataLoader worker") for n in ev.processes.values())


def test_spread_sentence_speaks_of_the_clean_gap_when_compensated() -> None:
    vs = [
        _variant("torch", "default", 100.0, 1, {"compute": 80.0, "framework_overhead": 20.0}),
        _variant("tensorflow", "default", 300.0, 1, {"compute": 90.0, "framework_overhead": 210.0}),
    ]
    for v in vs:  # compensated breakdowns sum to the clean medians
        v["breakdown"]["compensation"] = {"residual_pct": 0.0}
    s = spread_sentence(_record(vs))
    assert "95% of the clean gap is framework overhead (+190.0 ms/step)" in s, s
