"""Every Kineto dialect read into the one event model (docs/traces.md, "Kineto dialects").

Hand-built fixtures in the layouts torch 1.8-1.10 and later wrote (tests/data/kineto/dialects/,
``make_dialect_fixtures.py``), and the real GPU traces in ``../shared/data/gpu-traces/`` (skipped with
the reason where absent). Every expected figure is computed here from the raw JSON with the standard
library (its own step, kernel and interval counting), never taken from the reader under test.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from reference_intervals import length, union

from profiler.analysis.breakdown import breakdown, step_windows
from profiler.core.errors import InputError
from profiler.core.events import (
    DATA_LOADING,
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    OP,
    REGION,
    RUNTIME,
    STEP,
    SYNC,
    device_tid,
)
from profiler.core.opkinds import runtime_call_kind
from profiler.importers.kineto_json import exact_ns, read_kineto_json, us_to_ns
from tests.conftest import DATA

DIALECTS = DATA / "kineto" / "dialects"
OLD = DIALECTS / "torch110_gpu_steps.json.gz"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "gpu-traces"
REAL_FILES = sorted(REAL.glob("**/*.json.gz")) if REAL.is_dir() else []
needs_real = pytest.mark.skipif(not REAL_FILES, reason=f"unavailable: no real GPU traces in {REAL}")

KERNEL_CATS = {"kernel"}
MEMCPY_CATS = {"memcpy", "gpu_memcpy"}
MEMSET_CATS = {"memset", "gpu_memset"}
RUNTIME_CATS = {"runtime", "cuda_runtime", "cuda_driver"}


def raw_doc(path: Path) -> dict:
    """The file as the standard library reads it (``ts`` as exact decimals)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    doc = json.loads(data, parse_float=Decimal)
    return {"traceEvents": doc} if isinstance(doc, list) else doc


def raw_complete(path: Path) -> list[dict]:
    """The ph X events, less one written twice in a row (same ts, dur, name, pid, tid)."""
    out, last = [], None
    for e in raw_doc(path)["traceEvents"]:
        if e.get("ph") != "X":
            continue
        key = (e.get("ts"), e.get("dur"), e.get("name"), e.get("pid"), e.get("tid"))
        if key != last:
            out.append(e)
        last = key
    return out


def lc(e: dict) -> str:
    return str(e.get("cat") or "").lower()


def raw_steps(events: list[dict]) -> list[dict]:
    """``ProfilerStep#N`` spans of the host (any category but a device-side annotation)."""
    return [e for e in events if str(e.get("name", "")).startswith("ProfilerStep#")
            and str(e["name"])[13:].isdigit() and lc(e) != "gpu_user_annotation"]


def count(t, cat: str) -> int:
    return int(t.cat_mask(cat).sum())


# ---- torch 1.9/1.10: Operator, Runtime, Kernel, Memcpy, Memset ----------------------------------


def test_old_dialect_reads_its_steps_device_work_and_data_loading():
    ev = raw_complete(OLD)
    t, facts = read_kineto_json(OLD)
    assert facts["dialect"] == "torch<=1.10" and facts["steps_marked"]
    steps = raw_steps(ev)
    assert len(steps) == 3 and {lc(e) for e in steps} == {"operator"}
    wins = step_windows(t)
    assert [w.index for w in wins] == sorted(int(e["name"][13:]) for e in steps)
    assert [w.end_ns - w.start_ns for w in wins] == sorted(e["dur"] * 1000 for e in steps)
    # device activities on their device stream, filed under the host process
    dev = t.spans["tid"] >= DEVICE_TID_BASE
    assert count(t, KERNEL) == sum(lc(e) in KERNEL_CATS for e in ev) == 12
    assert count(t, MEMCPY) == sum(lc(e) in MEMCPY_CATS for e in ev) == 3
    assert count(t, MEMSET) == sum(lc(e) in MEMSET_CATS for e in ev) == 3
    assert set(np.unique(t.spans["tid"][dev]).tolist()) == {device_tid(0, 7)}
    assert set(np.unique(t.spans["pid"][dev]).tolist()) == {facts["host_pid"]} == {24572}
    # runtime calls: the launches and copies, and the one sync per step
    assert count(t, RUNTIME) + count(t, SYNC) == sum(lc(e) in RUNTIME_CATS for e in ev)
    syncs = [r["name"] for r in t.iter_spans(t.cat_mask(SYNC))]
    assert syncs == ["cudaStreamSynchronize"] * 3
    # the DataLoader (an Operator before torch 1.11) is data loading, its children stay ops; the
    # optimizer's record_function range (an Operator too) is a region, as it is from torch 1.11 on
    dl = [e for e in ev if str(e["name"]).startswith("enumerate(DataLoader)")]
    assert count(t, DATA_LOADING) == len(dl) == 3
    labels = [e for e in ev if e["name"] == "Optimizer.step#SGD.step"]
    assert len(labels) == 3
    assert [r["name"] for r in t.iter_spans(t.cat_mask(REGION))] == ["Optimizer.step#SGD.step"] * 3
    assert count(t, OP) == sum(lc(e) == "operator" for e in ev) - len(dl) - len(steps) - len(labels)
    # host tids were quoted strings: read as the numbers they are
    assert set(np.unique(t.spans["tid"][t.cat_mask(OP)]).tolist()) == {24572, 24610}


