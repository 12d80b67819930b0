"""``profiler report DIR --scheduler ADDRESS``: a trace folder's ranks imported on a Dask cluster (a
LocalCluster of two worker processes started here) give the same JSON figures as the run on this
machine; the stores are written once and reused; an unreachable scheduler is one line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gpu-traces"
TWO_RANKS = TRACES / "hta-trace_filter-2ranks"
DDP2 = Path(__file__).parent / "data" / "kineto" / "ddp2"

#: what differs between two reports of the same traces by construction: where and when each was written
RUN_SPECIFIC = {"run_dir", "trace", "id", "created", "wall_s", "first"}


def _figures(doc: dict) -> dict:
    def strip(x: object) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in RUN_SPECIFIC}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(doc)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                     scheduler_kwargs={"dashboard": False})
    try:
        yield c
    finally:
        c.close()


@pytest.mark.slow
@pytest.mark.parametrize("folder", [
    pytest.param(TWO_RANKS, id="real-nccl-2ranks",
                 marks=pytest.mark.skipif(not TWO_RANKS.is_dir(), reason=f"the real GPU traces are not here ({TRACES})")),
    pytest.param(DDP2, id="gloo-2ranks"),
])
def test_a_cluster_of_two_workers_gives_the_local_figures(cli, cluster, tmp_path, folder):
    traces = tmp_path / "traces"
    shutil.copytree(folder, traces)
    local = cli("report", str(traces), "--out", str(tmp_path / "a"), "--json",
                env={"PROFILER_CACHE_DIR": str(tmp_path / "cache-local"), "PROFILER_SCHEDULER": ""})
    assert local.returncode == 0, local.stderr
    remote = cli("report", str(traces), "--out", str(tmp_path / "b"), "--json", "--scheduler", cluster.scheduler_address,
                 env={"PROFILER_CACHE_DIR": str(tmp_path / "cache-cluster")})
    assert remote.returncode == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert _figures(a) == _figures(b)
    d = b["variants"][0]["distributed"]
    assert d["ranks_here"] == [0, 1] and d["straggler_cost"]["totals"]["steps"] >= 2
    # the stores were written by the cluster's workers, not by the client
    stores = sorted((tmp_path / "cache-cluster" / "stores").glob("*/rank*/events.parquet"))
    assert len(stores) == 2
    manifest = json.loads(next((tmp_path / "cache-cluster" / "stores").glob("*/fleet.json")).read_text())
    assert {r["rank"] for r in manifest["result"]["ranks"]} == {0, 1}
    # a second report reads the stores again, imports nothing
    before = {p: p.stat().st_mtime_ns for p in stores}
    again = cli("report", str(traces), "--out", str(tmp_path / "c"), "--json", "--scheduler", cluster.scheduler_address,
                env={"PROFILER_CACHE_DIR": str(tmp_path / "cache-cluster")})
    assert again.returncode == 0, again.stderr
    assert _figures(json.loads(again.stdout)) == _figures(a)
    assert {p: p.stat().st_mtime_ns for p in stores} == before


def test_each_rank_brings_back_its_importer_facts(cluster, tmp_path):
    """What the client needs to assemble the ranks (their facts) comes back with each rank's store."""
    from profiler.run.fleet import run_fleet

    traces = sorted(DDP2.glob("rank*.json.gz"))
    res = run_fleet(traces, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert [r["rank"] for r in res["ranks"]] == [0, 1] and not res["failed"]
    for r in res["ranks"]:
        assert r["facts"]["distributed_info"]["rank"] == r["rank"] and isinstance(r["facts"]["host_pid"], int)
        json.dumps(r["facts"])  # kept in the stores' manifest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(cli, tmp_path):
    traces = tmp_path / "traces"
    shutil.copytree(DDP2, traces)
    addr = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    r = cli("report", str(traces), "--out", str(tmp_path / "o"), env={"PROFILER_CACHE_DIR": str(tmp_path / "cache"),
                                                                   "PROFILER_SCHEDULER": addr})
    assert time.monotonic() - t0 < 30
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and addr in lines[0] and "cannot connect" in lines[0]


@pytest.mark.slow
def test_a_second_report_of_unchanged_traces_is_the_first_one_kept(cli, tmp_path):
    """The finished report is kept beside the stores: a second report of the same traces gets its own
    run directory with the same figures and files (the large ones linked, not written again), and a
    changed trace makes the report again."""
    traces = tmp_path / "traces"
    shutil.copytree(DDP2, traces)
    env = {"PROFILER_CACHE_DIR": str(tmp_path / "cache"), "PROFILER_SCHEDULER": ""}

    def report(out: str) -> tuple[dict, Path]:
        r = cli("report", str(traces), "--out", str(tmp_path / out), "--json", env=env)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        return doc, Path(doc["run_dir"])

    first, a = report("a")
    second, b = report("b")
    assert a != b and json.loads((b / "run.json").read_text())["id"] == b.name
    assert _figures(second) == _figures(first)
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    events = next(a.glob("workers/*/events.parquet"))
    same = b / events.relative_to(a)
    assert same.read_bytes() == events.read_bytes() and (b / "trace.json.gz").read_bytes() == (a / "trace.json.gz").read_bytes()
    assert events.stat().st_ino == same.stat().st_ino  # linked: nothing was analysed or written again
    created = json.loads((b / "run.json").read_text())["created"]
    assert f"created {created}" in (b / "report.html").read_text()
    # the first run directory removed: the kept report still serves
    shutil.rmtree(a)
    third, c = report("c")
    assert _figures(third) == _figures(first) and (c / "trace.json.gz").is_file()
    # a trace changed (its modification time): imported and reported again
    f = next(traces.glob("*.json.gz"))
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    fourth, d = report("d")
    assert _figures(fourth) == _figures(first)
    assert next(d.glob("workers/*/events.parquet")).stat().st_ino != same.stat().st_ino
