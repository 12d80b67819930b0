"""Folders of traces read as the ranks of one job (``profiler report DIR``): the layouts users have,
each rank's step, breakdown and GPU figures checked against an interval computation over the raw
JSON written here, and traces that are not of one job refused (or merged with ``--force``)."""

from __future__ import annotations

import gzip
import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
from reference_intervals import length, union

from profiler.core.errors import InputError
from profiler.importers import is_trace_path, job_mismatches, load_trace, trace_folder_files

TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gpu-traces"
TWO_RANKS = TRACES / "hta-trace_filter-2ranks"
DIFF = TRACES / "hta-trace_diff"

needs_traces = pytest.mark.skipif(not TWO_RANKS.is_dir() or not DIFF.is_dir(),
                                  reason=f"the real GPU traces are not here ({TRACES})")


# ------------------------------------------------------------------ independent figures

def _clip(iv: list[tuple[float, float]], windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return union([(max(s, a), min(e, b)) for s, e in iv for a, b in windows if min(e, b) > max(s, a)])


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def raw_rank_figures(path: Path) -> dict:
    """One rank's figures straight from its JSON (µs as written): steps are the ``ProfilerStep#N``
    spans; busy = the union of kernels inside the steps over the steps' time; communication = NCCL
    kernels, exposed where no other kernel runs; launch delay (HTA's) = device start − end of the
    runtime call with the same correlation id, clipped at 0, for launch calls inside the steps."""
    doc = json.loads(gzip.decompress(path.read_bytes()))
    ev = [e for e in doc["traceEvents"] if e.get("ph") == "X"]
    steps = sorted((float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in ev
                   if str(e.get("name", "")).startswith("ProfilerStep#"))
    kern = [e for e in ev if e.get("cat") == "kernel"]
    comm = _clip([(e["ts"], e["ts"] + e["dur"]) for e in kern if "nccl" in e["name"].lower()], steps)
    comp = _clip([(e["ts"], e["ts"] + e["dur"]) for e in kern if "nccl" not in e["name"].lower()], steps)
    busy = _clip([(e["ts"], e["ts"] + e["dur"]) for e in kern], steps)
    step_time = sum(b - a for a, b in steps)
    rt = {e["args"]["correlation"]: e for e in ev if e.get("cat") in ("cuda_runtime", "cuda_driver")
          and "correlation" in (e.get("args") or {})
          and any(a <= e["ts"] < b for a, b in steps)}
    delays = [max(0.0, d["ts"] - (rt[c]["ts"] + rt[c]["dur"])) for d in ev
              if d.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")
              and (c := (d.get("args") or {}).get("correlation")) in rt]
    n = len(steps)
    return {
        "rank": doc["distributedInfo"]["rank"],
        "steps": n,
        "step_ms": statistics.fmean(b - a for a, b in steps) / 1e3,
        "busy_pct": 100.0 * length(busy) / step_time,
        "comm_ms": length(comm) / n / 1e3,
        "exposed_comm_ms": (length(comm) - _overlap(comm, comp)) / n / 1e3,
        "launch_delay_us": float(np.median(delays)),
    }


@needs_traces
def test_every_rank_of_a_real_two_rank_folder_has_its_own_figures():
    from profiler.analysis.ranks import merge_rank_traces

    imp = load_trace(TWO_RANKS)
    assert sorted(imp.ranks) == [0, 1]
    _, sec = merge_rank_traces(imp.ranks)
    got = {r["rank"]: r for r in sec["ranks"]}
    for f in sorted(TWO_RANKS.glob("*.json.gz")):
        want = raw_rank_figures(f)
        r = got[want["rank"]]
        assert r["steps"] == want["steps"] and r["step_statistic"] == "mean"
        assert r["step_ms"] == pytest.approx(want["step_ms"], rel=1e-9)
        assert r["busy_pct"] == pytest.approx(want["busy_pct"], rel=1e-6)
        assert r["overlap"]["communication_ms"] == pytest.approx(want["comm_ms"], rel=1e-6)
        assert r["exposed_comm_ms"] == pytest.approx(want["exposed_comm_ms"], rel=1e-6)
        assert r["launch_delay_us"] == pytest.approx(want["launch_delay_us"], rel=1e-6)
        # the breakdown describes the same steps as the step time: it sums to it
        assert sum(v or 0.0 for v in r["breakdown_ms"].values()) == pytest.approx(r["step_ms"], rel=0.01)
    # rank 1 has its own GPU figures, not rank 0's
    assert got[0]["launch_delay_us"] != got[1]["launch_delay_us"] and got[0]["busy_pct"] != got[1]["busy_pct"]
    # busy times within 5% of each other: no rank is marked a straggler
    assert sec["straggler"]["busy_spread_pct"] < 5 and not any(r["straggler"] for r in sec["ranks"])
    assert sec["world_size"] == 128 and "2 of 128" in sec["note"]


def _copy(src: Path, dst: Path, edit=None) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if edit is None:
        shutil.copyfile(src, dst)
    else:
        doc = json.loads(gzip.decompress(src.read_bytes()))
        edit(doc)
        dst.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return dst


@needs_traces
@pytest.mark.parametrize("layout", [
    ("rank-0.json.gz", "rank-1.json.gz"),
    ("host1.123.pt.trace.json.gz", "host2.456.pt.trace.json.gz"),
    ("sampled_rank-0.json.gz", "sampled_rank-1.json.gz"),
    ("node-a/trace.json.gz", "node-b/trace.json.gz"),  # one folder per host
])
def test_the_layouts_users_have_are_read_as_ranks(tmp_path, layout):
    for src, name in zip(sorted(TWO_RANKS.glob("*.json.gz")), layout, strict=True):
        _copy(src, tmp_path / name)
    assert is_trace_path(tmp_path) and len(trace_folder_files(tmp_path)) == 2
    imp = load_trace(tmp_path)
    assert sorted(imp.ranks) == [0, 1] and not imp.facts.get("warnings")


@needs_traces
def test_without_distributed_info_the_rank_comes_from_the_file_name(tmp_path):
    src = sorted(TWO_RANKS.glob("*.json.gz"))
    _copy(src[0], tmp_path / "rank-4.json.gz", lambda d: d.pop("distributedInfo"))
    _copy(src[1], tmp_path / "rank-7.json.gz", lambda d: d.pop("distributedInfo"))
    imp = load_trace(tmp_path)
    assert sorted(imp.ranks) == [4, 7]
    assert {f["rank_from"] for _, f in imp.ranks.values()} == {"file name"}


@pytest.mark.slow
@needs_traces
def test_a_bad_file_among_good_ones_is_named_and_the_good_ones_reported(cli, tmp_path):
    d = tmp_path / "job"
    for src in TWO_RANKS.glob("*.json.gz"):
        _copy(src, d / src.name)
    raw = gzip.decompress((TWO_RANKS / "sampled_rank-1.json.gz").read_bytes())
    (d / "sampled_rank-2.json.gz").write_bytes(gzip.compress(raw[: len(raw) // 3]))  # truncated
    r = cli("report", str(d), "--json", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)["variants"][0]
    assert [x["rank"] for x in v["distributed"]["ranks"]] == [0, 1]
    assert v["imported"]["skipped_files"].keys() == {"sampled_rank-2.json.gz"}
    assert any("sampled_rank-2.json.gz" in w for w in v["warnings"])
    # every rank has its GPU figures in the JSON
    assert all(x["busy_pct"] and x["launch_delay_us"] is not None and x["exposed_comm_ms"] is not None
               and x["breakdown_ms"] and "straggler" in x for x in v["distributed"]["ranks"])


@pytest.mark.slow
@needs_traces
def test_a_folder_of_nothing_readable_is_one_line(cli, tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json.gz").write_bytes(b"\x1f\x8b broken")
    r = cli("report", str(tmp_path), "--out", str(tmp_path / "out"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "no readable torch.profiler trace among 2 files" in line
    assert "a.json" in line and "b.json.gz" in line


# ------------------------------------------------------------------------- one job or not

@pytest.mark.slow
@needs_traces
def test_the_a100_and_v100_pair_is_refused_as_ranks_of_one_job(cli, tmp_path):
    r = cli("report", str(DIFF), "--out", str(tmp_path))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert "\n" not in line
    for what in ("control.json.gz", "test.json.gz", "not the ranks of one job", "world size 8", "vs 2",
                 "A100", "V100", "8.5 days apart", "--force"):
        assert what in line, (what, line)
    assert not list(tmp_path.iterdir())  # nothing saved


@pytest.mark.slow
@needs_traces
def test_force_merges_them_with_a_warning(cli, tmp_path):
    r = cli("report", str(DIFF), "--force", "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)["variants"][0]
    assert [x["rank"] for x in v["distributed"]["ranks"]] == [1, 3]
    assert any("--force" in w and "world size" in w for w in v["warnings"])


def _file(name, rank=None, world=None, backend="nccl", gpus=(), start_s=1.7e9, dur_s=5.0, host=None):
    fx: dict = {"device_properties": [{"name": g} for g in gpus]}
    if world is not None:
        fx["distributed_info"] = {"rank": rank, "world_size": world, "backend": backend}
    if host:
        fx["host_name"] = host
    s = int(start_s * 1e9)
    return {"name": name, "rank": rank, "rank_from": "distributedInfo" if world else "file name", "facts": fx,
            "range_ns": (s, s + int(dur_s * 1e9))}


def test_what_makes_traces_not_one_job():
    ok = [_file("a", 0, 4, gpus=("H100",)), _file("b", 1, 4, gpus=("H100",), start_s=1.7e9 + 30)]
    assert job_mismatches(ok) == []  # 30 s apart: within the allowance for host clocks
    assert job_mismatches([_file("a", 0), _file("b", 1)]) == []  # nothing said either way
    why = job_mismatches([_file("a", 0, 4), _file("b", 0, 4)])
    assert why == ["rank 0 again: a and b"]
    why = job_mismatches([_file("a", 0, 4, backend="nccl"), _file("b", 1, 4, backend="gloo")])
    assert why == ["backend nccl (a) vs gloo (b)"]
    why = job_mismatches([_file("a", 0, 4), _file("b", 1)])
    assert why == ["distributedInfo in a but not in b"]
    assert job_mismatches([_file("a", 5, 4), _file("b", 1, 4)]) == ["a is rank 5 of a world of 4"]
    why = job_mismatches([_file("a", 0, 2, start_s=1.7e9), _file("b", 1, 2, start_s=1.7e9 + 3 * 3600)])
    assert why == ["recorded 3.0 hours apart (a ends before b starts)"]
    # times since boot on two hosts say nothing about when they were recorded; on one host they do
    boot = [_file("a", 0, 2, start_s=100.0, host="x"), _file("b", 1, 2, start_s=9000.0, host="y")]
    assert job_mismatches(boot) == []
    boot = [_file("a", 0, 2, start_s=100.0, host="x"), _file("b", 1, 2, start_s=9000.0, host="x")]
    assert len(job_mismatches(boot)) == 1


def test_one_unreadable_file_alone_is_its_own_error(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{}")
    with pytest.raises(InputError):
        load_trace(f)


HTA_PY = Path(__file__).resolve().parent.parent / ".venv-hta" / "bin" / "python"
HTA_SCRIPT = """
import json, logging, sys, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.WARNING)
from hta.trace_analysis import TraceAnalysis
a = TraceAnalysis(trace_dir=sys.argv[1], include_last_profiler_step=True)
ov = a.get_comm_comp_overlap(visualize=False)
st = a.get_cuda_kernel_launch_stats(ranks=[0, 1], visualize=False)
print(json.dumps({int(r): {"overlap_pct": float(ov[ov["rank"] == r]["comp_comm_overlap_pctg"].iloc[0]),
                           "launch_delay_us": float(st[r]["launch_delay"].median())} for r in (0, 1)}))
"""


@pytest.mark.slow
@needs_traces
@pytest.mark.skipif(not HTA_PY.is_file(), reason=f"HolisticTraceAnalysis is not installed ({HTA_PY})")
def test_each_ranks_overlap_and_launch_delay_are_htas(tmp_path):
    import subprocess

    from profiler.analysis.ranks import merge_rank_traces

    script = tmp_path / "hta_figures.py"
    script.write_text(HTA_SCRIPT)
    r = subprocess.run([str(HTA_PY), str(script), str(TWO_RANKS)], capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    hta = {int(k): v for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
    _, sec = merge_rank_traces(load_trace(TWO_RANKS).ranks)
    for rk in sec["ranks"]:
        want = hta[rk["rank"]]
        assert rk["overlap"]["overlap_pct"] == pytest.approx(want["overlap_pct"], abs=0.01)  # HTA rounds to 0.01
        assert rk["launch_delay_us"] == pytest.approx(want["launch_delay_us"], rel=0.01)


@needs_traces
def test_a_trace_budget_on_a_folder_is_kept_rank_by_rank(tmp_path, monkeypatch):
    """``report DIR --trace-budget MB``: no merged table of every rank (merge_rank_traces is not
    called); each rank's part of the Chrome trace is kept under an equal share of the budget, and the
    figures are those of the report without a budget."""
    import profiler.analysis.ranks as ranks
    from profiler.run.imported import import_as_run

    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    free, _ = import_as_run(TWO_RANKS, tmp_path / "free", scheduler="in-process")

    def merged(*a, **k):
        raise AssertionError("the ranks were merged into one table")

    monkeypatch.setattr(ranks, "merge_rank_traces", merged)
    budget = 2.0
    rec, run = import_as_run(TWO_RANKS, tmp_path / "budget", budget_mb=budget, scheduler="in-process")
    tb = rec.sections["trace_budget"]
    assert tb["budget_mb"] == budget and [p["budget_mb"] for p in tb["parts"]] == [budget / 2] * 2
    assert tb["dropped_spans"] > 0 and all(p["json_mb"] <= budget / 2 for p in tb["parts"])
    text = gzip.decompress(run.trace_file.read_bytes())
    assert len(text) / 1e6 <= budget * 1.02
    assert json.loads(text)["otherData"]["trace_budget"] == tb
    a, b = free.variants[0], rec.variants[0]
    assert a.step_ms.median == b.step_ms.median and a.breakdown == b.breakdown
    assert [r["step_ms"] for r in a.sections["distributed"]["ranks"]] == \
        [r["step_ms"] for r in b.sections["distributed"]["ranks"]]


def _overlapping_slices(doc: dict) -> list[tuple]:
    """Complete events that start inside another on their track (pid, tid) and end after it: what
    trace viewers drop (Perfetto's ``slice_drop_overlapping_complete_event``)."""
    tracks: dict[tuple, list] = {}
    for e in doc["traceEvents"]:
        if e.get("ph") == "X":
            tracks.setdefault((e["pid"], e["tid"]), []).append((float(e["ts"]), float(e["ts"]) + float(e["dur"]), e["name"]))
    bad = []
    for key, evs in tracks.items():
        stack: list[tuple] = []
        for s, t, name in sorted(evs, key=lambda x: (x[0], -x[1])):
            while stack and stack[-1][1] <= s:
                stack.pop()
            if stack and t > stack[-1][1]:
                bad.append((key, name, stack[-1][2]))
            stack.append((s, t, name))
    return bad


@needs_traces
def test_the_ranks_chrome_trace_has_no_slice_a_viewer_drops(tmp_path, monkeypatch):
    """Every rank's trace has Kineto's ``Spans`` process (pid "Spans", the profiler's whole-run span):
    written rank by rank, the second rank's span overlapped the first's on one track and Perfetto
    dropped it. Each rank's clashing processes are renumbered, positive and within 32 bits."""
    from profiler.run.imported import import_as_run

    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    _, run = import_as_run(TWO_RANKS, tmp_path / "out", scheduler="in-process")
    doc = json.loads(gzip.decompress(run.trace_file.read_bytes()))
    assert _overlapping_slices(doc) == []
    pids = {e["pid"] for e in doc["traceEvents"] if "pid" in e}
    assert all(-(2**31) <= p < 2**31 for p in pids)
    names = {e["pid"]: e["args"]["name"] for e in doc["traceEvents"] if e.get("name") == "process_name"}
    spans = sorted(n for n in names.values() if n.startswith("Spans"))
    assert spans == ["Spans", "Spans (rank 1)"]
    assert sum(1 for e in doc["traceEvents"] if e.get("name", "").startswith("PyTorch Profiler")) == 2
    from tests.test_chrome_export import _perfetto

    try:
        check = _perfetto()
    except pytest.skip.Exception:
        return  # the independent check above stands alone
    got = check(run.trace_file)
    assert got["ok"] and got["errors"] == [], got["errors"]


@needs_traces
def test_every_event_of_the_merged_store_carries_its_rank(tmp_path, monkeypatch):
    """The merged store is written rank by rank: each event's rank is the rank whose trace it came
    from, Kineto's ``Spans`` process (whose name says no rank) included."""
    import duckdb

    from profiler.core.parquet import table_path
    from profiler.run.imported import import_as_run

    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    rec, run = import_as_run(TWO_RANKS, tmp_path / "out", scheduler="in-process")
    events = table_path(run.path / rec.variants[0].events, "events")
    got = dict(duckdb.sql(f"select rank, count(*) from '{events}' group by rank").fetchall())
    assert None not in got and sorted(got) == [0, 1], got
    spans = dict(duckdb.sql(f"select rank, count(*) from '{events}' where name like 'PyTorch Profiler%' "
                            "group by rank").fetchall())
    assert spans == {0: 1, 1: 1}
