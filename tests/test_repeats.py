"""Headlines that survive a rerun: repeated processes, calibrated steps, CIs, verdicts, noise warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from profiler.analysis.noise import overhead_warning, sample_warnings, window_warnings
from profiler.analysis.stats import FASTER, NOT_SIGNIFICANT, SLOWER, bimodality, ratio_verdict, step_stats
from profiler.core.scenario import WorkloadSpec
from profiler.run.plan import repeat_jobs
from profiler.run.process import WorkerJob
from tests.conftest import DATA, run_cli

SLEEPERS = str(DATA / "scenarios" / "sleepers.py")


def _samples(mean: float, sd: float, seed: int, procs: int = 3, n: int = 15) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(rng.normal(mean, sd, n)) for _ in range(procs)]


# ------------------------------------------------------------------------------- statistics
def test_ten_percent_apart_with_small_noise_is_faster():
    a, b = _samples(100.0, 2.0, 1), _samples(110.0, 2.0, 2)
    ratio, ci, verdict = ratio_verdict(a, b)
    assert verdict == FASTER
    assert 1.0 < ci[0] < 1.10 < ci[1] < 1.2 and abs(ratio - 1.10) < 0.02
    assert ratio_verdict(b, a)[2] == SLOWER


def test_identical_distributions_are_no_significant_difference():
    a, b = _samples(100.0, 5.0, 3), _samples(100.0, 5.0, 4)
    _, ci, verdict = ratio_verdict(a, b)
    assert verdict == NOT_SIGNIFICANT and ci[0] < 1.0 < ci[1]


def test_a_process_at_another_speed_widens_the_interval():
    steady = _samples(100.0, 1.0, 5)
    mixed = [*steady[:2], list(np.asarray(steady[2]) * 1.6)]
    w_steady = np.diff(step_stats(steady)["ci95"])[0]
    w_mixed = np.diff(step_stats(mixed)["ci95"])[0]
    assert w_mixed > 3 * w_steady


def test_step_stats_fields():
    st = step_stats([[1.0, 2.0, 3.0], [2.0, 2.0]])
    assert st["n_steps"] == 5 and st["n_processes"] == 2 and st["median"] == 2.0
    assert st["per_process"] == [2.0, 2.0] and st["ci95"][0] <= 2.0 <= st["ci95"][1]
    assert st["mad"] == 0.0 and st["min"] == 1.0 and st["max"] == 3.0
    empty = step_stats([])
    assert empty["median"] is None and empty["ci95"] is None and empty["n_steps"] == 0
    assert step_stats([[5.0]])["ci95"] is None  # one step: no interval


def test_bimodal_sample_is_flagged_and_unimodal_is_not():
    rng = np.random.default_rng(7)
    two = list(rng.normal(78, 3, 12)) + list(rng.normal(134, 4, 12))  # the 74–83 vs 128–140 ms case
    bi = bimodality(two)
    assert bi and abs(bi["low"] - 78) < 4 and abs(bi["high"] - 134) < 5
    for seed in range(5):
        assert bimodality(list(np.random.default_rng(seed).normal(100, 5, 40))) is None
    w = sample_warnings("torch/fused", [two[:12], two[12:]], step_stats([two[:12], two[12:]]))
    assert any("bimodal" in x for x in w) and any("process medians" in x for x in w)


def test_drift_across_processes_and_wide_iqr_are_warned():
    per = [[100.0] * 5, [112.0] * 5, [125.0] * 5]
    w = sample_warnings("a/b", per, step_stats(per))
    assert any("drift by +25%" in x for x in w)
    quiet = _samples(100.0, 1.0, 9)
    assert sample_warnings("a/b", quiet, step_stats(quiet)) == []


def test_window_and_overhead_warnings_carry_their_figure():
    w = window_warnings("tensorflow/fused", {"other_cores": 1.4, "steal_pct": 12.0, "busy_threads": 4,
                                             "freq_mhz": 1200.0, "freq_max_mhz": 3000.0}, 2, 2)
    assert "other processes used 1.40 of 2 cores during tensorflow/fused: its times are unreliable" in w
    assert any("stole 12%" in x for x in w) and any("4 busy threads for 2 requested" in x for x in w)
    assert any("1200 MHz" in x for x in w)
    assert window_warnings("a/b", {"other_cores": 0.02, "steal_pct": 0.0, "busy_threads": 2}, 2, 2) == []
    assert "−" not in overhead_warning("a/b", -45.0)[0] and "-45%" in overhead_warning("a/b", -45.0)[0]
    assert overhead_warning("a/b", 30.0) == [] and overhead_warning("a/b", None) == []


def test_the_traced_steps_window_marks_the_breakdown_unreliable():
    from profiler.analysis.noise import traced_window_warnings
    from profiler.analysis.variant import breakdown_reliability
    from profiler.run.window import MeasureWindow

    w = traced_window_warnings("torch/unfused", {"other_cores": 0.9, "steal_pct": 7.0}, 2)
    assert w == ["other processes used 0.90 of 2 cores during the traced steps of torch/unfused: its breakdown "
                 "is unreliable",
                 "the hypervisor stole 7% of the CPU time during the traced steps of torch/unfused: its "
                 "breakdown is unreliable"]
    assert traced_window_warnings("a/b", {"other_cores": 0.1, "steal_pct": 0.0}, 2) == []
    assert traced_window_warnings("a/b", None, 2) == []
    # a disturbance of the machine, not a pattern of the program's: unreliable, and measured again
    rel = breakdown_reliability(w[:1], step_stats([[10.0] * 8]))
    assert rel["reliable"] is False and rel["why"] == w[:1]
    from profiler.run.remeasure import MACHINE_PHRASES

    assert any(p in w[0] for p in MACHINE_PHRASES)
    # the window opens on the trace phase and closes on its last step, whatever the clean window did
    win = MeasureWindow(os.getpid(), opens="trace")
    win.on_progress({"phase": "measure", "total": 5})
    assert win.snaps == []
    win.on_progress({"phase": "trace", "total": 3})
    win.on_progress({"step": 2, "total": 3})
    win.on_progress({"step": 3, "total": 3})
    assert len(win.snaps) == 2 and win.figures(2)["window_s"] >= 0


# ------------------------------------------------------------------------------- planning
def test_repeats_are_interleaved_and_only_the_first_traces():
    def job(v):
        wl = WorkloadSpec(scenario="s", framework="python", variant=v, mode="train", preset="cpu", device="cpu")
        return WorkerJob(key=f"python-{v}-train", workload=wl, module="m", trace_steps=3,
                         worker_probes=["torch"], parent_probes=["process"])

    jobs = repeat_jobs([job("a"), job("b"), job("c")], 2)
    assert [j.workload.variant for j in jobs] == ["a", "b", "c", "a", "b", "c"]
    assert [j.trace_steps for j in jobs] == [3, 3, 3, 0, 0, 0]
    assert all(not j.worker_probes and not j.parent_probes for j in jobs[3:])
    assert [j.group for j in jobs] == [j.key for j in jobs[:3]] * 2
    assert len({j.key for j in jobs}) == 6


@pytest.mark.slow
@pytest.mark.parametrize("args,msg", [
    (("--repeat", "0"), "--repeat must be a positive integer"),
    (("--min-time", "-1"), "--min-time must be zero or a positive"),
    (("--min-time", "60", "--max-time", "5"), "longer than the time budget"),
])
@pytest.mark.parametrize("cmd", ["trace", "compare"])
def test_bad_repeat_and_time_options_are_one_line_exit_2(tmp_path, cmd, args, msg):
    r = run_cli(cmd, "-s", SLEEPERS, *args, "--out", str(tmp_path))
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_repeats_ci_verdict_and_a_failed_process(tmp_path):
    r = run_cli("trace", "-s", SLEEPERS, "--repeat", "3", "--min-time", "0.15", "--out", str(tmp_path), "--json",
                env={"SLEEPERS_MARKER": str(tmp_path / "marker")}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    by = {v["variant"]: v for v in doc["variants"]}
    for name, ms in (("short", 10.0), ("long", 20.0)):
        st = by[name]["step_ms"]
        assert st["n_processes"] == 3 and len(st["per_process"]) == 3
        # calibrated: at least 0.15 s of steps per process, so more than the preset's 8 in all
        assert st["n_steps"] >= 3 * int(0.15 * 1000 / (ms * 1.5))
        assert st["ci95"][0] <= st["median"] <= st["ci95"][1] and st["median"] >= ms
        assert sum(p["traced"] for p in by[name]["repeats"]["processes"]) == 1
    flaky = by["flaky"]
    assert flaky["status"] == "ok" and flaky["step_ms"]["n_processes"] == 2
    assert any("process 2 of 3 failed" in w and "the other 2 are used" in w for w in flaky["warnings"])
    # within the framework, each variant against its fastest (short or flaky, both 10 ms)
    comp = next(c for c in doc["comparisons"] if c["slow"] == "python/long")
    assert comp["fast"] in ("python/short", "python/flaky") and comp["verdict"] == "faster"
    assert comp["ratio_ci95"][0] > 1.0 and "95% CI" in comp["sentence"]


@pytest.mark.slow
def test_a_variant_whose_processes_all_fail_keeps_its_failure(tmp_path):
    faulty = str(DATA / "scenarios" / "faulty.py")
    r = run_cli("trace", "-s", faulty, "-v", "raise", "--repeat", "2", "--out", str(tmp_path), "--json",
                timeout=120)
    doc = json.loads(r.stdout)
    v = doc["variants"][0]
    assert r.returncode == 1 and v["status"] == "failed" and "boom at step 3" in v["error"]
    assert [p["status"] for p in v["repeats"]["processes"]] == ["failed", "failed"]


@pytest.mark.slow
def test_a_cpu_hog_beside_the_worker_gives_a_contention_warning(tmp_path):
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        r = run_cli("trace", "-s", SLEEPERS, "-v", "short", "--repeat", "1", "--min-time", "1", "--out",
                    str(tmp_path), "--json", timeout=120)
    finally:
        hog.kill()
        hog.wait()
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    hits = [w for w in doc["warnings"] if w.startswith("other processes used")]
    assert hits, doc["warnings"]
    used = float(hits[0].split()[3])
    assert used >= 0.7  # the hog holds one core for the whole window
    assert hits[0] in doc["variants"][0]["warnings"]


def test_window_warnings_over_processes_are_one_line_per_kind():
    from profiler.analysis.noise import windows_warnings

    ws = [{"other_cores": 0.73}, {"other_cores": 0.1}, {"other_cores": 1.0}]
    w = windows_warnings("tf/default", ws, 2, 2)
    assert w == ["other processes used 1.00 of 2 cores during tf/default (worst; processes 1, 3 of 3): "
                 "its times are unreliable"]
