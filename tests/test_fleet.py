"""The many-rank task graph (``profiler/run/fleet.py``): a LocalCluster of two worker processes gives
the in-process result; a rank that does not parse is named, the others reported; an unreachable
scheduler is a one-line error within seconds."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import statistics
import time
from pathlib import Path

import pytest

from profiler.core.errors import ProfilerError
from profiler.run.fleet import SCHEDULER_ENV, run_fleet

DDP2 = Path(__file__).parent / "data" / "kineto" / "ddp2"


def rank_set(tmp_path: Path) -> list[Path]:
    d = tmp_path / "traces"
    shutil.copytree(DDP2, d)
    bad = d / "rank2.pt.trace.json"
    bad.write_text('{"traceEvents": [{"ph": "X", "name": ')  # cut off mid-file
    return [d / "rank0.pt.trace.json.gz", d / "rank1.pt.trace.json.gz", bad]


def expected(path: Path) -> dict:
    """Steps and events of one rank, read from its JSON here."""
    with gzip.open(path, "rt") as f:
        x = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    steps = [e["dur"] * 1000 for e in x if e["name"].startswith("ProfilerStep#")]
    return {"steps": len(steps), "mean_step_ms": statistics.fmean(steps) / 1e6, "spans": len(x)}


@pytest.mark.slow
def test_local_cluster_of_two_processes_equals_the_in_process_run(tmp_path):
    traces = rank_set(tmp_path)
    local = run_fleet(traces, tmp_path / "local", workers=2)
    here = run_fleet(traces, tmp_path / "here", scheduler="in-process")
    assert local.pop("out") != here.pop("out")
    assert local == here
    assert [r["rank"] for r in local["ranks"]] == [0, 1]
    for r in local["ranks"]:
        want = expected(traces[r["rank"]])
        assert (r["steps"], r["spans"]) == (want["steps"], want["spans"])
        assert r["mean_step_ms"] == pytest.approx(want["mean_step_ms"], abs=1e-6)
        assert (tmp_path / "local" / r["store"]).is_file()
    (bad,) = local["failed"]
    assert bad["rank"] == 2 and "rank2.pt.trace.json" in bad["error"] and len(bad["error"].splitlines()) == 1
    assert local["n_ranks"] == 3 and local["steps"] == sum(r["steps"] for r in local["ranks"])
    means = {r["rank"]: r["mean_step_ms"] for r in local["ranks"]}
    assert local["slowest_rank"] == max(means, key=means.get)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line_within_seconds(tmp_path, monkeypatch):
    traces = rank_set(tmp_path)[:2]
    addr = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(ProfilerError) as e:
        run_fleet(traces, tmp_path / "x", scheduler=addr, connect_timeout_s=2)
    assert time.monotonic() - t0 < 15
    assert addr in str(e.value) and len(str(e.value).splitlines()) == 1
    monkeypatch.setenv(SCHEDULER_ENV, addr)  # the environment names the scheduler when no argument does
    with pytest.raises(ProfilerError, match="cannot connect"):
        run_fleet(traces, tmp_path / "y", connect_timeout_s=2)
