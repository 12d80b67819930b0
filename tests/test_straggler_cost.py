"""The straggler's cost (``profiler.analysis.ranks.straggler_cost``): who arrived last at each
collective, how long the others waited, and the what-if step. Checked on a three-rank table worked
out by hand, and on the real two-rank NCCL traces against a computation over their raw JSON written
here (kernel start times per collective per rank, the folder's clock alignment redone from the
JSON, the dependency-chain model recomputed with plain loops)."""

from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

import pytest
from reference_intervals import length, union

from profiler.analysis.ranks import straggler_cost

MS = 1_000_000
TWO_RANKS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gpu-traces" / "hta-trace_filter-2ranks"


def _step(start: float, end: float, *colls: tuple[float, float]) -> dict:
    return {"start_ns": int(start * MS), "end_ns": int(end * MS),
            "collectives": [("allreduce", int(a * MS), int(e * MS)) for a, e in colls]}


def three_ranks() -> dict:
    """Step 0 on three ranks (ms): arrivals 10/12/13 at the first collective and 20/18/21 at the
    second; both end at 14 and 23 on every rank; steps end at 30/29/28."""
    return {
        0: {0: _step(0, 30, (10, 14), (20, 23))},
        1: {0: _step(0, 29, (12, 14), (18, 23)), 1: _step(29, 40, (35, 36))},  # step 1: rank 1 only
        2: {0: _step(0, 28, (13, 14), (21, 23))},
    }


def test_three_ranks_worked_by_hand():
    out = straggler_cost(three_ranks())
    (st,) = out["steps"]  # step 1 is not on every rank: left out
    assert st["step"] == 0 and st["collectives"] == 2
    # rank 2 arrives last at both; the others wait 3+1 (rank 0) and 1+3 (rank 1)
    assert [c["last_rank"] for c in st["per_collective"]] == [2, 2]
    assert st["wait_ms"] == pytest.approx({"0": 4.0, "1": 4.0, "2": 0.0})
    assert st["last_rank"] == 2
    # segments D (compute between collectives): rank 0 [10, 6, 7], rank 1 [12, 4, 6], rank 2 [13, 7, 5];
    # collective times are the shortest kernels, 1 and 2 ms: modelled 13 + 7 + 7 + 3 = 30 (the step)
    assert st["step_ms"] == pytest.approx(30.0) and st["modelled_step_ms"] == pytest.approx(30.0)
    assert st["model_error_pct"] == pytest.approx(0.0)
    # rank 2 at the others' median pace: each segment's maximum becomes the others' (the median of
    # two never exceeds their max): 12 + 6 + 7 + 3 = 28
    assert st["what_if_step_ms"] == pytest.approx(28.0) and st["saved_ms"] == pytest.approx(2.0)
    pr = out["per_rank"]
    assert {r: v["saved_ms"] for r, v in pr.items()} == pytest.approx({"0": 1.0, "1": 0.0, "2": 2.0})
    assert {r: v["wait_ms"] for r, v in pr.items()} == pytest.approx({"0": 4.0, "1": 4.0, "2": 0.0})
    assert {r: v["last_at"] for r, v in pr.items()} == {"0": 0, "1": 0, "2": 2}
    t = out["totals"]
    assert (t["steps"], t["collectives"], t["waits_beyond_kernel"]) == (1, 2, 0)
    assert t["step_ms"] == pytest.approx(30.0) and t["what_if_step_ms"] == pytest.approx(28.0)
    assert t["saved_pct"] == pytest.approx(100 * 2 / 30)
    assert out["costliest_rank"] == 2 and "rank 2 arrived last at 2 of 2" in out["sentence"]


def test_clock_skew_changes_waits_not_the_what_if():
    """Segments are differences on one rank's clock: shifting a rank moves its arrivals (the waits,
    who is last) but neither the modelled step nor what each rank's pace costs."""
    base = straggler_cost(three_ranks())
    shifted = three_ranks()
    shifted[0] = {0: _step(5, 35, (15, 19), (25, 28))}  # rank 0's clock 5 ms ahead
    out = straggler_cost(shifted)
    assert out["steps"][0]["wait_ms"]["0"] != pytest.approx(base["steps"][0]["wait_ms"]["0"])
    assert out["steps"][0]["modelled_step_ms"] == pytest.approx(base["steps"][0]["modelled_step_ms"])
    assert out["steps"][0]["last_rank"] == 0  # now seen arriving last at the first collective
    assert {r: v["saved_ms"] for r, v in out["per_rank"].items()} == pytest.approx(
        {r: v["saved_ms"] for r, v in base["per_rank"].items()})


def test_unequal_collective_counts_and_steps_without_any():
    ranks = {0: {0: _step(0, 10, (2, 3), (5, 6)), 1: _step(10, 20)},
             1: {0: _step(0, 10, (4, 5)), 1: _step(10, 20)}}
    out = straggler_cost(ranks)
    s0, s1 = out["steps"]
    assert s0["collectives"] == 1 and s0["collectives_per_rank"] == {"0": 2, "1": 1}
    assert s0["wait_ms"] == pytest.approx({"0": 2.0, "1": 0.0})
    assert s1["what_if_step_ms"] is None and s1["last_rank"] is None and "no collective" in s1["note"]
    assert out["totals"]["steps"] == 1
    assert straggler_cost({0: {0: _step(0, 1, (0, 1))}})["sentence"].startswith("fewer than two ranks")


