"""torch.profiler (Kineto) Chrome JSON import and ``profiler report TRACE``, on a small trace recorded
here with ``export_chrome_trace`` (tests/data/kineto/record_cpu_trace.py) and a hand-built GPU one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.analysis.breakdown import breakdown, step_windows
from profiler.core.errors import InputError
from profiler.core.events import DATA_LOADING, KERNEL, OP, RUNTIME, STEP, SYNC
from profiler.importers import load_trace
from profiler.importers.kineto_json import load_kineto_json, read_kineto_json
from tests.conftest import DATA

CPU = DATA / "kineto" / "torch_cpu_small.json"
GPU = DATA / "kineto" / "gpu_handbuilt.json"


def test_cpu_trace_golden():
    t, facts = read_kineto_json(CPU)
    assert facts["steps_marked"] and facts["format"] == "kineto-json"
    steps = step_windows(t)
    assert [w.index for w in steps] == [1, 2, 3]
    assert sum(t.cat_mask(OP)) == 750 and sum(t.cat_mask(DATA_LOADING)) == 3
    shaped = [r for r in t.iter_spans(t.cat_mask(OP)) if r["name"] == "aten::mkldnn_convolution"]
    assert shaped[0]["shapes"] == "[[4, 3, 16, 16], [8, 3, 3, 3], [8], [], [], [], []]"
    assert json.loads(shaped[0]["args"]["concrete"])[3] == "[1, 1]"
    bd = breakdown(t)
    # recorded: each step waits ~2.1 ms of ~3.5-4.1 ms in the DataLoader's __next__ (a 2 ms sleep)
    assert 2.0 <= bd.ms["data_loading"] <= 2.3
    assert bd.input_bound["verdict"] == "highly input-bound"
    assert abs(bd.residual_pct) < 1e-9
    assert bd.ms["compute"] > 0 and bd.ms["memory_io"] > 0


def test_gpu_trace_maps_streams_and_correlation():
    t, facts = read_kineto_json(GPU)
    assert facts["device_properties"][0]["numSms"] == 108
    k = list(t.iter_spans(t.cat_mask(KERNEL)))
    assert len(k) == 6 and all(r["pid"] == facts["host_pid"] for r in k)
    assert k[0]["args"]["grid"] == [128, 1, 1]
    assert sum(t.cat_mask(SYNC)) == 2 and sum(t.cat_mask(RUNTIME)) == 6
    launches = {r["corr"] for r in t.iter_spans(t.cat_mask(RUNTIME))}
    assert {r["corr"] for r in k} <= launches
    assert t.threads[(facts["host_pid"], k[0]["tid"])] == "GPU 0 stream 7"


def test_trace_without_step_markers_is_one_step(tmp_path):
    doc = json.loads(CPU.read_text())
    doc["traceEvents"] = [e for e in doc["traceEvents"] if not e.get("name", "").startswith("ProfilerStep")]
    p = tmp_path / "nosteps.json"
    p.write_text(json.dumps(doc))
    t, facts = read_kineto_json(p)
    assert not facts["steps_marked"] and "one step" in facts["note"]
    steps = step_windows(t)
    assert len(steps) == 1 and sum(t.cat_mask(STEP)) == 1


@pytest.mark.parametrize(
    ("content", "msg"),
    [
        ("not json at all", "not valid JSON"),
        ('{"foo": 1}', "not a trace this profiler reads"),
        ('{"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "a", "ts": "x"}]}', "without a numeric ts"),
        ('{"schemaVersion": 1, "traceEvents": []}', "no complete"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, msg):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(InputError, match=msg):
        load_trace(p)


def test_missing_file():
    with pytest.raises(InputError, match="no such file"):
        load_kineto_json("/nonexistent/trace.json")


@pytest.mark.slow
def test_report_trace_cli_gives_run_dir_report_and_chrome_export(tmp_path, cli):
    env = {"PROFILER_CACHE_DIR": str(tmp_path / "cache")}
    r = cli("report", str(GPU), "--out", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "data loading" in out and "moderately input-bound" in out
    assert "idle split (HTA's, summed over streams)" in out  # the one idle split the report shows
    run_dir = next(p for p in tmp_path.iterdir() if p.name.endswith("import-gpu_handbuilt"))
    rec = json.loads((run_dir / "run.json").read_text())
    v = rec["variants"][0]
    # the fixture's known answers per step under HTA's rule: the 30 µs gap before a kernel launched
    # while the device ran is not shorter than 30 µs, so it is "other" (390 + 30), not kernel wait
    gaps = v["gpu"]["devices"]["0"]["idle_gaps_ms_per_step"]
    assert gaps == pytest.approx({"host_launch_bound": 0.140, "kernel_wait": 0.0, "other": 0.420})
    assert v["breakdown"]["ms"]["compute"] == pytest.approx(0.3)
    assert (run_dir / rec["trace"]).is_file() and (run_dir / "breakdown.png").is_file()
    # the saved import re-renders like any run
    r2 = cli("report", str(run_dir), "--json", env=env)
    assert r2.returncode == 0, r2.stderr
    assert json.loads(r2.stdout)["variants"][0]["breakdown_ms"]["idle"] == pytest.approx(0.485)


@pytest.mark.slow
def test_report_of_a_foreign_file_it_cannot_read(tmp_path, cli):
    p = tmp_path / "x.json"
    p.write_text("[1, 2")
    r = cli("report", str(p), "--out", str(tmp_path))
    assert r.returncode == 2 and r.stderr.startswith("profiler: error:") and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("path", "fmt", "framework"),
    [
        (DATA / "xspace" / "tiny_train.xplane.pb", "xspace", "tensorflow"),
        (DATA / "mxnet" / "mlp_train_profile.json", "mxnet-json", "mxnet"),
        (CPU, "kineto-json", "torch"),
    ],
)
def test_report_trace_dispatches_by_file_type(tmp_path, monkeypatch, path, fmt, framework):
    if not Path(path).exists():
        pytest.skip(f"{path.name}: fixture not present")
    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    from profiler.run.imported import import_as_run

    record, run = import_as_run(path, tmp_path)
    rec = record.to_dict()
    v = rec["variants"][0]
    assert rec["kind"] == "import" and v["imported"]["format"] == fmt and v["framework"] == framework
    bd = v["breakdown"]
    assert bd["n_steps"] >= 1 and abs(bd["residual_pct"]) < 1e-6
    assert (run.path / rec["trace"]).is_file()


def test_cpu_trace_data_loading_equals_the_recorded_waits():
    """Independent of the importer: read the DataLoader spans straight from the JSON."""
    doc = json.loads(CPU.read_text())
    evs = [e for e in doc["traceEvents"] if e.get("ph") == "X"]
    steps = [e for e in evs if e["name"].startswith("ProfilerStep#")]
    waits = [e for e in evs if e["name"].startswith("enumerate(DataLoader)")]
    step_ms = sum(e["dur"] for e in steps) / len(steps) / 1e3
    wait_ms = sum(e["dur"] for e in waits) / len(steps) / 1e3
    bd = breakdown(load_kineto_json(CPU))
    assert bd.ms["data_loading"] == pytest.approx(wait_ms, abs=1e-6)
    assert bd.step_ms == pytest.approx(step_ms, abs=1e-6)
    assert sum(bd.ms.values()) == pytest.approx(step_ms, abs=1e-6)


def test_cpu_trace_golden_breakdown_and_roofline():
    """Expected figures for the recorded trace (tests/data/kineto/torch_cpu_small.expected.json),
    compared within a tolerance, with fixed ceilings so the roofline split is reproducible."""
    from profiler.analysis.attribution import attributed_breakdown

    exp = json.loads((DATA / "kineto" / "torch_cpu_small.expected.json").read_text())
    t = load_kineto_json(CPU)
    bd, extra = attributed_breakdown(t, None, step_windows(t), "cpu", exp["calibration"])
    for c, v in exp["breakdown_ms"].items():
        assert bd.ms[c] == pytest.approx(v, abs=1e-6), c
    ops = {o["name"]: o for o in extra["roofline"]["ops"]}
    for name, o in exp["roofline"].items():
        assert ops[name]["gflop_per_step"] == pytest.approx(o["gflop_per_step"], rel=1e-9), name
        assert ops[name]["mb_per_step"] == pytest.approx(o["mb_per_step"], rel=1e-9), name
        assert ops[name]["bound"] == o["bound"], name


# ── two halves at once: the same table as one pass ─────────────────────────────────────────────


def _table_view(table, facts):
    """Everything a table says, with string ids resolved (each half numbers its strings itself)."""
    import numpy as np

    s = table.strings.strings
    sp = table.spans
    cols = {k: v.tolist() for k, v in sp.items() if k not in ("name", "shapes", "flops", "bytes")}
    cols["name"] = [s[i] for i in sp["name"].tolist()]
    cols["shapes"] = [s[i] if i >= 0 else None for i in sp["shapes"].tolist()]
    cols["flops"] = np.nan_to_num(sp["flops"], nan=-1.0).tolist()
    flows = {k: v.tolist() for k, v in table.flows.items() if k != "name"}
    flows["name"] = [s[i] for i in table.flows["name"].tolist()]
    return cols, flows, table.span_args, table.processes, table.threads, facts


def _tricky_events():
    """String pids first seen in either half (and named in the second), flows across the middle, a
    duplicate written on both sides of it, GPU activity and steps in both halves."""
    ev = [{"ph": "M", "name": "process_name", "pid": 7, "tid": 0, "args": {"name": "python"}}]
    ev.append({"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 7, "tid": 7, "ts": 0, "dur": 500})
    for i in range(40):
        t = 1 + i * 12
        ev.append({"ph": "X", "cat": "cpu_op", "name": f"aten::op{i % 3}", "pid": 7, "tid": 7, "ts": t, "dur": 5,
                   "args": {"Input Dims": [[i % 4, 2]], "Input type": ["float"]}})
        ev.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 7, "tid": 7, "ts": t + 1,
                   "dur": 2, "args": {"correlation": i}})
        ev.append({"ph": "X", "cat": "kernel", "name": f"k{i % 2}", "pid": 0, "tid": 7, "ts": t + 3, "dur": 4,
                   "args": {"device": 0, "stream": 7, "correlation": i, "grid": [1, 1, 1]}})
        ev.append({"ph": "s", "id": i, "pid": 7, "tid": 7, "ts": t + 1, "cat": "ac2g", "name": "ac2g"})
        ev.append({"ph": "f", "id": i, "pid": 0, "tid": 7, "ts": t + 3, "cat": "ac2g", "name": "ac2g", "bp": "e"})
        if i == 10:
            ev.append({"ph": "X", "cat": "cpu_op", "name": "spans op", "pid": "Spans", "tid": 1, "ts": t, "dur": 1})
    ev.append({"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#2", "pid": 7, "tid": 7, "ts": 500, "dur": 400})
    ev.append({"ph": "X", "cat": "cpu_op", "name": "traces op", "pid": "Traces", "tid": 1, "ts": 510, "dur": 1})
    ev.append({"ph": "M", "name": "process_name", "pid": "Traces", "tid": 0, "args": {"name": "named traces"}})
    return ev


@pytest.mark.parametrize("dup_at", [None, "cut"])
def test_halves_give_the_one_pass_table(tmp_path, dup_at):
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import parse_kineto

    ev = _tricky_events()
    if dup_at == "cut":  # the event before the middle written again, as the second half's first
        while ev[(len(ev) + 1) // 2 - 1]["ph"] != "X":
            ev.append({"ph": "X", "cat": "cpu_op", "name": "pad", "pid": 7, "tid": 9, "ts": 900 + len(ev), "dur": 1})
        mid = (len(ev) + 1) // 2
        ev.insert(mid, dict(ev[mid - 1]))
        assert len(ev) // 2 == mid
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": ev}))
    doc = read_chrome(p)
    one = parse_kineto(doc, str(p), halves=False)
    two = parse_kineto(doc, str(p), halves=True)
    assert _table_view(*two) == _table_view(*one)
    assert one[1].get("skipped_events", {}).get("duplicates") == (1 if dup_at else None)
    assert one[1]["flows"] == 40 and len(one[0]) >= 124  # 40 × (op, launch, kernel), 2 steps, 2 ops (+ pads)


@pytest.mark.parametrize("name", ["torch_cpu_small.json", "lstmcell_cpu.json.gz", "gpu_handbuilt.json"])
def test_halves_of_recorded_traces(name):
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import parse_kineto

    doc = read_chrome(DATA / "kineto" / name)
    assert _table_view(*parse_kineto(doc, name, halves=True)) == _table_view(*parse_kineto(doc, name, halves=False))


def test_a_bad_event_in_the_second_half_is_the_same_one_line_error(tmp_path):
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import parse_kineto

    for phase in ("X", "f"):  # a complete event, and a flow's end
        ev = _tricky_events()
        at = max(i for i, e in enumerate(ev) if e["ph"] == phase)
        ev[at] = dict(ev[at], ts=1e300)  # out of range
        p = tmp_path / "t.json"
        p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": ev}))
        doc = read_chrome(p)
        with pytest.raises(InputError) as one:
            parse_kineto(doc, "t", halves=False)
        with pytest.raises(InputError) as two:
            parse_kineto(doc, "t", halves=True)
        assert str(one.value) == str(two.value) and "\n" not in str(two.value) and "malformed trace event" in str(two.value)
