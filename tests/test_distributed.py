"""Data-parallel runs: launch options, clock alignment, merge, stragglers, overlap, failures, scaling.

The pure parts run on synthetic inputs. The end-to-end tests launch ``tests/data/ddp_tiny.py``
through torch.distributed.run with gloo on CPU: two ranks on one node, two single-rank "nodes" on
loopback, and a rank that crashes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.analysis.breakdown import StepWindow
from profiler.analysis.ranks import (
    align_clocks,
    comm_overlap,
    merge_ranks,
    pingpong_offset,
    root_cause,
    scaling_table,
    straggler_report,
)
from profiler.core.errors import InputError
from profiler.core.events import COLLECTIVE, OP, STEP, EventBuilder
from profiler.run.torchrun import _launcher_exits, free_port, launcher_command, launches, parse_endpoint
from tests.conftest import DATA, needs_torch, run_cli

SCENARIO = str(DATA / "ddp_tiny.py")
FEW_STEPS = ("--warmup", "1", "--steps", "3", "--trace-steps", "2")


# ------------------------------------------------------------------------------ launch options
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("0", None, None, None), "--nproc"),
        (("1,x", None, None, None), "--nproc"),
        (("2,2", None, None, None), "repeats"),
        (("1", 2, None, None), "--rdzv-endpoint"),
        (("1", 2, 2, "127.0.0.1:1234"), "--node-rank"),
        (("1", 0, None, None), "--nnodes"),
        (("1", None, None, "localhost"), "HOST:PORT"),
        (("1", None, None, "h:70000"), "HOST:PORT"),
        (("1,2", 2, 0, "127.0.0.1:1234"), "one node"),
    ],
)
def test_bad_launch_options_are_one_line_errors(args, message):
    with pytest.raises(InputError, match=message):
        launches(*args)


def test_launch_options_parse():
    assert launches(None, None, None, None) is None
    la = launches("1,2", None, None, None)
    assert [x.world_size for x in la] == [1, 2] and la[0].port is None
    la = launches("2", 3, 1, "10.0.0.5:29500")  # node 1 never checks node 0's port
    assert la[0].world_size == 6 and (la[0].host, la[0].port) == ("10.0.0.5", 29500)
    assert parse_endpoint("[::1]:29500") == ("::1", 29500)
    cmd = launcher_command(la[0], 29500, Path("/x/spec.json"))
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert cmd[cmd.index("--node-rank") + 1] == "1" and cmd[cmd.index("--master-port") + 1] == "29500"
    assert cmd[-3:] == ["-m", "profiler.run.rank", "/x/spec.json"]


@pytest.mark.slow
def test_port_in_use_is_named_before_anything_starts(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(InputError, match=f"port {port} is in use"):
            launches("2", None, None, f"127.0.0.1:{port}")
        r = run_cli("trace", "-s", SCENARIO, "--nproc", "2", "--rdzv-endpoint", f"127.0.0.1:{port}",
                    "--out", str(tmp_path), timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is in use" in lines[0], r.stderr
    # a free port passes
    launches("2", None, None, f"127.0.0.1:{free_port()}")


def test_launcher_failure_summary_is_parsed():
    text = (
        "Root Cause (first observed failure):\n[0]:\n  time      : 2026-11-27_17:10:57\n"
        "  host      : localhost\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 17134)\n"
        "[1]:\n  rank      : 0 (local_rank: 0)\n  exitcode  : 1 (pid: 17133)\n"
    )
    assert _launcher_exits(text) == {1: -9, 0: 1}


# ------------------------------------------------------------------------------------- clocks
def _pingpong(lead_ns: int, out_ns: list[int], back_ns: list[int], t0: int = 1_000_000) -> list[list[int]]:
    """Rounds against a peer whose clock leads by ``lead_ns``, with the given one-way delays."""
    rows = []
    for k, (a, b) in enumerate(zip(out_ns, back_ns, strict=True)):
        t1 = t0 + k * 100_000
        t2 = t1 + a + lead_ns
        t3 = t2 + 1_000
        rows.append([t1, t2, t3, t3 - lead_ns + b])
    return rows


def test_pingpong_takes_the_fastest_round_and_bounds_its_error():
    # symmetric fastest round: exact; the asymmetric slow rounds are ignored
    off, bound = pingpong_offset(_pingpong(5_000_000, [900, 40, 3_000], [100, 40, 50]))
    assert off == -5_000_000 and bound == 40
    # one-sided delay: the estimate is off by half the asymmetry, within the bound
    off, bound = pingpong_offset(_pingpong(-2_000, [300], [100]))
    assert abs(off - 2_000) <= bound == 200
    with pytest.raises(ValueError):
        pingpong_offset([])


def test_clock_offsets_across_hosts_are_applied_with_a_residual_bound():
    samples = {1: _pingpong(5_000_000, [60, 50], [60, 50]), 2: _pingpong(-2_000_000, [80, 70], [90, 70])}
    a = align_clocks(samples, ["a/1", "b/1", "c/1"],
                     end_samples={1: _pingpong(5_000_400, [50], [50]), 2: _pingpong(-2_000_000, [70], [70])})
    assert a.offsets_ns == {0: 0, 1: -5_000_000, 2: 2_000_000}
    assert a.basis == {0: "shared clock", 1: "exchange", 2: "exchange"}
    assert a.residual_ns == {0: 0, 1: 50, 2: 70} and a.max_residual_ns == 70
    assert a.drift_ns == {0: 0, 1: -400, 2: 0} and a.rounds == 2
    d = a.to_dict()
    assert d["offsets_ns"]["1"] == -5_000_000 and d["exchange_error_ns"] is None and json.dumps(d)


def test_clock_on_one_host_is_shared_and_the_estimate_checks_the_method():
    a = align_clocks({1: _pingpong(0, [300, 90], [100, 30])}, ["h/1", "h/1"])
    assert a.offsets_ns == {0: 0, 1: 0} and a.residual_ns == {0: 0, 1: 0}
    assert a.measured_offsets_ns[1] == -30 and a.exchange_error_ns == 30 <= a.bound_ns[1] == 60
    assert a.drift_ns is None


def test_clock_exchange_must_cover_every_rank():
    with pytest.raises(ValueError, match="rank"):
        align_clocks({1: _pingpong(0, [1], [1])}, ["a", "b", "c"])
    assert align_clocks({}, ["a"]).offsets_ns == {0: 0}


# -------------------------------------------------------------------------------------- merge
def _rank_table(pid: int, t0: int, comm: tuple[int, int], ops: list[tuple[int, int, str]]):
    b = EventBuilder()
    b.name_process(pid, "worker")
    b.span(STEP, "step 0", t0, 100, pid, 0, args={"index": 0, "traced": True})
    b.span(COLLECTIVE, "allreduce bucket 0", t0 + comm[0], comm[1] - comm[0], pid, 7)
    for s, e, name in ops:
        b.span(OP, name, t0 + s, e - s, pid, 1)
    return b.build()


def test_merge_puts_ranks_on_one_clock_with_one_process_each():
    t0 = _rank_table(42, 1_000, (50, 90), [(0, 60, "aten::addmm")])
    t1 = _rank_table(42, 5_000, (50, 90), [(0, 60, "aten::addmm")])  # same pid: another host
    merged, pids = merge_ranks({0: t0, 1: t1}, {0: 42, 1: 42}, {0: 0, 1: -4_000}, {0: "rank 0", 1: "rank 1"})
    assert pids[0] == 42 and pids[1] != 42
    assert merged.processes[pids[0]] == "rank 0" and merged.processes[pids[1]] == "rank 1"
    steps = merged.spans["start_ns"][merged.cat_mask(STEP)]
    assert sorted(steps.tolist()) == [1_000, 1_000]  # rank 1 moved onto rank 0's clock
    assert set(merged.spans["pid"].tolist()) == {pids[0], pids[1]}


# ------------------------------------------------------------------------------------ overlap
def test_overlap_is_the_share_of_communication_under_computation():
    t = _rank_table(7, 0, (50, 90), [(0, 60, "aten::addmm"), (70, 80, "aten::view")])
    o = comm_overlap(t, 7, [StepWindow(0, 0, 100, True, 7)])
    # communication 50..90 (40 ns); compute 0..60 overlaps 10 ns; a view is not computation
    assert o["communication_ms"] == pytest.approx(40e-6)
    assert o["overlapped_ms"] == pytest.approx(10e-6)
    assert o["overlap_pct"] == pytest.approx(25.0)
    assert o["basis"] == "host ops"


# --------------------------------------------------------------------------------- stragglers
def test_straggler_is_the_busiest_rank_and_its_category_is_named():
    fast = {"data_loading": 0.0, "communication": 30.0, "memory_io": 2.0, "compute": 5.0,
            "framework_overhead": 1.0, "idle": 0.0}
    slow = {**fast, "communication": 2.0, "data_loading": 27.0}
    rep = straggler_report([
        {"rank": 0, "step_ms": 38.0, "breakdown_ms": fast},
        {"rank": 1, "step_ms": 38.5, "breakdown_ms": slow},
        {"rank": 2, "step_ms": 38.1, "breakdown_ms": fast},
    ])
    assert rep["slowest_rank"] == 1 and rep["category"] == "data_loading"
    assert rep["category_excess_ms"] == pytest.approx(27.0)
    assert rep["others_wait_ms"] == pytest.approx(28.0)
    assert rep["step_spread_pct"] == pytest.approx(100 * 0.5 / 38.0)
    assert "rank 1" in rep["sentence"] and "data loading" in rep["sentence"]


def test_no_straggler_within_noise_and_fallback_to_step_times():
    even = {"data_loading": 0.0, "communication": 3.0, "compute": 10.0}
    rep = straggler_report([{"rank": r, "step_ms": 13.0, "breakdown_ms": {**even, "compute": 10.0 + r / 10}}
                            for r in range(2)])
    assert rep["slowest_rank"] == 1 and rep["sentence"].startswith("no straggler: busy time per step within 1.0%")
    rep = straggler_report([{"rank": 0, "step_ms": 10.0}, {"rank": 1, "step_ms": 12.0}, {"rank": 2}])
    assert rep["slowest_rank"] == 1 and rep["basis"] == "clean step time" and rep["measured"] == 2
    assert straggler_report([{"rank": 0}])["sentence"] == "no rank measured any step"


# ----------------------------------------------------------------------------------- failures
def test_root_cause_prefers_the_rank_whose_own_error_it_is():
    ranks = [
        {"rank": 0, "status": "failed", "error": "RuntimeError: Connection closed by peer [127.0.0.1]:1",
         "ended_ns": 5},
        {"rank": 1, "status": "failed", "error": "RuntimeError: injected", "ended_ns": 9},
        {"rank": 2, "status": "failed", "error": "RankStopped: stopped by the launcher", "ended_ns": 1},
        {"rank": 3, "status": "ok"},
    ]
    c = root_cause(ranks)
    assert c == {"rank": 1, "error": "RuntimeError: injected", "stopped": [0, 2]}
    # a rank that left no final result (killed hard) comes before consequential errors
    ranks[1] = {"rank": 1, "status": "running", "error": None, "ended_ns": None}
    assert root_cause(ranks)["rank"] == 1
    assert root_cause([{"rank": 0, "status": "ok"}]) is None


# ------------------------------------------------------------------------------------ scaling
def test_scaling_rows_have_speedup_and_efficiency():
    def v(ws: int, step: float) -> dict:
        return {"framework": "torch", "variant": "ddp", "mode": "train", "preset": "cpu", "items_per_step": 32,
                "distributed": {"world_size": ws, "step_ms": step}}

    rows = scaling_table([v(1, 10.0), v(4, 12.5), {"framework": "torch", "variant": "other"}])
    assert [r["world_size"] for r in rows] == [1, 4]
    assert rows[1]["speedup"] == pytest.approx(3.2) and rows[1]["efficiency"] == pytest.approx(0.8)
    assert rows[1]["items_per_s"] == pytest.approx(4 * 32 / 0.0125)
    assert rows[1]["time_ratio"] == pytest.approx(1 / 3.2)
    assert scaling_table([v(2, 10.0)]) == []  # one world size: nothing to compare


# --------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    r = run_cli("trace", "-s", SCENARIO, "--nproc", "2", "--preset", "straggler", "--out", str(out),
                "--json", "--timeout", "240", *FEW_STEPS, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@needs_torch
@pytest.mark.slow
def test_two_ranks_gloo_merged_trace_communication_and_straggler(two_ranks):
    from profiler.export.chrome_check import check_chrome_trace, load_trace

    doc = two_ranks
    assert doc["status"] == "ok"
    (v,) = doc["variants"]
    assert v["status"] == "ok" and v["breakdown_ms"]["communication"] > 0
    d = v["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["launcher"] == "torch.distributed.run"
    assert [r["rank"] for r in d["ranks"]] == [0, 1] and all(r["status"] == "ok" for r in d["ranks"])
    for r in d["ranks"]:
        assert r["breakdown_ms"]["communication"] > 0 and r["collectives"]["spans"] > 0
        assert r["overlap"]["communication_ms"] > 0
    # rank 1 sleeps 40 ms in a data-loading region every step: it is the straggler, and says why
    st = d["straggler"]
    assert st["slowest_rank"] == 1 and st["category"] == "data_loading" and st["category_excess_ms"] > 20
    c = d["clock"]
    assert c["rounds"] >= 8 and set(c["offsets_ns"]) == {"0", "1"} and c["max_residual_ns"] == 0
    # one host: the truth is 0, and the exchange's own error stays within its bound
    assert c["exchange_error_ns"] <= c["bound_ns"]["1"] and c["drift_ns"] is not None

    trace = load_trace(doc["trace"])
    assert check_chrome_trace(trace) == []
    evs = trace["traceEvents"]
    procs = {e["pid"]: e["args"]["name"] for e in evs if e.get("ph") == "M" and e["name"] == "process_name"}
    assert sorted(n.split(" · ")[0] for n in procs.values()) == ["rank 0/2", "rank 1/2"]
    # Kineto has no category for collectives: ours are user annotations marked args.category
    coll = [e for e in evs if e.get("ph") == "X" and (e.get("args") or {}).get("category") == "collective"]
    assert {e["pid"] for e in coll} == set(procs)

    r = run_cli("report", doc["run_dir"], env={"COLUMNS": "160"}, timeout=120)
    assert r.returncode == 0 and "rank 1 is the slowest" in r.stdout and "residual skew" in r.stdout


def _listening(port: int) -> bool:
    """Whether a socket of this machine listens on ``port`` (read from /proc, no connection made)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 3 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _logs(root: Path) -> str:
    """The launcher's and the ranks' logs under ``root``, tails only: what a failed launch said."""
    parts = []
    for f in sorted(root.rglob("*.log")):
        text = f.read_text(errors="replace")[-1500:]
        parts.append(f"\n--- {f.relative_to(root)}\n{text}")
    return "".join(parts)