def test_old_dialect_breakdown_follows_the_trace():
    """Three steps with data loading, compute and memory I/O where the trace has them; before the
    dialect was known this trace read as one step of 100% framework overhead."""
    ev = raw_complete(OLD)
    t, _ = read_kineto_json(OLD)
    bd = breakdown(t)
    assert bd.n_steps == 3
    assert abs(bd.residual_pct) < 1e-6
    assert not {"compute", "memory_io", "data_loading"} & set(bd.not_measured)
    # the device is idle during each DataLoader span (checked here from the raw events), so the
    # whole span is exposed input wait: the data-loading share is the loader's mean time
    dl = [(e["ts"], e["ts"] + e["dur"]) for e in ev if str(e["name"]).startswith("enumerate(DataLoader)")]
    dev = [(e["ts"], e["ts"] + e["dur"]) for e in ev if lc(e) in KERNEL_CATS | MEMCPY_CATS | MEMSET_CATS]
    assert not any(s < de and ds < e for s, e in dl for ds, de in dev)
    loader_ms = sum(e - s for s, e in dl) / len(dl) / 1e3
    assert bd.ms["data_loading"] == pytest.approx(loader_ms, rel=1e-6)
    # the device's work is the kernels and copies: their union per step, from the raw events
    busy = length(union(dev)) / 3 / 1e3
    assert bd.ms["compute"] + bd.ms["memory_io"] + bd.ms["communication"] == pytest.approx(busy, rel=0.01)
    assert bd.ms["framework_overhead"] < 0.1 * sum(bd.ms.values())


def test_old_dialect_launch_arrows_and_export_in_todays_dialect(tmp_path):
    """``async``/``launch`` flows with ``"tid": "stream 7"`` ends join their kernels, and the export
    writes today's names, which this reader then reads back to the same table."""
    from profiler.export.chrome import ChromeTraceExporter

    raw = raw_doc(OLD)["traceEvents"]
    t, facts = read_kineto_json(OLD)
    n_flows = sum(e.get("ph") == "s" for e in raw)
    assert facts["flows"] == len(t.flows["id"]) == n_flows == 18
    assert {t.strings.strings[i] for i in t.flows["name"].tolist()} == {"ac2g"}
    assert set(t.flows["dst_tid"].tolist()) == {device_tid(0, 7)}
    out = ChromeTraceExporter().write(t, tmp_path / "again.json")
    u, f2 = read_kineto_json(out)
    assert f2["dialect"] == "torch>=1.11"
    for c in (STEP, KERNEL, MEMCPY, MEMSET, RUNTIME, SYNC, DATA_LOADING, OP):
        assert count(u, c) == count(t, c), c


def test_torch18_array_form_without_steps_is_one_window():
    path = DIALECTS / "torch18_no_steps.json"
    ev = raw_complete(path)
    assert not raw_steps(ev) and isinstance(json.loads(path.read_text()), list)
    t, facts = read_kineto_json(path)
    assert facts["dialect"] == "torch<=1.10" and not facts["steps_marked"]
    assert "whole trace is analysed as one step" in " ".join(facts["notes"])
    (w,) = step_windows(t)
    lo = min(e["ts"] for e in ev) * 1000
    hi = max(e["ts"] + e["dur"] for e in ev) * 1000
    assert (w.start_ns, w.end_ns) == (lo, hi)
    step_row = int(np.flatnonzero(t.cat_mask(STEP))[0])
    assert t.span_args[step_row]["whole_trace"] is True
    # "Input dims" (torch 1.8's spelling) is the shapes column too
    mm = [r for r in t.iter_spans(t.cat_mask(OP)) if r["name"] == "aten::mm"]
    assert mm and mm[0]["shapes"] == "[[64, 512], [512, 784]]"
    assert count(t, KERNEL) == sum(lc(e) in KERNEL_CATS for e in ev)


