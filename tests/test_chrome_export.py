"""Chrome trace export: validity, exact times, nesting repair, flows, and the --trace-budget."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from profiler.core.events import (
    DATA_LOADING,
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    OP,
    RUNTIME,
    STEP,
    EventBuilder,
    device_tid,
)
from profiler.export.chrome import KINETO_CAT, ChromeTraceExporter
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
    assert x["aten::linear"]["args"] == {"flops": 48.0, "Input Dims": [[2, 3], [4, 3]], "External id": 1}
    assert x["ProfilerStep#0"]["args"] == {"index": 0, "traced": True}
    # "overhang" starts inside linear (10.001..60.001 µs) and ends after: cut at its parent's end
    assert x["overhang"]["args"]["clipped_ns"] == 15_000 - 1
    flows = [e for e in evs if e["ph"] in ("s", "f")]
    assert {e["ph"] for e in flows} == {"s", "f"} and all(e["id"] == 42 and e["cat"] == "ac2g" for e in flows)
    assert [e.get("bp") for e in flows if e["ph"] == "f"] == ["e"]
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
    assert {"ProfilerStep#0", "next", "aten::linear", "aten::addmm", "sgemm"} <= names
    dropped_max = d["dropped_up_to_us"]
    assert all(e["dur"] >= dropped_max for e in kept if e["name"] == "tiny")
    note = [e for e in tr["traceEvents"] if e.get("name") == "trace budget"]
    assert note and note[0]["args"]["dropped_spans"] == d["dropped_spans"]


def test_budget_larger_than_trace_drops_nothing(tmp_path):
    ex = ChromeTraceExporter(budget_mb=100)
    tr = load_trace(ex.write(_table(), tmp_path / "t.json"))
    assert ex.dropped["dropped_spans"] == 0
    assert not [e for e in tr["traceEvents"] if e.get("name") == "trace budget"]


@pytest.mark.slow
def test_trace_budget_option_is_validated(cli, tmp_path):
    r = cli("trace", "--scenario", "synthetic", "--trace-budget", "0", "--out", str(tmp_path))
    assert r.returncode == 2 and "--trace-budget" in r.stderr


def test_kineto_categories_ids_and_device_args(tmp_path):
    tr = load_trace(ChromeTraceExporter().write(_table(), tmp_path / "t.json"))
    x = {e["name"]: e for e in tr["traceEvents"] if e["ph"] == "X"}
    assert x["ProfilerStep#0"]["cat"] == "user_annotation"
    assert x["aten::linear"]["cat"] == "cpu_op" and x["cudaLaunchKernel"]["cat"] == "cuda_runtime"
    assert x["sgemm"]["cat"] == "kernel"
    # the launch lies inside addmm (inside linear): it takes the innermost op's External id, the
    # kernel its launch's; device activities say their device and stream
    assert x["cudaLaunchKernel"]["args"]["External id"] == x["aten::addmm"]["args"]["External id"] == 2
    assert x["sgemm"]["args"] == {"correlation": 42, "External id": 2, "device": 0, "stream": 7}
    # a data-loading span without the DataLoader's name: Kineto's cat cannot say it, args do
    assert x["next"]["cat"] == "user_annotation" and x["next"]["args"]["category"] == "data_loading"
    assert tr["schemaVersion"] == 1


def _breakdown(t, facts):
    from profiler.analysis.breakdown import breakdown, step_windows

    return breakdown(t, facts["host_pid"], step_windows(t))


@pytest.mark.parametrize("name", ["torch_cpu_small.json", "gpu_handbuilt.json"])
def test_imported_trace_round_trips_with_flows_names_and_breakdown(tmp_path, name):
    from profiler.importers.kineto_json import read_kineto_json
    from tests.conftest import DATA

    t, facts = read_kineto_json(DATA / "kineto" / name)
    ex = ChromeTraceExporter(device_properties=facts.get("device_properties"))
    out = ex.write(t, tmp_path / "rt.json.gz")
    assert check_chrome_trace(load_trace(out)) == []
    u, f2 = read_kineto_json(out)
    # the recorded flows (45 fwdbwd arrows in the CPU trace) or the launch arrows drawn from
    # correlation ids (3 per step in the GPU one) are read back, and a second pass keeps them
    n = len(t.flows["id"]) or int(t.cat_mask(KERNEL).sum())
    assert ex.n_flows == len(u.flows["id"]) == n > 0
    ex2 = ChromeTraceExporter()
    ex2.write(u, tmp_path / "rt2.json")
    assert ex2.n_flows == n
    assert u.n_spans == t.n_spans and set(u.processes.values()) == set(t.processes.values())
    b1, b2 = _breakdown(t, facts), _breakdown(u, f2)
    assert b1.n_steps == b2.n_steps > 0
    assert b2.ms == pytest.approx(b1.ms, abs=1e-6)
    dev = lambda x: np.sort(x.spans["tid"][x.spans["tid"] >= DEVICE_TID_BASE])  # noqa: E731
    assert (dev(u) == dev(t)).all()  # device streams filed alike
    if name == "torch_cpu_small.json":
        assert "Spans" in u.processes.values()  # Kineto's string pid keeps its name
    else:
        assert f2["device_properties"] == facts["device_properties"]


def test_our_categories_survive_our_importer(tmp_path):
    from profiler.core.events import PHASE, WARMUP
    from profiler.importers.kineto_json import read_kineto_json

    b = EventBuilder()
    b.span(PHASE, "measure", 0, 1_000_000, 5, 1)
    b.span(WARMUP, "warmup 0", 0, 100_000, 5, 1, args={"index": 0})
    b.span(STEP, "step 0", 100_000, 100_000, 5, 1, args={"index": 0, "traced": False})
    b.span(STEP, "step 1", 200_000, 100_000, 5, 1, args={"index": 1, "traced": True})
    b.span(OP, "aten::mm", 210_000, 50_000, 5, 1, shapes="[[2, 2]]")
    t, _ = read_kineto_json(ChromeTraceExporter().write(b.build(), tmp_path / "t.json"))
    got = sorted((r["cat"], r["name"], r["args"].get("traced")) for r in t.iter_spans())
    assert got == [("op", "aten::mm", None), ("phase", "measure", None), ("step", "ProfilerStep#1", True),
                   ("step", "step 0", False), ("warmup", "warmup 0", None)]
    assert t.strings[int(t.spans["shapes"][t.cat_mask(OP)][0])] == "[[2, 2]]"


def _perfetto():
    import shutil
    import subprocess
    from pathlib import Path

    tool = Path(__file__).resolve().parents[2] / "shared" / "tools" / "perfetto" / "check_trace.mjs"
    if not shutil.which("node") or not tool.exists():
        pytest.skip("Perfetto's trace processor (node + check_trace.mjs) is not available here")

    def check(path):
        r = subprocess.run(["node", str(tool), str(path)], capture_output=True, text=True, timeout=120)
        doc = json.loads(r.stdout)
        if any("engine failed to start" in e for e in doc.get("errors", [])):
            pytest.skip(f"Perfetto's trace processor did not start: {doc['errors'][0]}")
        return doc

    return check


@pytest.mark.slow
def test_perfetto_accepts_the_export_and_counts_its_flows(tmp_path):
    from profiler.importers.kineto_json import read_kineto_json
    from tests.conftest import DATA

    check = _perfetto()
    t, _ = read_kineto_json(DATA / "kineto" / "torch_cpu_small.json")
    ex = ChromeTraceExporter()
    doc = check(ex.write(t, tmp_path / "t.json.gz"))
    assert doc["ok"] and doc["errors"] == []
    assert doc["flows"] == ex.n_flows == 45
    assert doc["slices"] == t.n_spans
    g = ChromeTraceExporter()
    doc = check(g.write(_table(), tmp_path / "g.json"))
    assert doc["ok"] and doc["flows"] == g.n_flows == 1


HTA_PARSE = """
import json, sys
from hta.trace_analysis import TraceAnalysis
# HTA drops the last ProfilerStep by default (often cut short in its own recordings): ours are whole
ta = TraceAnalysis(trace_dir=sys.argv[1], include_last_profiler_step=True)
df = ta.t.get_trace(0)
names = ta.t.symbol_table.get_sym_table()
cats = df["cat"].map(lambda i: names[i]).value_counts().to_dict() if "cat" in df else {}
print(json.dumps({"events": len(df), "cats": cats}))
"""


#: every category our export writes (Kineto's names), plus the flow and instant categories HTA lists
KINETO_NAMES = {*KINETO_CAT.values(), "gpu_user_annotation", "ac2g", "fwdbwd", "Trace", "trace budget"}


@pytest.mark.slow
def test_hta_parses_the_export(tmp_path):
    """HolisticTraceAnalysis, run in an interpreter of its own, reads our export of a Kineto trace
    whole: every span, under Kineto's category names."""
    from tests.conftest import DATA, hta_python

    py = hta_python()
    if py is None:
        pytest.skip("HolisticTraceAnalysis is not installed: it needs numpy >= 2, this environment keeps numpy "
                    "< 2 for MXNet; scripts/bootstrap.sh builds .venv-hta for it (or set PROFILER_HTA_PYTHON)")
    from profiler.importers.kineto_json import read_kineto_json

    for name in ("gpu_handbuilt.json", "torch_cpu_small.json"):
        t, facts = read_kineto_json(DATA / "kineto" / name)
        d = tmp_path / name.split(".")[0]
        d.mkdir()
        ChromeTraceExporter(device_properties=facts.get("device_properties"),
                            distributed_info={"rank": 0, "world_size": 1}).write(t, d / "rank0.json")
        r = subprocess.run([py, "-c", HTA_PARSE, str(d)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr.strip().splitlines()[-3:]
        doc = json.loads(r.stdout.strip().splitlines()[-1])
        assert doc["events"] == t.n_spans, (name, doc)
        assert set(doc["cats"]) <= KINETO_NAMES and "cpu_op" in doc["cats"], doc["cats"]


def _large_table(steps=100, ops=300):
    """Many steps of equal-length ops (ties everywhere), launches, kernels and memcpys."""
    b = EventBuilder()
    b.name_process(1, "worker")
    step_ns = 1_000_000
    for s in range(steps):
        t0 = s * step_ns
        b.span(STEP, f"step {s}", t0, step_ns, 1, 0, args={"index": s, "traced": True})
        for i in range(ops):
            b.span(OP, "aten::add", t0 + 1_000 + i * 3_000, 2_000 + (i % 3) * 100, 1, 0)
        for i in range(20):
            b.span(RUNTIME, "cudaLaunchKernel", t0 + 1_100 + i * 30_000, 500, 1, 0, corr=s * 100 + i)
            b.span(KERNEL, "k", t0 + 2_000 + i * 30_000, 5_000 + i, 1, device_tid(0, 7), corr=s * 100 + i)
        for i in range(5):
            b.span(MEMCPY, "Memcpy HtoD", t0 + 600_000 + i * 10_000, 3_000, 1, device_tid(0, 8))
    return b.build()


def test_budget_keeps_ops_and_kernels_in_every_step(tmp_path):
    from profiler.importers.kineto_json import read_kineto_json

    t = _large_table()
    full = ChromeTraceExporter().write(t, tmp_path / "full.json")
    size = len(full.read_bytes())
    ex = ChromeTraceExporter(budget_mb=size * 0.2 / 1e6)
    p = ex.write(t, tmp_path / "small.json")
    assert len(p.read_bytes()) <= size * 0.2 + 64_000  # the metadata and the notes on top
    tr = load_trace(p)
    assert check_chrome_trace(tr) == []
    d = tr["otherData"]["trace_budget"]
    assert d["steps"] == d["steps_with_ops"] == 100 and d["min_ops_per_step"] >= 1
    assert set(d["dropped_by_category"]) >= {"op"}
    u, _ = read_kineto_json(p)
    from profiler.analysis.breakdown import step_windows

    wins = step_windows(u)
    assert len(wins) == 100
    st = u.spans["start_ns"]
    cats = {c: st[u.cat_mask(c)] for c in (OP, KERNEL, RUNTIME, MEMCPY)}
    for w in wins:  # ops, launches, kernels and memcpys in every step, the last ones too
        for c, s in cats.items():
            assert ((s >= w.start_ns) & (s < w.end_ns)).any(), (c, w)
    # device activities in proportion: kernels and memcpys keep about the same share
    kept = {c: len(cats[c]) / int(t.cat_mask(c).sum()) for c in (KERNEL, MEMCPY)}
    assert abs(kept[KERNEL] - kept[MEMCPY]) < 0.25, kept
    # every step lost about as much as the others (no step emptied by ties broken by position)
    per = d["per_step"]
    assert len(per) == 100 and max(x["dropped"] for x in per) - min(x["dropped"] for x in per) <= 5
    notes = [e for e in tr["traceEvents"] if e.get("name") == "dropped by the trace budget"]
    assert len(notes) == 100 and notes[-1]["args"]["step"] == 99
    # flows of kept launches and kernels only, each bound to a slice
    assert ex.n_flows == sum(e["ph"] == "s" for e in tr["traceEvents"]) > 0


def test_budget_of_20_mb_on_a_million_events_keeps_every_step_whole(tmp_path):
    """The issue's case: ``--trace-budget 20`` on a ~1M-event trace (100 steps) once dropped every
    kernel and the last steps' ops; now each step keeps ops, launches, kernels and memcpys."""
    from profiler.analysis.breakdown import step_windows
    from profiler.importers.kineto_json import read_kineto_json

    t = _large_table(steps=100, ops=9_700)
    assert t.n_spans >= 970_000
    ex = ChromeTraceExporter(budget_mb=20)
    p = ex.write(t, tmp_path / "budget.json.gz")
    u, _ = read_kineto_json(p)
    assert u.n_spans < t.n_spans / 3  # it did have to drop most
    d = load_trace(p)["otherData"]["trace_budget"]
    assert d["steps"] == d["steps_with_ops"] == 100
    wins = step_windows(u)
    assert len(wins) == 100
    st = u.spans["start_ns"]
    for c in (OP, RUNTIME, KERNEL, MEMCPY):
        s = np.sort(st[u.cat_mask(c)])
        # spans of category c that start in each step window: none of the 100 may be empty
        lo = np.searchsorted(s, [w.start_ns for w in wins], side="left")
        hi = np.searchsorted(s, [w.end_ns for w in wins], side="left")
        assert (hi > lo).all(), (c, int((hi == lo).sum()))


def _mixed_table(seed=7):
    """Two ranks with everything the exporter formats: traced and untraced steps, warm-up, phases,
    data loading with and without the DataLoader's name, nested ops with shapes (a JSON list or
    not), FLOPs, bytes and args (escapes, unicode), launches and syncs (named like CUDA's or not),
    kernels, memcpys and memsets on device streams, device regions, collectives, Python frames,
    slices that overlap without nesting, zero-length spans, counters with gaps, instants, the
    table's own flows (ids shared by both ranks) and launch arrows drawn from correlation ids."""
    import random

    from profiler.core.events import COLLECTIVE, MEMSET, PHASE, PYTHON, REGION, SYNC, WARMUP

    rng = random.Random(seed)
    b = EventBuilder()
    flows = {k: [] for k in ("id", "name", "src_ts_ns", "src_pid", "src_tid", "dst_ts_ns", "dst_pid", "dst_tid")}
    fwdbwd = b.strings.intern("fwdbwd")
    for rank, pid in enumerate((4242, 4343)):
        b.name_process(pid, f"rank {rank} \"main\"")
        b.name_thread(pid, 11, "python µthread")
        dev = lambda s: device_tid(rank, s)  # noqa: B023, E731
        b.span(PHASE, "measure", 0, 9_000_000, pid, 11)
        b.span(WARMUP, "warmup 0", 1_000, 400_000, pid, 11, args={"index": 0})
        corr = 1_000 * rank
        for s in range(6):
            t0 = 500_000 + s * 1_400_000
            b.span(STEP, f"step {s}", t0, 1_300_000, pid, 11, args={"index": s, "traced": s % 3 != 2})
            b.span(DATA_LOADING, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__" if s % 2 else
                   "next batch", t0 + 100, 20_000 + s, pid, 11)
            b.span(PYTHON, "train.py(42): step", t0 + 30_000, 1_200_000, pid, 12)
            t = t0 + 40_000
            for i in range(30):
                dur = rng.randrange(5_000, 30_000)
                shapes = rng.choice([None, "[[16, 64], [64]]", "[[2, 3], [], [[4], [5, 6]]]", "not [json",
                                     '["a\\"b"]'])
                args = rng.choice([None, None, {"concrete": '["[16, 64]", ""]', "dtype": "float"},
                                   {"Sequence number": i, "note": "tab\there ✓"}])
                b.span(OP, rng.choice(["aten::linear", "aten::addmm", 'op "quoted"', "aten::µ"]), t, dur,
                       pid, 11, shapes=shapes, args=args, flops=rng.choice([None, 1.5e9, 48.0]),
                       nbytes=rng.choice([None, 4096.0, 0.1]))
                b.span(OP, "aten::t", t + 100, dur // 3, pid, 11, shapes="[[256, 64]]")
                if i % 7 == 3:  # starts inside its parent and ends after it
                    b.span(OP, "overhang", t + dur - 50, 400, pid, 11)
                if i % 5 == 0:
                    b.span(OP, "aten::empty", t + 200, 0, pid, 11)
                corr += 1
                launch = rng.choice(["cudaLaunchKernel", "cudaMemcpyAsync", "cudaStreamSynchronize"])
                b.span(RUNTIME if launch != "cudaStreamSynchronize" else SYNC, launch, t + 300, 900, pid, 11,
                       corr=corr)
                cat = {"cudaLaunchKernel": KERNEL, "cudaMemcpyAsync": MEMCPY}.get(launch, MEMSET)
                b.span(cat, f"kernel_{i % 4}" if cat == KERNEL else "Memcpy HtoD", t + 2_000, dur // 2, pid,
                       dev(7 + i % 2), corr=corr, nbytes=4096.0 if cat != KERNEL else None)
                if i % 4 == 0:  # the table's own arrow: forward op to its backward
                    for k, v in (("id", 900 + i), ("name", fwdbwd), ("src_ts_ns", t), ("src_pid", pid),
                                 ("src_tid", 11), ("dst_ts_ns", t + 100), ("dst_pid", pid), ("dst_tid", 11)):
                        flows[k].append(v)
                t += dur + rng.randrange(0, 3_000)
            b.span(SYNC, "cudaDeviceSynchronize", t, 5_000, pid, 11)
            b.span(SYNC, "waitForDevice", t + 5_000, 1_000, pid, 11)
            b.span(RUNTIME, "cudaEventSynchronize", t + 6_000, 1_000, pid, 11)
            b.span(COLLECTIVE, "nccl:all_reduce", t + 7_000, 30_000, pid, 11)
            b.span(REGION, "forward", t0 + 2_000, 600_000, pid, dev(7))
            b.span(REGION, "host region", t0 + 2_000, 600_000, pid, 12)
            b.instant("checkpoint", t0 + 50, pid, 11, args={"step": s} if s % 2 else None)
        for i in range(200):
            b.counter("power W", i * 40_000, float("nan") if i % 17 == 5 else 100.0 + i / 3, pid=pid)
            b.counter("sm clock MHz", i * 40_000 + 7, 1_410.0, pid=pid)
    t = b.build()
    t.flows = {k: np.asarray(v, np.int64 if k != "name" else np.int32) for k, v in flows.items()}
    return t


#: the export of ``_mixed_table()`` as written before the exporter was optimised: it must not change
#: (regenerate only for an intended change of the format: ``ChromeTraceExporter(...).write`` to it)
_GOLDEN = {
    "full": ({}, "mixed.json.gz"),
    "budget": ({"budget_mb": 0.25}, "mixed_budget.json.gz"),
}


@pytest.mark.parametrize("case", sorted(_GOLDEN))
def test_export_is_byte_identical_to_the_recorded_one(tmp_path, case):
    import gzip

    from tests.conftest import DATA

    kw, name = _GOLDEN[case]
    ex = ChromeTraceExporter(metadata={"run": "mixed"}, **kw)
    got = ex.write(_mixed_table(), tmp_path / "t.json").read_bytes()
    want = gzip.decompress((DATA / "chrome_export" / name).read_bytes())
    if got != want:  # name the first event that differs
        for i, (g, w) in enumerate(zip(got.split(b"\n"), want.split(b"\n"), strict=False)):
            assert g == w, f"line {i}"
        assert len(got) == len(want)


def test_nesting_check_and_track_order_agree_with_their_references():
    from profiler.analysis.nesting import is_laminar
    from profiler.export.chrome import _nests, _sorted_by

    rng = np.random.default_rng(3)
    for _ in range(3_000):
        n = int(rng.integers(1, 14))
        start, dur = rng.integers(0, 25, n), rng.integers(0, 9, n)  # ties, zero lengths, overlaps
        order = np.lexsort((-dur, start))
        s, e = start[order], start[order] + dur[order]
        assert _nests(s, e) == is_laminar(s, e), (s.tolist(), e.tolist())
        key = rng.integers(0, 6, n)
        assert (_sorted_by(key, dur) == np.lexsort((dur, key))).all()
        assert (_sorted_by(key, -dur) == np.lexsort((-dur, key))).all()


@pytest.mark.parametrize("isal", [True, False], ids=["isal", "zlib"])
def test_the_trace_is_plain_gzip_with_either_compressor(tmp_path, monkeypatch, isal):
    import builtins
    import gzip

    if not isal:
        real = builtins.__import__

        def no_isal(name, *a, **k):
            if name.startswith("isal"):
                raise ImportError("isal is not installed")
            return real(name, *a, **k)

        monkeypatch.setattr(builtins, "__import__", no_isal)
    else:
        pytest.importorskip("isal")
    t = _table()
    ChromeTraceExporter().write(t, tmp_path / "t.json")
    ChromeTraceExporter().write(t, tmp_path / "t.json.gz")
    assert gzip.decompress((tmp_path / "t.json.gz").read_bytes()) == (tmp_path / "t.json").read_bytes()