@needs_torch
@pytest.mark.slow
def test_two_nodes_on_loopback_merge_on_node_zero(tmp_path):
    port = free_port()
    common = ["-s", SCENARIO, "--nproc", "1", "--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}",
              "--out", str(tmp_path), "--json", "--timeout", "240", *FEW_STEPS]

    def node(n: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "profiler.cli.main", "trace", *common, "--node-rank", str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # node 1 starts once node 0's launcher listens: the test is about the merge, not about how
    # torch's rendezvous copes with a peer that comes up late on a loaded machine
    procs = [node(0)]
    deadline = time.monotonic() + 120
    while not _listening(port) and procs[0].poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    procs.append(node(1))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, e) in zip(procs, outs, strict=True):
        assert p.returncode == 0, e[-2000:] + _logs(tmp_path)
    node0, node1 = (json.loads(o) for o, _ in outs)
    d0 = node0["variants"][0]["distributed"]
    assert d0["nnodes"] == 2 and d0["world_size"] == 2 and d0["ranks_here"] == [0, 1]
    assert all(r["status"] == "ok" for r in d0["ranks"])
    d1 = node1["variants"][0]["distributed"]
    assert d1["ranks_here"] == [1] and "node 0" in d1["note"]
    from profiler.export.chrome_check import check_chrome_trace, load_trace

    trace = load_trace(node0["trace"])
    assert check_chrome_trace(trace) == []
    names = [e["args"]["name"] for e in trace["traceEvents"] if e.get("ph") == "M" and e["name"] == "process_name"]
    assert sorted(n.split(" · ")[0] for n in names) == ["rank 0/2", "rank 1/2"]