def test_collectives_in_flight_together_count_their_wait_once():
    """Asynchronous calls (DDP's buckets): rank 1 arrives 5 ms late at both of two overlapping
    collectives; rank 0 waited from 1 to 7 ms, 6 ms, not 5 + 5."""
    ranks = {0: {0: _step(0, 10, (1, 8), (2, 9))}, 1: {0: _step(0, 10, (6, 8), (7, 9))}}
    st = straggler_cost(ranks)["steps"][0]
    assert st["wait_ms"] == pytest.approx({"0": 6.0, "1": 0.0})
    assert [c["max_wait_ms"] for c in st["per_collective"]] == pytest.approx([5.0, 5.0])


# ----------------------------------------------------------------- the real two-rank traces


def _raw(rank: int) -> tuple[list[tuple[int, float, float]], dict[int, list[tuple[float, float]]], float]:
    """Steps ``(index, start, end)``, NCCL kernels ``(start, end)`` per step, and the end of the
    first ``nccl:`` annotation of the first step (µs, as written)."""
    doc = json.loads(gzip.decompress((TWO_RANKS / f"sampled_rank-{rank}.json.gz").read_bytes()))
    ev = [e for e in doc["traceEvents"] if e.get("ph") == "X"]
    steps = sorted((int(e["name"].split("#")[1]), e["ts"], e["ts"] + e["dur"]) for e in ev
                   if e["name"].startswith("ProfilerStep#"))
    nccl = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") == "kernel" and "nccl" in e["name"].lower())
    per = {i: [k for k in nccl if a <= k[0] < b] for i, a, b in steps}
    _, a0, b0 = steps[0]
    first = min((e for e in ev if e["name"].startswith("nccl:") and a0 <= e["ts"] < b0), key=lambda e: e["ts"])
    return steps, per, first["ts"] + first["dur"]


@pytest.mark.skipif(not TWO_RANKS.is_dir(), reason=f"the real GPU traces are not here ({TWO_RANKS})")
def test_real_two_rank_traces_against_their_raw_json(tmp_path):
    from profiler.analysis.ranks import merge_rank_traces
    from profiler.importers import load_trace

    _, section = merge_rank_traces(load_trace(TWO_RANKS).ranks)
    got = section["straggler_cost"]
    assert got["basis"] == "communication kernels (device)"

    raw = {r: _raw(r) for r in (0, 1)}
    # the folder's alignment (the traces name no common host): rank 1 moved so that the first
    # collective annotation of the first step ends together on both
    off = {0: 0.0, 1: raw[0][2] - raw[1][2]}
    assert section["alignment"]["offsets_ns"]["1"] == pytest.approx(off[1] * 1e3)
    steps = {r: {i: (a + off[r], b + off[r]) for i, a, b in raw[r][0]} for r in (0, 1)}
    kern = {r: {i: [(s + off[r], e + off[r]) for s, e in ks] for i, ks in raw[r][1].items()} for r in (0, 1)}
    total_saved = 0.0
    total_wait = {0: 0.0, 1: 0.0}
    assert [s["step"] for s in got["steps"]] == sorted(steps[0])
    for st in got["steps"]:
        i = st["step"]
        K = min(len(kern[0][i]), len(kern[1][i]))
        assert st["collectives"] == K == 5
        intervals: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
        caused = {0: 0.0, 1: 0.0}
        lasts = []
        for k in range(K):
            arr = {r: kern[r][i][k][0] for r in (0, 1)}
            last = max((0, 1), key=lambda r: (arr[r], -r))
            lasts.append(last)
            for r in (0, 1):
                intervals[r].append((arr[r], arr[last]))
                caused[last] += arr[last] - arr[r]
        wait = {r: length(union(intervals[r])) for r in (0, 1)}
        assert [c["last_rank"] for c in st["per_collective"]] == lasts
        assert st["wait_ms"] == pytest.approx({str(r): w / 1e3 for r, w in wait.items()}, abs=1e-6)
        slow = max((0, 1), key=lambda r: (caused[r], -r))
        assert st["last_rank"] == slow
        # the model: segments of each rank's own compute; the collective's time is its shortest kernel
        seg = {}
        for r in (0, 1):
            a, b = steps[r][i]
            ks = kern[r][i][:K]
            seg[r] = [max(0.0, ks[0][0] - a)] + [max(0.0, ks[k][0] - ks[k - 1][1]) for k in range(1, K)] \
                + [max(0.0, b - ks[-1][1])]
        x = sum(min(kern[r][i][k][1] - kern[r][i][k][0] for r in (0, 1)) for k in range(K))
        modelled = sum(max(seg[0][j], seg[1][j]) for j in range(K + 1)) + x
        other = 1 - slow  # the median of one other rank is that rank
        what_if_model = sum(max(seg[other][j], statistics.median([seg[other][j]])) for j in range(K + 1)) + x
        job = max(steps[r][i][1] - steps[r][i][0] for r in (0, 1))
        assert st["modelled_step_ms"] == pytest.approx(modelled / 1e3, abs=1e-6)
        assert st["what_if_step_ms"] == pytest.approx(job * what_if_model / modelled / 1e3, abs=1e-6)
        total_saved += job - job * what_if_model / modelled
        for r in (0, 1):
            total_wait[r] += wait[r]
    assert got["totals"]["saved_ms"] == pytest.approx(total_saved / 1e3, abs=1e-6)
    assert {r: v["wait_ms"] for r, v in got["per_rank"].items()} == pytest.approx(
        {str(r): w / 1e3 for r, w in total_wait.items()}, abs=1e-6)
    # these are 2 of 128 ranks: some measured waits are longer than the waiting kernel, and it is said
    beyond = sum(1 for i in kern[0] for k in range(5) for r in (0, 1)
                 if max(kern[q][i][k][0] for q in (0, 1)) - kern[r][i][k][0] > kern[r][i][k][1] - kern[r][i][k][0])
    assert got["totals"]["waits_beyond_kernel"] == beyond > 0 and "exceed the waiting rank's kernel" in got["sentence"]
