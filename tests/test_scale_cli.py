"""``profiler scale``: thread lists, run order, pinning, bad input, busy-thread verification on a
framework-free workload, and a 1- and 2-thread sweep of a tiny FCN in torch end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.core.errors import InputError
from profiler.run.thread_sweep import (
    ScaleRequest,
    default_thread_counts,
    parse_threads,
    pin_cpus,
    plan_scale,
    run_order,
)
from tests.conftest import DATA, needs_torch

SPINNER = DATA / "scenarios" / "thread_spinner.py"
TINY_FCN = DATA / "scenarios" / "tiny_fcn.py"


# ---------------------------------------------------------------------------------- thread lists
def test_parse_threads_sorts_and_dedupes() -> None:
    assert parse_threads("4,1,2,2") == [1, 2, 4]
    assert parse_threads(" 8 ") == [8]
    assert parse_threads(None) is None


@pytest.mark.parametrize("bad", ["", ",", "0", "-1", "1,,2", "a,2", "1.5", "2,0"])
def test_parse_threads_rejects_non_positive_integers(bad: str) -> None:
    with pytest.raises(InputError):
        parse_threads(bad)


@pytest.mark.parametrize(
    "cores,expected", [(1, [1]), (2, [1, 2]), (6, [1, 2, 4, 6]), (8, [1, 2, 4, 8]), (12, [1, 2, 4, 8, 12])]
)
def test_default_threads_are_powers_of_two_plus_the_core_count(cores: int, expected: list[int]) -> None:
    assert default_thread_counts(cores) == expected


def test_run_order_alternates_direction_between_repeats() -> None:
    order = run_order(["a", "b"], [1, 2], 3)
    assert order == [
        (0, 1, "a"), (0, 1, "b"), (0, 2, "a"), (0, 2, "b"),
        (1, 2, "b"), (1, 2, "a"), (1, 1, "b"), (1, 1, "a"),
        (2, 1, "a"), (2, 1, "b"), (2, 2, "a"), (2, 2, "b"),
    ]  # fmt: skip


def test_pin_cpus_takes_one_core_per_thread_and_all_when_oversubscribed() -> None:
    assert pin_cpus(1, [2, 3, 5]) == [2]
    assert pin_cpus(2, [2, 3, 5]) == [2, 3]
    assert pin_cpus(8, [2, 3, 5]) == [2, 3, 5]


def test_plan_lays_out_fresh_workers_per_point_and_repeat() -> None:
    from profiler.core.registry import resolve

    sp = plan_scale(
        ScaleRequest(scenario=resolve(str(SPINNER)), variants=["obeys", "ignores"], threads=[1, 3], repeats=2,
                     pin=True)
    )  # fmt: skip
    assert sp.series == ["python/obeys", "python/ignores"]
    assert len(sp.jobs) == 2 * 2 * 2
    assert len({j.job.key for j in sp.jobs}) == len(sp.jobs)
    assert [j.job.workload.threads for j in sp.jobs] == [1, 1, 3, 3, 3, 3, 1, 1]
    assert all(j.job.parent_probes == [] for j in sp.jobs)
    assert sp.jobs[0].job.env["PROFILER_PIN_CPUS"] == str(sp.settings["allowed_cpus"][0])
    if sp.cores < 3:
        assert 3 in sp.settings["oversubscribed"]


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--threads", "0"],
        ["--threads", "a,2"],
        ["--threads", ""],
        ["--threads", "1,,2"],
        ["--threads", "-2"],
        ["--threads", "1.5"],
        ["--threads", "1,2", "--repeats", "0"],
    ],
)
def test_bad_thread_lists_exit_2_with_one_line(cli, tmp_path: Path, args: list[str]) -> None:
    r = cli("scale", "-s", "fcn5_infer", "-f", "torch", "--out", str(tmp_path), *args, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())  # nothing ran, no run directory


# ------------------------------------------------------------------------- busy-thread verification
@pytest.mark.slow
def test_busy_threads_are_verified_and_a_workload_ignoring_the_setting_is_flagged(
    cli, tmp_path: Path
) -> None:
    r = cli("scale", "-s", str(SPINNER), "-v", "obeys,ignores", "--threads", "1,2", "--repeats", "1", "--pin",
            "--out", str(tmp_path), "--json", timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    series = {s["series"]: {p["threads"]: p for p in s["points"]} for s in doc["series"]}
    obeys, ignores = series["python/obeys"], series["python/ignores"]
    if obeys[2]["cpu_parallelism"] < 1.2 or ignores[2]["cpu_parallelism"] < 0.6:
        # other work on the machine starved the worker's threads: counting them says nothing then
        pytest.skip(f"machine too busy to count threads: {obeys[2]['cpu_parallelism']:.2f} and "
                    f"{ignores[2]['cpu_parallelism']:.2f} cores' worth of CPU for 2 and 1 busy threads")
    assert obeys[1]["busy_threads"] == 1 and obeys[1]["thread_mismatch"] is None
    assert obeys[2]["busy_threads"] == 2 and obeys[2]["thread_mismatch"] is None
    assert ignores[2]["busy_threads"] == 1, json.dumps(doc, indent=1)[:6000]
    assert ignores[2]["thread_mismatch"] == "1 busy thread(s) for 2 requested"
    assert any("python/ignores at 2 thread(s): 1 busy" in w for w in doc["warnings"])
    # pinning: the worker applied the cores it was given before loading anything, and says so
    run = json.loads((Path(doc["run_dir"]) / "run.json").read_text())
    allowed = doc["settings"]["allowed_cpus"]
    for v in run["variants"]:
        assert v["pinned_cpus"] == allowed[: min(v["threads"], len(allowed))]
        assert v["affinity"] == v["pinned_cpus"]
    # the same document is saved, with the table as CSV
    assert json.loads((Path(doc["run_dir"]) / "scaling.json").read_text())["series"] == doc["series"]
    assert len(Path(doc["files"]["csv"]).read_text().splitlines()) == 1 + 4
    # a saved sweep re-renders as its own table, without re-running
    rep = cli("report", doc["run_dir"], timeout=120)
    assert rep.returncode == 0, rep.stderr
    assert "profiler scale thread_spinner" in rep.stdout and "python/ignores at 2" in rep.stdout


# -------------------------------------------------------------------------------- torch end to end
@needs_torch
@pytest.mark.slow
def test_tiny_fcn_sweep_at_one_and_two_threads(cli, tmp_path: Path) -> None:
    r = cli("scale", "-s", str(TINY_FCN), "-f", "torch", "--threads", "1,2", "--repeats", "2", "--steps", "12",
            "--out", str(tmp_path), "--json", timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "ok" and doc["threads"] == [1, 2]
    (s,) = doc["series"]
    assert s["series"] == "torch/default"
    p1, p2 = s["points"]
    for p in (p1, p2):
        assert p["repeats_ok"] == 2 and p["median_ms"] > 0 and len(p["repeat_medians_ms"]) == 2
        assert p["busy_threads"] is not None  # measured from /proc during the clean steps
    assert p1["speedup"] == pytest.approx(1.0)
    assert p2["speedup"] == pytest.approx(p1["median_ms"] / p2["median_ms"])
    assert p2["karp_flatt"] is not None
    assert s["figures"]["fit"] is not None and 0.0 <= s["figures"]["fit"]["serial_fraction"] <= 1.0
    # the explanation comes from the torch trace at 1 and at 2 threads, GEMM among the groups
    e = s["explanation"]
    assert e["available"], e
    assert (e["threads_lo"], e["threads_hi"]) == (1, 2)
    assert "GEMM" in {g["group"] for g in e["groups"]}
    # fresh workers in alternating order, each with the thread count applied in the framework
    run = json.loads((Path(doc["run_dir"]) / "run.json").read_text())
    assert [v["key"].rsplit("-", 2)[1:] for v in run["variants"]] == [["t1", "r0"], ["t2", "r0"], ["t2", "r1"],
                                                                       ["t1", "r1"]]  # fmt: skip
    assert len({v["pid"] for v in run["variants"]}) == 4
    assert [v["info"]["torch_threads"] for v in run["variants"]] == [1, 2, 2, 1]
    assert [v["traced"] for v in run["variants"]] == [True, True, False, False]
    png = Path(doc["files"]["png"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