@needs_torch
@pytest.mark.slow
def test_crashing_rank_stops_the_others_and_the_run_is_kept(tmp_path):
    r = run_cli("trace", "-s", SCENARIO, "--nproc", "2", "--preset", "crash", "--out", str(tmp_path),
                "--json", "--timeout", "240", *FEW_STEPS, timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["status"] == "failed"
    (v,) = doc["variants"]
    assert v["status"] == "failed" and v["error"].startswith("rank 1 failed: RuntimeError: injected failure")
    d = v["distributed"]
    assert d["failure"]["rank"] == 1 and d["failure"]["stopped"] == [0]
    ranks = {x["rank"]: x for x in d["ranks"]}
    assert ranks[0]["status"] == "failed" and ranks[0]["error"] and "\n" not in ranks[0]["error"]
    # what was collected is kept: both ranks' clean steps before the crash, their files, the trace
    assert ranks[0]["step_ms"] and ranks[1]["step_ms"]
    run_dir = Path(doc["run_dir"])
    wdir = run_dir / "workers" / "torch-ddp-train-ws2"
    for n in (0, 1):
        assert (wdir / f"rank{n}" / "events.parquet").is_file() and (wdir / f"rank{n}" / "result.json").is_file()
    assert Path(doc["trace"]).is_file()
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "failed" and rec["variants"][0]["distributed"]["failure"]["rank"] == 1


def test_plan_keeps_torch_and_skips_other_frameworks_with_the_reason():
    from profiler.core.registry import resolve
    from profiler.run.plan import TraceRequest, plan

    sc = resolve("densenet121_train")
    p = plan(TraceRequest(scenario=sc, launches=launches("1,2", None, None, None)))
    assert [j.key for j in p.jobs] == ["torch-default-train-ws1", "torch-default-train-ws2"]
    assert [j.launch.world_size for j in p.jobs] == [1, 2] and p.jobs[0].launch.backend == "gloo"
    assert {s.framework for s in p.skipped} >= {"tensorflow", "mxnet"}
    assert all("torch.distributed" in s.error for s in p.skipped if s.framework != "torch")
    with pytest.raises(InputError, match="use --framework torch"):
        plan(TraceRequest(scenario=sc, frameworks=["mxnet"], launches=launches("2", None, None, None)))


def test_overlap_on_a_device_run_uses_nccl_and_compute_kernels():
    # built to Kineto's layout as the torch probe stores it (device tids, nccl kernel names); not
    # recorded on a GPU
    from profiler.core.events import KERNEL, device_tid

    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1_000, 9, 0, args={"index": 0, "traced": True})
    b.span(KERNEL, "ncclDevKernel_AllReduce_Sum_f32_RING_LL", 400, 400, 9, device_tid(0, 20))
    b.span(KERNEL, "ampere_sgemm_128x64_nn", 100, 500, 9, device_tid(0, 7))
    b.span(KERNEL, "vectorized_elementwise_kernel", 700, 50, 9, device_tid(0, 7))
    o = comm_overlap(b.build(), 9, [StepWindow(0, 0, 1_000, True, 9)])
    assert o["basis"] == "device kernels"
    assert o["communication_ms"] == pytest.approx(400e-6)
    assert o["overlapped_ms"] == pytest.approx(250e-6)  # 400..600 and 700..750
    assert o["exposed_ms"] == pytest.approx(150e-6)


