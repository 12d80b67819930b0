"""The breakdown that follows the device, checked against an independent interval computation over
the raw JSON of real GPU traces; foreign traces described as traced (not compensated with this
machine's calibration), their headline the mean of the steps the breakdown describes; input-bound
from exposed time only.

The reference below reads each trace with ``json`` alone and does its own interval arithmetic on
plain Python lists (no numpy, nothing from the analysis): per ``ProfilerStep#N``, the union of the
device's activities (busy), the union of NCCL kernels (communication), the DataLoader wait while the
device idles (exposed input), the device's idle gaps whose work was launched before they began
(queued), the host's syncs, and the host busy with ops, runtime calls or Python.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest
from reference_intervals import length, union

from profiler.analysis.breakdown import breakdown, step_windows
from profiler.analysis.stats import MEAN, headline_ms, summarize_ms
from profiler.analysis.variant import analyse_variant
from profiler.core.categories import CATEGORIES
from profiler.core.events import (
    COLLECTIVE,
    DATA_LOADING,
    KERNEL,
    MEMCPY,
    OP,
    RUNTIME,
    STEP,
    SYNC,
    EventBuilder,
    device_tid,
)
from profiler.importers import load_trace

TRACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gpu-traces"
KINETO = Path(__file__).resolve().parent / "data" / "kineto"
#: real traces whose dialect the importer reads today (torch ≥ 1.11 category names, µs timestamps)
REAL = [
    "hta-nccl_data.json.gz",
    "hta-queue-rank0.json.gz",
    "hta-trace_diff/control.json.gz",
    "hta-trace_diff/test.json.gz",
    "hta-trace_filter-2ranks/sampled_rank-0.json.gz",
    "hta-trace_filter-2ranks/sampled_rank-1.json.gz",
]
DEVICE_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
HOST_BUSY_CATS = {"cpu_op", "cuda_runtime", "cuda_driver", "python_function"}
#: host calls that wait for the device (as documented by CUDA: device, stream and event syncs)
SYNCS = {"cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "cudaStreamWaitEvent",
         "cuCtxSynchronize", "cuStreamSynchronize", "cuEventSynchronize"}


def _torch_calibration(per_record_us: float = 1.61) -> dict:
    """A calibration of this machine's torch.profiler cost (as `profiler calibrate` records it)."""
    return {
        "tracer_costs": {
            "torch": {
                "configs": {
                    "shapes_flops": {
                        "total_us": {"median": per_record_us, "min": per_record_us, "max": per_record_us, "n": 1},
                        "inside_us": {"median": 0.0, "min": 0.0, "max": 0.0, "n": 1},
                        "outside_us": per_record_us,
                    }
                }
            }
        }
    }