# ---- what is not a clean single dialect ----------------------------------------------------------


def test_mixed_dialect_is_read_and_said():
    path = DIALECTS / "mixed_dialect.json"
    ev = raw_complete(path)
    t, facts = read_kineto_json(path)
    assert facts["dialect"] == "mixed"
    assert any("mixes the category names" in n for n in facts["notes"])
    assert count(t, KERNEL) == sum(lc(e) in KERNEL_CATS for e in ev) == 4
    assert count(t, STEP) == len(raw_steps(ev)) == 1
    cats = {}
    for e in ev:
        cats[e["cat"]] = cats.get(e["cat"], 0) + 1
    assert facts["categories"] == cats


def test_unknown_category_is_skipped_and_named():
    path = DIALECTS / "unknown_category.json"
    ev = raw_complete(path)
    t, facts = read_kineto_json(path)
    unknown = [e for e in ev if e["cat"] == "my_markers"]
    assert facts["unknown_categories"] == {"my_markers": len(unknown)} == {"my_markers": 2}
    assert facts["skipped_events"]["unknown category"] == 2
    assert len(t) == len(ev) - len(unknown)
    assert "checkpoint" not in t.strings.strings


def test_kernels_without_runtime_events_are_reported():
    path = DIALECTS / "kernels_without_runtime.json"
    t, facts = read_kineto_json(path)
    assert count(t, KERNEL) == 2 and count(t, RUNTIME) == 0
    assert facts["device_activities_without_launch"] == 2
    assert any("no runtime events" in n for n in facts["notes"])


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["json", "gzip"])
def test_truncated_trace_is_one_line_error(tmp_path, cut):
    data = gzip.decompress(OLD.read_bytes())
    if cut == "json":
        p = tmp_path / "torn.json"
        p.write_bytes(data[: len(data) // 2])
    else:
        p = tmp_path / "torn.json.gz"
        p.write_bytes(OLD.read_bytes()[: OLD.stat().st_size // 2])
    with pytest.raises(InputError) as ei:
        read_kineto_json(p)
    assert "\n" not in str(ei.value) and str(p) in str(ei.value)
    r = subprocess.run([sys.executable, "-m", "profiler", "report", str(p), "--out", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout


# ---- clocks ----------------------------------------------------------------------------------------


def test_base_time_and_nanoseconds():
    """``ts`` relative to ``baseTimeNanoseconds`` goes back on the Unix clock, to the nanosecond;
    ``displayTimeUnit`` is only a display hint (the numbers stay microseconds)."""
    path = DIALECTS / "base_time_ns.json"
    doc = raw_doc(path)
    t, facts = read_kineto_json(path)
    base = doc["baseTimeNanoseconds"]
    assert facts["base_time_ns"] == base and facts["display_time_unit"] == "ns"
    want = sorted(base + int(e["ts"] * 1000) for e in doc["traceEvents"])
    assert sorted(t.spans["start_ns"].tolist()) == want
    k = int(np.flatnonzero(t.cat_mask(KERNEL))[0])
    assert int(t.spans["dur_ns"][k]) == 4928


@pytest.mark.parametrize("text", ["1712195495505582.988", "4203669604595.407", "-0.5", "12", "0.001", "1.5e3",
                                  "7.1239", "7.1234"])
def test_exact_ns_is_the_decimal_value(text):
    assert exact_ns(text.encode()) == int((Decimal(text) * 1000).to_integral_value("ROUND_HALF_UP"))


def test_microseconds_below_2_43_are_the_nanosecond_written():
    """Below 2**43 µs a double is within half a nanosecond of the three-decimal number written, and
    :func:`us_to_ns` returns that number; ``round(x * 1000)`` does not always (checked here on a
    spread of values against exact decimals)."""
    rng = np.random.default_rng(7)
    ns = [*rng.integers(0, 2**43 * 1000, 20_000, dtype=np.int64).tolist(), 2**43 * 1000 - 1, 1, 999, 1000]
    texts = [f"{v // 1000}.{v % 1000:03d}" for v in ns]
    assert [us_to_ns(float(x)) for x in texts] == ns
    assert sum(round(float(x) * 1000) != v for x, v in zip(texts, ns, strict=True)) > 0


# ---- HIP and CUDA graphs ----------------------------------------------------------------------------


def test_hip_runtime_names_are_launches_copies_and_syncs():
    path = DIALECTS / "rocm_hip.json"
    ev = raw_complete(path)
    t, facts = read_kineto_json(path)
    assert [r["name"] for r in t.iter_spans(t.cat_mask(SYNC))] == ["hipDeviceSynchronize"]
    kinds = {r["name"]: runtime_call_kind(r["name"]) for r in t.iter_spans(t.cat_mask(RUNTIME))}
    assert kinds == {"hipLaunchKernel": "launch", "hipExtModuleLaunchKernel": "launch",
                     "hipMemcpyWithStream": "memcpy"}
    assert facts["host_pid"] == 7000  # no cpu_op: the busiest host process owns the device rows
    assert count(t, KERNEL) + count(t, MEMCPY) == sum(lc(e) in KERNEL_CATS | MEMCPY_CATS for e in ev)
    assert "device_activities_without_launch" not in facts


def test_cuda_graph_launch_is_one_call_with_many_activities():
    path = DIALECTS / "cuda_graph.json"
    ev = raw_complete(path)
    _, facts = read_kineto_json(path)
    calls = [e for e in ev if e["name"] == "cudaGraphLaunch"]
    ids = {e["args"]["correlation"] for e in calls}
    acts = [e for e in ev if lc(e) in KERNEL_CATS and e["args"]["correlation"] in ids]
    assert facts["graph_launches"] == {"calls": len(calls), "device_activities": len(acts)} == {
        "calls": 1, "device_activities": 4}
    assert runtime_call_kind("cudaGraphLaunch") == "graph_launch"


def test_runtime_call_kinds():
    assert runtime_call_kind("cudaLaunchKernel") == "launch"
    assert runtime_call_kind("cudaLaunchKernelExC") == "launch"
    assert runtime_call_kind("cuLaunchKernel") == "launch"
    assert runtime_call_kind("hipMemcpyAsync") == "memcpy"
    assert runtime_call_kind("cudaMemsetAsync") == "memset"
    assert runtime_call_kind("hipStreamSynchronize") == "sync"
    assert runtime_call_kind("cudaEventRecord") == "other"
    assert runtime_call_kind("INVALID") == "other"


# ---- the real traces -------------------------------------------------------------------------------


@needs_real
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_trace_steps_kernels_and_runtime(path):
    ev = raw_complete(path)
    t, facts = read_kineto_json(path)
    steps = raw_steps(ev)
    assert count(t, STEP) == (len(steps) or 1)
    assert facts["steps_marked"] == bool(steps)
    if steps:
        assert [w.end_ns - w.start_ns for w in step_windows(t)] == [
            int(e["dur"] * 1000) for e in sorted(steps, key=lambda e: e["ts"])]
    assert count(t, KERNEL) == sum(lc(e) in KERNEL_CATS for e in ev)
    assert count(t, MEMCPY) == sum(lc(e) in MEMCPY_CATS for e in ev)
    assert count(t, MEMSET) == sum(lc(e) in MEMSET_CATS for e in ev)
    assert count(t, RUNTIME) + count(t, SYNC) == sum(lc(e) in RUNTIME_CATS for e in ev)
    dev = t.cat_mask(KERNEL, MEMCPY, MEMSET)
    assert (t.spans["tid"][dev] >= DEVICE_TID_BASE).all()
    assert facts["dialect"] == "torch>=1.11" and "unknown_categories" not in facts


@needs_real
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_trace_times_are_read_to_the_nanosecond(path):
    """Every start and duration is the decimal written (plus ``baseTimeNanoseconds``), to the ns:
    ``round(ts * 1000)`` missed by 1 ns on 6,467 of 26,933 of the NCCL trace's starts (ts 52 days
    past its base time), and by up to 253 ns on the nanosecond-resolution trace (no base time)."""
    doc = raw_doc(path)
    t, facts = read_kineto_json(path)
    base = doc.get("baseTimeNanoseconds", 0)
    assert facts.get("base_time_ns", 0) == base
    ev = raw_complete(path)
    starts = {base + int(e["ts"] * 1000) for e in ev}
    durs = {int(e.get("dur", 0) * 1000) for e in ev}
    whole = t.cat_mask(STEP) & (t.spans["start_ns"] == t.spans["start_ns"].min()) if not raw_steps(ev) else None
    keep = np.ones(len(t), bool) if whole is None else ~whole
    assert set(t.spans["start_ns"][keep].tolist()) == starts
    assert set(t.spans["dur_ns"][keep].tolist()) == durs


@needs_real
def test_real_ns_resolution_trace_keeps_its_nanoseconds():
    path = REAL / "hta-ns_resolution-rank-0.pt.trace.json.gz"
    if not path.exists():
        pytest.skip(f"unavailable: {path}")
    t, facts = read_kineto_json(path)
    assert facts["display_time_unit"] == "ns" and "base_time_ns" not in facts
    assert sum(v % 1000 != 0 for v in t.spans["start_ns"].tolist()) > 0.9 * len(t)


@needs_real
def test_real_amd_trace_hip_and_base_time():
    path = REAL / "hta-amd-mi250.json.gz"
    if not path.exists():
        pytest.skip(f"unavailable: {path}")
    doc = raw_doc(path)
    t, facts = read_kineto_json(path)
    base = doc["baseTimeNanoseconds"]
    assert facts["base_time_ns"] == base
    first = min(e["ts"] for e in doc["traceEvents"] if e.get("ph") == "X")
    assert int(t.spans["start_ns"].min()) == base + int(first * 1000)
    raw_sync = [e["name"] for e in doc["traceEvents"] if lc(e) == "cuda_runtime" and "Synchronize" in e["name"]]
    assert sorted(r["name"] for r in t.iter_spans(t.cat_mask(SYNC))) == sorted(raw_sync) == ["hipDeviceSynchronize"]
    launches = [r["name"] for r in t.iter_spans(t.cat_mask(RUNTIME)) if runtime_call_kind(r["name"]) == "launch"]
    raw_launch = [e for e in doc["traceEvents"] if lc(e) == "cuda_runtime" and "LaunchKernel" in e["name"]]
    assert len(launches) == len(raw_launch) and {"hipLaunchKernel", "hipExtModuleLaunchKernel"} <= set(launches)
    # the device-side ProfilerStep (gpu_user_annotation) is no step of the host
    dev_step = [e for e in doc["traceEvents"] if lc(e) == "gpu_user_annotation" and e["name"].startswith("Profiler")]
    assert dev_step and count(t, STEP) == len(raw_steps(raw_complete(path))) == 2


@needs_real
def test_real_queue_trace_graph_launches():
    path = REAL / "hta-queue-rank0.json.gz"
    if not path.exists():
        pytest.skip(f"unavailable: {path}")
    ev = raw_complete(path)
    _, facts = read_kineto_json(path)
    calls = [e for e in ev if e["name"] == "cudaGraphLaunch"]
    ids = {e["args"]["correlation"] for e in calls}
    acts = [e for e in ev if lc(e) in KERNEL_CATS | MEMCPY_CATS | MEMSET_CATS
            and e.get("args", {}).get("correlation") in ids]
    assert facts["graph_launches"] == {"calls": len(calls), "device_activities": len(acts)}
    assert len(acts) > 2 * len(calls) > 0


# ---- read in two halves at once: the same as one pass ----------------------------------------------


def _view(t, facts) -> tuple:
    return (
        {k: v.tolist() for k, v in t.spans.items() if k not in ("name", "shapes", "flops", "bytes")},
        [t.strings.strings[i] for i in t.spans["name"].tolist()],
        {k: v.tolist() for k, v in t.flows.items() if k != "name"},
        sorted(t.threads.items()),
        {k: v for k, v in facts.items() if k != "reordered_events"},
    )


@pytest.mark.parametrize("path", [OLD, DIALECTS / "torch18_no_steps.json", DIALECTS / "mixed_dialect.json",
                                  DIALECTS / "unknown_category.json",
                                  REAL / "hta-ns_resolution-rank-0.pt.trace.json.gz"], ids=lambda p: p.name)
def test_halves_read_every_dialect_as_one_pass(path):
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import parse_kineto

    if not path.exists():
        pytest.skip(f"unavailable: {path}")
    doc = read_chrome(path)
    assert _view(*parse_kineto(doc, str(path), halves=True)) == _view(*parse_kineto(doc, str(path), halves=False))
