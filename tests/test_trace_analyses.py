"""Trace analyses on small real (or documented hand-built) traces in tests/data: CUDA launch
statistics, frequent op sequences, and the multi-rank merge of one trace per rank."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from profiler.analysis.breakdown import step_windows
from profiler.analysis.launches import LAUNCH_DELAY_CUTOFF_US, launch_stats
from profiler.analysis.op_sequences import op_sequences
from profiler.analysis.ranks import align_rank_traces, merge_rank_traces
from profiler.core.events import KERNEL, OP, RUNTIME, STEP, EventBuilder, device_tid
from profiler.importers.kineto_json import read_kineto_json
from tests.conftest import DATA

GPU = DATA / "kineto" / "gpu_handbuilt.json"
CUPTI = DATA / "probes" / "cupti_records.json"
LSTM = DATA / "kineto" / "lstmcell_cpu.json.gz"
DDP = DATA / "kineto" / "ddp2"


# ------------------------------------------------------------------------------ launches

def test_launch_delays_of_the_kineto_gpu_fixture():
    t, facts = read_kineto_json(GPU)
    steps = step_windows(t)
    la = launch_stats(t, facts["host_pid"], steps)
    # per step (make_gpu_fixture.py): launches end at 60, 310, 510 µs; their kernels start at 70,
    # 400, 520: delays 10, 90, 10 µs; every kernel (300, 50, 40 µs) outlasts its 10 µs launch
    n = len(steps)
    assert la["pairs"] == la["kernels"] == 3 * n and la["per_step"] == 3
    d = la["launch_delay_us"]
    assert d["median"] == pytest.approx(10.0) and d["max"] == pytest.approx(90.0)
    assert d["histogram"] == {"0–5 µs": 0, "5–20 µs": 2 * n, "20–100 µs": n, "100–500 µs": 0, "≥ 500 µs": 0}
    assert la["short_kernels"]["count"] == 0 and la["launch_delay_outliers"]["count"] == 0


def test_launch_stats_of_the_cupti_fixture():
    from profiler.probes.cupti import ClockMap, records_to_events

    d = json.loads(CUPTI.read_text())
    (c0, r0), (c1, r1) = d["clock"]
    names = {("RUNTIME", 211): "cudaLaunchKernel", ("RUNTIME", 31): "cudaMemcpy", ("DRIVER", 307): "cuLaunchKernel"}
    t = records_to_events(d["records"], 4242, ClockMap(c0, r0, c1, r1), name_api=lambda k, c: names[(k, c)])
    la = launch_stats(t, 4242)
    # correlations 11 (kernel 1 µs after its launch returned), 12 (memcpy, 0.5 µs), 13 (kernel, 0.2 µs)
    assert (la["pairs"], la["kernels"]) == (3, 2)
    assert la["launch_delay_us"]["max"] == pytest.approx(1.0) and la["launch_delay_us"]["median"] == pytest.approx(0.5)
    assert la["short_kernels"]["count"] == 0  # 20 µs and 2 µs kernels, 3 µs and 0.8 µs launches


def test_short_kernels_and_outliers_are_named():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 10_000_000, 1, 0, args={"index": 0, "traced": True})
    for i in range(10):  # 8 µs launches of 2 µs kernels, one launched 300 µs late, one 80 µs call
        t0 = 100_000 + i * 500_000
        dur = 80_000 if i == 3 else 8_000
        b.span(RUNTIME, "cudaLaunchKernel", t0, dur, 1, 0, corr=i)
        delay = 300_000 if i == 5 else 1_000
        b.span(KERNEL, "tiny" if i % 2 else "big", t0 + dur + delay, 2_000 if i % 2 else 50_000, 1, device_tid(0, 7),
               corr=i)
    t = b.build()
    la = launch_stats(t, 1, step_windows(t))
    assert la["short_kernels"]["count"] == 5 and la["short_kernels"]["top"] == [{"name": "tiny", "count": 5}]
    assert la["short_kernels"]["share_pct"] == pytest.approx(50.0)
    out = la["launch_delay_outliers"]
    assert out["count"] == 1 and out["top"][0]["us"] == pytest.approx(300.0) and 300.0 > LAUNCH_DELAY_CUTOFF_US
    assert la["runtime_outliers"]["count"] == 1 and la["runtime_outliers"]["top"][0]["us"] == pytest.approx(80.0)


def test_no_device_work_no_launch_section():
    t, facts = read_kineto_json(LSTM)
    assert launch_stats(t, facts["host_pid"], step_windows(t)) is None


# --------------------------------------------------------------------------- op sequences

def _children(t, parent_name):
    """Direct children names of each span called ``parent_name`` (brute force)."""
    rows = list(t.iter_spans(t.cat_mask(OP)))
    out = []
    for p in (r for r in rows if r["name"] == parent_name):
        inside = [r for r in rows if r is not p and r["tid"] == p["tid"] and r["start_ns"] >= p["start_ns"]
                  and r["start_ns"] + r["dur_ns"] <= p["start_ns"] + p["dur_ns"]]
        direct = [r for r in inside if not any(
            o is not r and o["start_ns"] <= r["start_ns"] and o["start_ns"] + o["dur_ns"] >= r["start_ns"] + r["dur_ns"]
            and o["dur_ns"] > r["dur_ns"] for o in inside)]
        out.append(tuple(r["name"] for r in sorted(direct, key=lambda r: r["start_ns"])))
    return out


def test_the_unfused_lstm_cell_chain_is_found():
    t, facts = read_kineto_json(LSTM)
    steps = step_windows(t)
    res = op_sequences(t, facts["host_pid"], steps)
    bodies = _children(t, "aten::lstm_cell")
    assert len(bodies) == 6 * len(steps) and len(set(bodies)) == 1  # record_lstmcell_trace.py: SEQ 6
    body = list(bodies[0])
    assert len(body) >= 10 and "aten::sigmoid_" in body
    cell = [s for s in res["sequences"] if s["ops"] == body]
    assert cell, [s["ops"] for s in res["sequences"]]
    c = cell[0]
    assert c["inside"] == "aten::lstm_cell" and 4 <= c["per_step"] <= 6
    lstm_ms = sum(r["dur_ns"] for r in t.iter_spans(t.cat_mask(OP)) if r["name"] == "aten::lstm_cell") / 1e6 / len(steps)
    assert 0 < c["ms_per_step"] < lstm_ms
    # a window of the chain is not reported beside it
    assert not [s for s in res["sequences"] if s is not c and _sub(s["ops"], body)]


def _sub(a, b):
    return len(a) < len(b) and any(b[i: i + len(a)] == a for i in range(len(b) - len(a) + 1))


def test_a_chain_that_does_not_repeat_is_not_reported():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1_000_000, 1, 0, args={"index": 0, "traced": True})
    for i, n in enumerate(["a", "b", "c", "d"]):
        b.span(OP, n, 1_000 + i * 10_000, 5_000, 1, 1)
    for k in range(5):  # x → y five times
        b.span(OP, "x", 100_000 + k * 20_000, 5_000, 1, 1)
        b.span(OP, "y", 106_000 + k * 20_000, 5_000, 1, 1)
    t = b.build()
    res = op_sequences(t, 1, step_windows(t))
    assert res["sequences"][0]["ops"] == ["x", "y"]
    assert res["sequences"][0]["per_step"] == 5 and not any("a" in s["ops"] for s in res["sequences"])
    # the two 5 µs ops; the 1 µs between them is not the chain's
    assert res["sequences"][0]["ms_per_step"] == pytest.approx(5 * 0.010)


# --------------------------------------------------------------------------------- ranks

def _ranks(shift_ns=0, hosts=None):
    out = {}
    for r in (0, 1):
        t, f = read_kineto_json(DDP / f"rank{r}.pt.trace.json.gz")
        if r == 1 and shift_ns:
            t = t.shifted(shift_ns)
        if hosts:
            f = dict(f, host_name=hosts[r])
        out[f["distributed_info"]["rank"]] = (t, f)
    return out


def test_two_rank_traces_merge_with_the_straggler_named():
    merged, sec = merge_rank_traces(_ranks())
    assert sec["world_size"] == 2 and [r["rank"] for r in sec["ranks"]] == [0, 1]
    # record_ddp_traces.py: rank 1 does extra matmuls every step; rank 0 waits in the allreduce
    st = sec["straggler"]
    assert st["slowest_rank"] == 1 and st["others_wait_ms"] > 0
    assert sec["ranks"][0]["breakdown_ms"]["communication"] > sec["ranks"][1]["breakdown_ms"]["communication"]
    assert all(r["overlap"]["communication_ms"] > 0 for r in sec["ranks"])
    assert len({r["pid"] for r in sec["ranks"]}) == 2 and merged.n_spans == sum(t.n_spans for t, _ in _ranks().values())
    # both files name this machine: one clock, no offset
    assert sec["alignment"]["offsets_ns"] == {"0": 0, "1": 0}


def test_ranks_on_different_hosts_are_aligned_on_their_first_common_step():
    hosts = {0: "a", 1: "b"}
    base = _ranks(hosts=hosts)
    shifted = _ranks(5_000_000_000, hosts)  # rank 1's clock 5 s ahead

    def offsets(rk):
        tables = {r: t for r, (t, _) in rk.items()}
        pids = {r: f["host_pid"] for r, (_, f) in rk.items()}
        return align_rank_traces(tables, pids, hosts)

    a, b = offsets(base), offsets(shifted)
    assert a["method"].startswith("aligned on the") and "step 1" in a["anchor"]
    assert int(b["offsets_ns"]["1"]) - int(a["offsets_ns"]["1"]) == -5_000_000_000
    assert b["anchor_spread_us"] == pytest.approx(0.0)
    _, sec = merge_rank_traces(shifted)
    assert sec["straggler"]["slowest_rank"] == 1


@pytest.mark.slow
def test_report_of_a_rank_directory(cli, tmp_path):
    r = cli("report", str(DDP), "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)["variants"][0]
    assert len(v["distributed"]["ranks"]) == 2 and v["distributed"]["straggler"]["slowest_rank"] == 1
    assert v["op_sequences"]["sequences"] and v["launches"] is None
    r = cli("report", str(DDP), "--out", str(tmp_path))
    assert r.returncode == 0 and "rank 1 is the slowest" in r.stdout and "repeated op chains" in r.stdout


@pytest.mark.slow
def test_the_same_rank_twice_is_one_line(cli, tmp_path):
    d = tmp_path / "dup"
    d.mkdir()
    raw = (DDP / "rank0.pt.trace.json.gz").read_bytes()
    for n in ("a", "b"):
        (d / f"{n}.pt.trace.json.gz").write_bytes(raw)
    r = cli("report", str(d), "--out", str(tmp_path / "o"))
    assert r.returncode != 0 and "rank 0 again" in r.stderr and "Traceback" not in r.stderr


def test_fixtures_are_what_their_recorders_say():
    for r in (0, 1):
        doc = json.loads(gzip.decompress((DDP / f"rank{r}.pt.trace.json.gz").read_bytes()))
        assert doc["distributedInfo"]["rank"] == r and doc["distributedInfo"]["world_size"] == 2
    t, _ = read_kineto_json(LSTM)
    assert int(np.sum(t.cat_mask(STEP))) == 3