# ----------------------------------------------------------------- the reference, plain Python
def _minus(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``a`` less ``b`` (both unions)."""
    out = []
    j = 0
    for s, e in a:
        cur = s
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def _ns(x: float) -> int:
    return round(x * 1000)  # Kineto writes microseconds


def _reference(path: Path) -> dict:
    """Per-step figures of the device rule, from the raw JSON."""
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    ops_by_pid: dict = {}
    for e in events:
        if e.get("cat") == "cpu_op":
            ops_by_pid[e["pid"]] = ops_by_pid.get(e["pid"], 0) + 1
    host = max(ops_by_pid, key=ops_by_pid.get)
    iv = lambda e: (_ns(e["ts"]), _ns(e["ts"]) + _ns(e.get("dur", 0)))  # noqa: E731
    steps = sorted(iv(e) for e in events if e["pid"] == host and str(e.get("name", "")).startswith("ProfilerStep#"))
    dev = [e for e in events if e.get("cat") in DEVICE_CATS]
    busy = union([iv(e) for e in dev])
    comm = union([iv(e) for e in dev if e.get("cat") == "kernel" and "nccl" in e["name"].lower()])
    dl = union([iv(e) for e in events if e["pid"] == host and e.get("cat") == "user_annotation"
                 and e["name"].startswith("enumerate(DataLoader)")])
    syncs = union([iv(e) for e in events if e["pid"] == host and e.get("cat") in ("cuda_runtime", "cuda_driver")
                    and e["name"] in SYNCS])
    host_busy = union([iv(e) for e in events if e["pid"] == host and e.get("cat") in HOST_BUSY_CATS])
    # gaps whose ending work was launched before they began
    launch_at = {}
    for e in events:
        c = (e.get("args") or {}).get("correlation")
        if e["pid"] == host and e.get("cat") in ("cuda_runtime", "cuda_driver") and isinstance(c, int) and c >= 0:
            launch_at.setdefault(c, _ns(e["ts"]))
    opens: dict[int, int] = {}
    starts = {s for s, _ in busy}
    for e in dev:
        s = _ns(e["ts"])
        c = (e.get("args") or {}).get("correlation")
        if s in starts and c in launch_at:
            opens[s] = min(opens.get(s, launch_at[c]), launch_at[c])
    queued = [(busy[k - 1][1], busy[k][0]) for k in range(1, len(busy))
              if busy[k][0] in opens and opens[busy[k][0]] < busy[k - 1][1]]
    idle_dev = _minus(union([(min(s for s, _ in steps), max(e for _, e in steps))]), busy)
    exposed_dl = _minus(dl, busy)
    # the device idle, less the exposed input, the syncs and the queued gaps: what the host does there
    rest = _minus(_minus(_minus(idle_dev, dl), syncs), union(queued))
    fw = union([(max(a, c), min(b, d)) for a, b in rest for c, d in host_busy if c < b and d > a])
    out = []
    for lo, hi in steps:
        out.append({
            "step": (hi - lo) / 1e6,
            "busy": length(busy, lo, hi) / 1e6,
            "communication": length(comm, lo, hi) / 1e6,
            "data_loading": length(exposed_dl, lo, hi) / 1e6,
            "framework_overhead": length(fw, lo, hi) / 1e6,
        })
    return {"steps": out, "host": host}


def _mean(rows: list[dict], k: str) -> float:
    return sum(r[k] for r in rows) / len(rows)


@pytest.mark.parametrize("name", REAL)
def test_device_rule_matches_an_independent_interval_computation(name: str) -> None:
    path = TRACES / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared GPU traces are not on this machine)")
    ref = _reference(path)
    imp = load_trace(path)
    steps = step_windows(imp.table)
    assert len(steps) == len(ref["steps"])
    bd = breakdown(imp.table, imp.facts["host_pid"], steps)
    assert bd.basis == "device kernels"
    rows = ref["steps"]
    tol = 1e-6 * len(imp.table)  # at most a nanosecond per event of rounding, in ms
    assert bd.step_ms == pytest.approx(_mean(rows, "step"), abs=tol)
    # the categories tile the step
    assert sum(bd.ms.values()) == pytest.approx(bd.step_ms, abs=1e-9)
    for r, got in zip(rows, bd.per_step, strict=True):
        assert sum(got.values()) == pytest.approx(r["step"], abs=tol)
    # device busy = communication + memory I/O + compute; device idle = the rest
    dev = bd.device
    assert dev["busy_ms"] == pytest.approx(_mean(rows, "busy"), abs=tol)
    assert dev["busy_ms"] == pytest.approx(bd.ms["communication"] + bd.ms["memory_io"] + bd.ms["compute"], abs=tol)
    assert dev["idle_ms"] == pytest.approx(_mean(rows, "step") - _mean(rows, "busy"), abs=tol)
    # communication is the NCCL kernels' union: nothing of the host's nccl:/c10d:: spans
    assert bd.ms["communication"] == pytest.approx(_mean(rows, "communication"), abs=tol)
    # data loading only where the device idles; framework overhead = the host busy while nothing is
    # queued, no sync runs and no input is awaited; idle = what is left of the device's idle time
    assert bd.ms["data_loading"] == pytest.approx(_mean(rows, "data_loading"), abs=tol)
    assert bd.ms["framework_overhead"] == pytest.approx(_mean(rows, "framework_overhead"), abs=tol)
    assert bd.ms["idle"] + bd.ms["framework_overhead"] + bd.ms["data_loading"] == pytest.approx(
        dev["idle_ms"], abs=tol)


REPO = Path(__file__).resolve().parents[1]
HTA_PYTHON = REPO / ".venv-hta" / "bin" / "python"
#: traces whose device work lies wholly inside their ProfilerSteps, as HTA's window (first to last
#: kernel) does: there the device's busy time over the steps is HTA's (kernel time less idle time).
#: On queue-rank0 and trace_diff/test the steps hold device work HTA leaves out of its window.
HTA_SAME_WINDOW = [
    "hta-nccl_data.json.gz",
    "hta-trace_diff/control.json.gz",
    "hta-trace_filter-2ranks/sampled_rank-0.json.gz",
    "hta-trace_filter-2ranks/sampled_rank-1.json.gz",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", HTA_SAME_WINDOW)
def test_device_busy_and_nccl_time_are_htas(name: str) -> None:
    """HTA 0.5 run on the same file (its own interpreter, ``benchmarks/hta_reference.py``): the
    device's busy time over the steps (communication + memory I/O + compute) is HTA's temporal
    breakdown's kernel time less its idle time, and communication its NCCL kernels' union."""
    path = TRACES / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    if not HTA_PYTHON.is_file():
        pytest.skip("HolisticTraceAnalysis is not installed here (.venv-hta)")
    r = subprocess.run([str(HTA_PYTHON), str(REPO / "benchmarks" / "hta_reference.py"), str(path)],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "HTA_DISABLE_NS_ROUNDING": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    hta = json.loads(r.stdout)
    imp = load_trace(path)
    steps = step_windows(imp.table)
    bd = breakdown(imp.table, imp.facts["host_pid"], steps)
    n = len(steps)
    t = hta["temporal"]
    busy = bd.ms["communication"] + bd.ms["memory_io"] + bd.ms["compute"]
    assert busy * n == pytest.approx((t["kernel_time_us"] - t["idle_us"]) / 1e3, rel=1e-3)
    assert bd.ms["communication"] * n == pytest.approx(hta["union_us"]["COMMUNICATION"] / 1e3, rel=1e-3)


# ----------------------------------------------------------------- rules on built events
def _device_step(host_busy: bool = True) -> EventBuilder:
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(KERNEL, "ampere_sgemm_128x64", 100, 300, 1, device_tid(0, 7))  # 100..400
    if host_busy:
        b.span(OP, "aten::mm", 400, 200, 1, 7)  # 400..600: the host busy while the device idles
    return b


def test_device_idle_goes_to_the_hosts_reason() -> None:
    b = _device_step()
    b.span(DATA_LOADING, "enumerate(DataLoader)#next", 0, 150, 1, 7)  # 0..150: 50 of it exposed
    b.span(SYNC, "cudaDeviceSynchronize", 700, 200, 1, 7)  # 700..900
    bd = breakdown(b.build(), pid=1)
    ns = {k: round(v * 1e6) for k, v in bd.ms.items()}
    assert ns == {"data_loading": 100, "communication": 0, "memory_io": 0, "compute": 300,
                  "framework_overhead": 200, "idle": 400}  # idle: the sync, 600..700, 900..1000
    assert bd.device["idle_split_ms"]["sync_wait"] == pytest.approx(200e-6)
    assert bd.device["idle_split_ms"]["nothing"] == pytest.approx(200e-6)


def test_host_collective_counts_only_without_communication_kernels() -> None:
    b = _device_step(host_busy=False)
    b.span(COLLECTIVE, "gloo:all_reduce", 500, 100, 1, 7)  # a CPU backend, device idle
    bd = breakdown(b.build(), pid=1)
    assert bd.ms["communication"] * 1e6 == pytest.approx(100)
    b = _device_step(host_busy=False)
    b.span(COLLECTIVE, "nccl:all_reduce", 500, 100, 1, 7)  # enqueues the kernel below
    b.span(KERNEL, "ncclKernel_AllReduce_RING_LL_Sum_float", 700, 50, 1, device_tid(0, 9))
    bd = breakdown(b.build(), pid=1)
    assert bd.ms["communication"] * 1e6 == pytest.approx(50)  # the kernel, not the host span


def test_input_bound_counts_host_to_device_copies_only_while_the_device_idles() -> None:
    b = _device_step(host_busy=False)
    b.span(MEMCPY, "Memcpy HtoD (Pageable -> Device)", 200, 100, 1, device_tid(0, 8))  # under the kernel
    b.span(MEMCPY, "Memcpy HtoD (Pageable -> Device)", 600, 40, 1, device_tid(0, 8))  # exposed
    bd = breakdown(b.build(), pid=1)
    assert bd.input_bound["input_ms"] * 1e6 == pytest.approx(40)
    assert bd.input_bound["verdict"] == "not measured"  # no input pipeline spans
    b.span(DATA_LOADING, "enumerate(DataLoader)#next", 400, 100, 1, 7)
    bd = breakdown(b.build(), pid=1)
    assert bd.input_bound["input_ms"] * 1e6 == pytest.approx(140)
    assert bd.input_bound["verdict"] == "moderately input-bound"  # 14%: TF Profiler's 5–20%


def test_a_gap_whose_work_was_already_queued_is_idle_not_framework_overhead() -> None:
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::add", 0, 1000, 1, 7)  # the host busy all step
    b.span(KERNEL, "elementwise_kernel", 100, 100, 1, device_tid(0, 7), corr=1)
    b.span(KERNEL, "elementwise_kernel", 500, 100, 1, device_tid(0, 7), corr=2)
    b.span(RUNTIME, "cudaLaunchKernel", 50, 10, 1, 7, corr=1)
    b.span(RUNTIME, "cudaLaunchKernel", 150, 10, 1, 7, corr=2)  # launched before the gap 200..500
    bd = breakdown(b.build(), pid=1)
    us = {k: round(v * 1e6) for k, v in bd.ms.items()}
    assert us["idle"] == 300  # 200..500: the device had its work and waited on something else
    assert us["framework_overhead"] == 100 + 400  # 0..100 and 600..1000: the host starved it


# ----------------------------------------------------------------- foreign traces, headlines
def test_imported_trace_is_not_compensated_and_its_headline_is_the_breakdowns_mean() -> None:
    imp = load_trace(KINETO / "lstmcell_cpu.json.gz")
    entry = {"pid": imp.facts["host_pid"], "framework": "torch", "device": "cpu",
             "imported": {"path": "lstmcell_cpu.json.gz", "format": imp.format}}
    cal = _torch_calibration()
    out = analyse_variant(imp.table, entry, None, "step", cal)
    b = out["breakdown"]
    assert "compensation" not in b
    assert "imported trace" in b["describes"] and "as recorded" in b["describes"]
    assert out["breakdown_ms"] == b["traced_ms"]
    assert out["step_ms"]["statistic"] == MEAN
    head = headline_ms(out["step_ms"])
    total = sum(v or 0.0 for v in out["breakdown_ms"].values())
    assert total == pytest.approx(head, rel=0.01)
    assert head == pytest.approx(b["step_ms"], rel=1e-9)  # the same steps
    assert out.get("tracing_overhead_pct") is None
    # the same events as our own trace (no imported section) keep their compensation
    ours = analyse_variant(imp.table, {k: v for k, v in entry.items() if k != "imported"}, None, "step", cal)
    assert "compensation" in ours["breakdown"]
    assert sum(v or 0.0 for v in ours["breakdown_ms"].values()) < total


def test_gpu_trace_headline_and_breakdown_sum_to_one_another() -> None:
    imp = load_trace(KINETO / "gpu_handbuilt.json")
    entry = {"pid": imp.facts["host_pid"], "framework": "torch", "device": "cuda", "imported": {"path": "x"}}
    out = analyse_variant(imp.table, entry, None, "step", _torch_calibration())
    assert sum(v or 0.0 for v in out["breakdown_ms"].values()) == pytest.approx(headline_ms(out["step_ms"]), rel=0.01)
    assert out["breakdown"]["device"]["busy_ms"] == pytest.approx(0.44)


def test_our_runs_headline_the_clean_median() -> None:
    b = EventBuilder()
    t = 0
    for i, d in enumerate([10, 11, 30]):  # clean steps: the median, not the mean
        b.span(STEP, f"s{i}", t, d * 1_000_000, 1, 0, args={"index": i, "traced": False})
        t += d * 1_000_000
    b.span(STEP, "s3", t, 12_000_000, 1, 0, args={"index": 3, "traced": True})
    out = analyse_variant(b.build(), {"pid": 1, "framework": "torch"}, None, "step", None)
    assert out["step_ms"]["statistic"] == "median"
    assert headline_ms(out["step_ms"]) == pytest.approx(11.0)


def test_summarize_ms_says_its_statistic() -> None:
    s = summarize_ms([1e6, 2e6, 6e6], MEAN)
    assert s["statistic"] == "mean" and headline_ms(s) == pytest.approx(3.0)
    assert headline_ms({"median": 2.0, "mean": 3.0}) == 2.0  # records before the field: the median
    assert headline_ms(None) is None
    with pytest.raises(ValueError):
        summarize_ms([1e6], "mode")


def test_categories_are_the_shared_vocabulary() -> None:
    bd = breakdown(_device_step().build(), pid=1)
    assert tuple(bd.ms) == CATEGORIES