def test_collective_recorder_tracks_buckets_and_labels_nccl_host_windows():
    from profiler.probes.collectives import COLLECTIVE_TID_BASE, CollectiveRecorder

    rec = CollectiveRecorder(pid=5, world_size=2, backend="gloo")
    for step in range(2):
        rec.add(1, 100 + step * 1000, 300 + step * 1000, 4_000)
        rec.add(0, 250 + step * 1000, 400 + step * 1000, 8_000)
    t = rec.table()
    rows = list(t.iter_spans())
    assert {r["cat"] for r in rows} == {"collective"} and len(rows) == 4
    assert {r["tid"] for r in rows} == {COLLECTIVE_TID_BASE, COLLECTIVE_TID_BASE + 1}
    assert t.threads[(5, COLLECTIVE_TID_BASE)] == "allreduce bucket 0"
    assert rec.info() == {"backend": "gloo", "spans": 4, "buckets": 2, "bytes_per_step": 12_000}
    nccl = CollectiveRecorder(pid=5, world_size=2, backend="nccl")
    nccl.add(0, 0, 10, 8)
    assert [r["cat"] for r in nccl.table().iter_spans()] == ["region"]


def test_launcher_that_starts_no_rank_is_the_reported_failure(tmp_path):
    from profiler.core.protocol import LAUNCHER_LOG
    from profiler.core.scenario import WorkloadSpec
    from profiler.run.process import WorkerJob
    from profiler.run.torchrun import Launch, collect_ranks

    (tmp_path / LAUNCHER_LOG).write_text("torch.distributed.DistNetworkError: The client socket has timed out\n")
    job = WorkerJob("k", WorkloadSpec("s", "torch", "v", "train", "cpu", "cpu"), None,
                    launch=Launch(nproc=2, nnodes=2, node_rank=1, host="10.1.1.1", port=29500))
    out = collect_ranks(job, tmp_path, 1, None, 1.0, 29500)
    assert out.status == "failed"
    assert out.error == "launcher exited with code 1: torch.distributed.DistNetworkError: The client socket has timed out"
    d = out.result["distributed"]
    assert [r["rank"] for r in d["ranks"]] == [2, 3] and d["failure"] is None and d["ranks_here"] == []
