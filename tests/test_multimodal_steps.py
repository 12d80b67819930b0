"""Steps that follow a pattern of the program's own (a DataLoader's cycle, a periodic evaluation): the
headline is the mean with the modes named, the breakdown and the input-bound verdict describe the
same statistic and steps, the traced window covers whole cycles, the pattern is never "disturbed";
and a breakdown the machine disturbed says so (``breakdown["reliability"]``)."""

from __future__ import annotations

import itertools
import json
import os
import statistics

import pytest

from profiler.analysis.breakdown import input_bound_verdict
from profiler.analysis.compensation import rescale_to_median
from profiler.analysis.noise import overhead_warning, sample_warnings, window_warnings
from profiler.analysis.stats import (
    MAX_RESETTLE_CYCLES,
    MAX_TRACE_STEPS,
    MIN_CYCLES,
    covers,
    disturbed,
    grown_limit,
    headline_ms,
    pooled_pattern,
    resettled,
    step_pattern,
    step_stats,
    trace_window,
)
from profiler.analysis.variant import analyse_variant, breakdown_reliability
from profiler.core.events import DATA_LOADING, OP, STEP, EventBuilder
from profiler.core.record import StepStats
from profiler.inject.recorder import StepRecorder
from tests.conftest import DATA, run_cli
from tests.test_compensation import _calibration

LOADER = str(DATA / "scenarios" / "loader_cycle.py")

WAIT_MS, COMPUTE_MS = 135.0, 15.0  # the program: steps of ~150 ms (waiting) and ~15 ms


# ------------------------------------------------------------------------------------ the pattern
def test_alternating_steps_are_a_pattern_with_a_period_and_their_headline_is_the_mean():
    steps = [150.0, 15.0] * 5
    pat = step_pattern(steps)
    assert pat["period"] == 2 and [m["n"] for m in pat["modes"]] == [5, 5]
    assert [m["center_ms"] for m in pat["modes"]] == [15.0, 150.0]
    st = step_stats([steps])
    assert st["statistic"] == "mean" and headline_ms(st) == pytest.approx(82.5)
    assert st["modes"] == pat["modes"]
    lo, hi = st["ci95"]
    assert lo < 82.5 < hi  # a CI of the mean, not of the median
    # the median of such steps is whichever mode the count favours: 9 steps give the long one
    assert statistics.median([150.0, 15.0] * 4 + [150.0]) == 150.0
    assert headline_ms(step_stats([[150.0, 15.0] * 4 + [150.0]])) == pytest.approx(statistics.fmean([150.0, 15.0] * 4 + [150.0]))


def test_a_periodic_evaluation_step_is_a_pattern():
    steps = ([30.0] * 4 + [300.0]) * 3
    pat = step_pattern(steps)
    assert pat["period"] == 5 and pat["modes"][1]["n"] == 3
    assert step_stats([steps])["statistic"] == "mean"


def test_noise_two_speeds_in_blocks_and_a_lone_long_step_are_not_a_pattern():
    assert step_pattern([10.0] * 6 + [16.0] * 6) is None  # the machine ran slower for a while
    assert step_pattern([10.0, 10.2, 9.9, 40.0, 10.1, 10.0, 9.8, 10.3]) is None  # one preemption
    assert step_pattern([10.0, 11.0, 10.5, 12.0, 10.2, 11.5, 10.8, 11.1]) is None  # plain jitter
    assert step_stats([[10.0, 10.2, 9.9, 40.0, 10.1, 10.0, 9.8, 10.3]])["statistic"] == "median"
    # the jitter of the short mode stays inside it (12 against 20 ms, beside 100 ms steps)
    pat = step_pattern([50.8, 21.3, 107.6, 11.8, 99.9, 23.8, 99.9, 19.9, 98.2, 19.8, 100.1, 21.5])
    assert pat and len(pat["modes"]) == 2 and pat["period"] == 2


def test_processes_at_two_speeds_are_not_a_pattern_but_processes_with_the_cycle_are():
    assert pooled_pattern([[10.0] * 8, [16.0] * 8, [10.1] * 8]) is None
    pat = pooled_pattern([[150.0, 15.0] * 4, [16.0, 148.0] * 4, [151.0, 14.0] * 4])
    assert pat and pat["period"] == 2 and [m["n"] for m in pat["modes"]] == [12, 12]


def test_a_long_step_of_the_pattern_is_never_disturbed():
    modes = step_pattern([150.0, 15.0] * 5)["modes"]
    # the traced window: three steps, the waiting one in the middle
    assert disturbed([20.0, 150.0, 20.0]) == [False, True, False]  # without the pattern: dropped
    assert disturbed([20.0, 150.0, 20.0], modes) == [False, False, False]
    # a step stretched beyond the longest mode still is
    assert disturbed([20.0, 150.0, 20.0, 400.0], modes) == [False, False, False, True]


# --------------------------------------------------------------------------------- the traced window
def test_the_traced_window_covers_whole_cycles_bounded():
    w = trace_window([150.0, 15.0] * 5, 3)
    assert w["steps"] == 2 * MIN_CYCLES and w["period"] == 2 and w["bound"] is None
    assert trace_window([10.0] * 10, 3)["steps"] == 3  # no pattern: as requested
    ev = trace_window(([30.0] * 9 + [300.0]) * 2, 3)
    assert ev["steps"] == 10 * MIN_CYCLES
    # a long cycle hits the bound (steps and time), in whole cycles, and says so
    slow = trace_window(([300.0] * 9 + [3000.0]) * 2, 3)
    assert slow["steps"] <= MAX_TRACE_STEPS and slow["steps"] % 10 == 0 and slow["bound"]
    # covered: each mode seen, whole cycles; otherwise the window grows by a cycle, up to twice its plan
    assert covers([22.0, 160.0, 21.0, 158.0, 23.0, 150.0], w)
    assert not covers([22.0, 21.0, 23.0, 20.0, 22.0, 21.0], w)
    limit = grown_limit(w, [22.0, 21.0, 23.0, 20.0, 22.0, 21.0], 6)
    assert limit == 8 and "covered" not in w
    assert grown_limit(w, [22.0] * 12, 12) == 12 and w["covered"] is False


def test_steps_after_the_window_are_clean_again_once_the_long_step_is_back():
    w = trace_window([150.0, 15.0] * 5, 3)
    # while the tracer stopped the loader ran ahead: three short steps on ready batches, then a wait
    assert resettled([20.0, 25.0, 22.0, 150.0, 20.0], w) == 3
    assert resettled([150.0, 20.0], w) == 0
    assert resettled([20.0] * 3, w) is None  # not known yet
    assert resettled([20.0] * 9, w) == MAX_RESETTLE_CYCLES * 2  # bounded
    assert resettled([20.0] * 9, trace_window([10.0] * 10, 3)) == 0  # no pattern: nothing left out


def _replayed(tmp_path, monkeypatch, settings: dict, durations: list[float], marker: str) -> dict:
    """The ``result.json`` of a recorder (its probes left out) given one ``marker`` boundary at
    the start and end of each step of ``durations`` (ms)."""
    monkeypatch.setattr(StepRecorder, "_start_probes", lambda self: None)
    monkeypatch.setattr(StepRecorder, "_stop_probes", lambda self: None)
    r = StepRecorder({**settings, "probes": ["torch"]}, tmp_path)
    t = 0
    for ms in durations:
        r.boundary(marker, t)
        t += int(ms * 1e6)
    r.boundary(marker, t)
    r.finish()
    return json.loads((tmp_path / "result.json").read_text())


def test_the_recorder_of_a_command_traces_whole_loader_cycles(tmp_path, monkeypatch):
    # 1 warm-up, 8 clean, 2 settling and 6 traced steps alternating 15 and 150 ms; then, the loader
    # having run ahead while the tracer stopped, 3 steps on ready batches before the cycle resumes
    durations = [150.0 if k % 2 else 15.0 for k in range(17)] + [15.0, 16.0, 15.0] + [150.0, 15.0] * 3
    res = _replayed(tmp_path, monkeypatch, {"warmup": 1, "steps": 8, "trace_steps": 3}, durations, "dataloader")
    tw = res["info"]["trace_window"]
    assert tw["period"] == 2 and tw["steps"] == 2 * MIN_CYCLES and tw["covered"] is True
    steps = res["info"]["steps"]
    assert steps["traced"] == 2 * MIN_CYCLES and steps["traced_warmup"] == tw["settle"] == 2
    traced = [v / 1e6 for v in res["traced_step_ns"]]
    assert sorted(traced) == [15.0] * MIN_CYCLES + [150.0] * MIN_CYCLES
    # the 3 steps on ready batches (the first one the DataLoader's cut step) are out of the clean steps
    assert steps["after_trace"] == 3
    clean = [v / 1e6 for v in res["step_ns"]]
    assert clean == durations[1:9] + [150.0, 15.0] * 3


# ------------------------------------------------------------------------ breakdown and verdict
def _loader_events(n_clean: int = 10, traced: tuple[float, ...] = (15.0, 150.0, 15.0)) -> EventBuilder:
    """Clean steps alternating 150 ms (135 ms waiting for the batch, then 15 ms of compute) and 15 ms
    (its batch ready: a 10 µs wait); then traced steps of the given lengths, the same composition."""
    b = EventBuilder()
    t = 0

    def step(i: int, total_ms: float, is_traced: bool) -> None:
        nonlocal t
        wait = int((total_ms - COMPUTE_MS) * 1e6) or 10_000
        b.span(DATA_LOADING, "next batch", t, wait, 1, 0)
        b.span(OP, "aten::mm", t + wait, int(COMPUTE_MS * 1e6) - 10_000, 1, 0)
        dur = wait + int(COMPUTE_MS * 1e6)
        b.span(STEP, f"step {i}", t, dur, 1, 0, args={"index": i, "traced": is_traced})
        t += dur

    for i in range(n_clean):
        step(i, WAIT_MS + COMPUTE_MS if i % 2 == 0 else COMPUTE_MS, False)
    for j, ms in enumerate(traced):
        step(n_clean + j, ms, True)
    return b.build()


def test_headline_breakdown_and_input_bound_describe_the_same_mean():
    out = analyse_variant(_loader_events(), {"pid": 1, "framework": "torch"}, calibration=_calibration())
    sm = out["step_ms"]
    clean = [WAIT_MS + COMPUTE_MS, COMPUTE_MS + 0.01] * 5
    assert sm["statistic"] == "mean" and headline_ms(sm) == pytest.approx(statistics.fmean(clean), rel=1e-3)
    assert [m["n"] for m in sm["modes"]] == [5, 5]
    assert "disturbed_traced_steps" not in out  # the 150 ms traced step is the pattern
    bd = out["breakdown"]
    assert sum(v or 0.0 for v in out["breakdown_ms"].values()) == pytest.approx(headline_ms(sm), rel=1e-6)
    assert bd["step_ms"] == pytest.approx(headline_ms(sm))
    # the input wait the program's own steps had: 135 ms every other step, 10 µs the others
    own_wait = statistics.fmean([WAIT_MS, 0.01] * 5)
    assert out["breakdown_ms"]["data_loading"] == pytest.approx(own_wait, rel=1e-3)
    ib = bd["input_bound"]
    assert ib["pct"] == pytest.approx(100.0 * own_wait / statistics.fmean(clean), rel=1e-3)
    assert ib["pct"] == pytest.approx(bd["pct"]["data_loading"])  # the verdict is the table's row
    assert ib["verdict"] == input_bound_verdict(own_wait, statistics.fmean(clean))["verdict"] == "highly input-bound"
    assert "mean of 10 untraced steps" in bd["describes"]


def test_a_steady_program_keeps_the_median():
    b = EventBuilder()
    t = 0
    for i, ms in enumerate([10.0, 10.2, 9.9, 10.1, 10.0, 30.0, 10.1, 10.0, 10.2]):
        b.span(STEP, f"step {i}", t, int(ms * 1e6), 1, 0, args={"index": i, "traced": i >= 6})
        t += int(ms * 1e6)
    out = analyse_variant(b.build(), {"pid": 1, "framework": "torch"})
    assert out["step_ms"]["statistic"] == "median" and out["step_ms"]["modes"] is None


def test_rescaling_to_a_pooled_headline_uses_its_statistic_and_retakes_the_verdict():
    out = analyse_variant(_loader_events(), {"pid": 1, "framework": "torch"}, calibration=_calibration())
    pooled = StepStats(**step_stats([[150.0, 15.0] * 5, [15.0, 152.0] * 5]))
    bd, ms = rescale_to_median(out["breakdown"], out["breakdown_ms"], pooled)
    assert bd["step_ms"] == pytest.approx(pooled.mean) and pooled.statistic == "mean"
    assert sum(v or 0.0 for v in ms.values()) == pytest.approx(pooled.mean)
    assert bd["input_bound"]["pct"] == pytest.approx(bd["pct"]["data_loading"])
    assert "moved to the mean" in bd["describes"]


# ---------------------------------------------------------------------------------- reliability
def test_a_breakdown_the_machine_disturbed_is_marked_unreliable_with_why():
    busy = window_warnings("a/b", {"other_cores": 0.9}, 2, None)
    r = breakdown_reliability(busy, step_stats([[10.0] * 8]))
    assert r["reliable"] is False and r["why"] == busy
    per = [[10.0] * 6 + [16.0] * 6]
    two = sample_warnings("a/b", per, step_stats(per))
    assert two and breakdown_reliability(two, step_stats(per))["reliable"] is False
    assert breakdown_reliability(overhead_warning("a/b", -40.0), None)["reliable"] is False
    assert breakdown_reliability([], step_stats([[10.0] * 8])) == {"reliable": True, "why": [], "remeasured": False}


def test_the_programs_own_pattern_is_not_a_disturbance_but_an_uncovered_window_is():
    per = [[150.0, 15.0] * 6]
    st = step_stats(per)
    w = sample_warnings("a/b", per, st)
    # the pattern is named in the headline: no "two speeds" or wide-IQR warning about the machine
    assert st["modes"] and not any("two speeds" in x or "IQR" in x for x in w)
    assert breakdown_reliability(w, st)["reliable"] is True
    info = {"trace_window": {"steps": 12, "covered": False, "bound": "40 steps needed, 12 traced"}}
    r = breakdown_reliability(w, st, info)
    assert r["reliable"] is False and "did not cover" in r["why"][0]


# ------------------------------------------------------------------ known answer: the loader program
def _own(path) -> dict:
    return json.loads(open(path).read())


@pytest.mark.slow
def test_loader_cycle_headline_and_input_bound_agree_with_its_own_timing_five_times_of_five(tmp_path):
    """The scenario's loop times its own steps with ``perf_counter`` and its own input wait; five fresh
    runs: the headline is the mean of its steps and the input-bound share its own wait over its own
    step, every time (before: the median moved between the modes from run to run)."""
    results = []
    for k in range(5):
        log = tmp_path / f"own{k}.json"
        r = run_cli("trace", "--scenario", LOADER, "--out", str(tmp_path / "runs"), "--json",
                    env={"LOADER_CYCLE_LOG": str(log)}, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        doc = json.loads(r.stdout)
        run = json.loads(open(os.path.join(doc["run_dir"], "run.json")).read())
        (v,) = run["variants"]
        own = _own(log)
        warm = run["settings"]["warmup"]
        n_clean = v["step_ms"]["n_steps"]
        tw = v["info"]["trace_window"]
        dur = [(e - b) * 1e3 for b, e in zip(own["begins_s"], own["ends_s"], strict=True)]
        waits = [w * 1e3 for w in own["waits_s"]]
        clean, clean_wait = dur[warm:warm + n_clean], waits[warm:warm + n_clean]
        first = warm + n_clean + tw["settle"]  # after the traced warm-up cycle
        traced, traced_wait = dur[first:first + tw["steps"]], waits[first:first + tw["steps"]]
        assert len(traced) == tw["steps"] == v["traced_step_ms"]["n_steps"]
        assert v["traced_step_ms"]["mean"] == pytest.approx(statistics.fmean(traced), rel=0.02)
        own_mean = statistics.fmean(clean)
        bd = v["breakdown"]
        # the steps the breakdown describes: the clean ones where the tracer's cost was removed
        # (calibrated machine; the input wait then measured on the clean steps), else the traced ones
        # (less a traced step left out as disturbed: the harness numbers it after the clean and settling steps)
        out_idx = {i - n_clean - tw["settle"] for i in (v.get("disturbed_traced_steps") or {}).get("indices", [])}
        kept = [i for i in range(len(traced)) if i not in out_idx]
        described, described_wait = ((clean, clean_wait) if bd.get("compensation")
                                     else ([traced[i] for i in kept], [traced_wait[i] for i in kept]))
        own_share = 100.0 * statistics.fmean(described_wait) / statistics.fmean(described)
        ib = bd["input_bound"]
        results.append((k, round(headline_ms(v["step_ms"]), 2), round(own_mean, 2), round(ib["pct"], 1),
                        round(own_share, 1), bool(bd.get("compensation")), tw["steps"]))
        assert v["step_ms"]["statistic"] == "mean" and len(v["step_ms"]["modes"]) == 2, results
        assert headline_ms(v["step_ms"]) == pytest.approx(own_mean, rel=0.02), results
        assert abs(ib["pct"] - own_share) < 3.0, results
        assert ib["verdict"] == input_bound_verdict(own_share, 100.0)["verdict"], results
        assert ib["pct"] == pytest.approx(bd["pct"]["data_loading"]), results
        # the traced window held whole cycles of the pattern, and no traced step of it was left out
        assert tw["period"] == 2 and tw["steps"] % 2 == 0 and tw["steps"] >= 2 * MIN_CYCLES, results
        # (a step the machine stretched beyond the longest mode may still be left out, never one of it)
        top = max(m["center_ms"] for m in v["step_ms"]["modes"])
        assert all(ms > 1.25 * top for ms in (v.get("disturbed_traced_steps") or {}).get("left_out_ms", [])), results
        assert isinstance(bd["reliability"]["reliable"], bool)
    print("run, headline ms, own mean ms, input-bound %, own wait %, compensated, traced steps:", *results, sep="\n")


#: The issue's program in miniature, for ``trace -- python``: a torch DataLoader with two worker
#: processes, each taking about 240 ms per batch (a sleep per sample: reading, decoding), and a
#: training step of about 10 ms. The program times itself: when its first ``next()`` on the loader
#: starts and each optimizer step begins (the recorder's steps end where each optimizer step does:
#: its preferred step source, the first step from the first batch) and how long each ``next()``
#: waited, written to the file its first argument names. The tracer starts and stops inside an
#: optimizer step (its post-hook), after the recorder's boundary: in the program's own clock that
#: time falls into the next step, the first settling step and the first clean step after the window.
TORCH_LOADER = """
import json, sys, time
import torch
from torch.utils.data import DataLoader, Dataset

class Slow(Dataset):
    def __len__(self):
        return 10_000
    def __getitem__(self, i):
        time.sleep(0.03)
        return torch.randn(16), torch.randint(0, 3, ())

model = torch.nn.Linear(16, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
marks, waits, first = [], [], None
it = iter(DataLoader(Slow(), batch_size=8, num_workers=2))
for _ in range(40):
    t0 = time.perf_counter()
    first = t0 if first is None else first
    x, y = next(it)
    waits.append(time.perf_counter() - t0)
    end = t0 + waits[-1] + 0.010
    with torch.no_grad():
        while time.perf_counter() < end:
            model(x)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward()
    marks.append(time.perf_counter())  # the optimizer step's own time (tens of µs) falls in the next
    opt.step()
json.dump({"first_s": first, "marks_s": marks, "waits_s": waits}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.skipif(not __import__("importlib").util.find_spec("torch"), reason="torch is not installed")
def test_a_torch_dataloader_program_profiled_as_a_command_five_times_of_five(tmp_path):
    """``trace -- python train.py`` on a 2-worker DataLoader program, five times: the headline is the
    mean of the recorder's clean steps, which are the program's own steps (the one after the traced
    window aside: the recorder's starts once the tracer has stopped, the program's clock runs on),
    and the input-bound share is the program's own wait over the steps the breakdown describes."""
    script = tmp_path / "train.py"
    script.write_text(TORCH_LOADER)
    results = []
    for k in range(5):
        log = tmp_path / f"own{k}.json"
        r = run_cli("trace", "--out", str(tmp_path / "runs"), "--json", "--", "python", str(script), str(log),
                    timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        doc = json.loads(r.stdout)
        run = json.loads(open(os.path.join(doc["run_dir"], "run.json")).read())
        (v,) = run["variants"]
        own = _own(log)
        # step k: from the end of optimizer step k - 1 (the first batch's request, for step 0) to the
        # end of optimizer step k, its batch's wait included
        marks = [own["first_s"], *own["marks_s"]]
        steps = [(b - a) * 1e3 for a, b in itertools.pairwise(marks)]
        waits = [w * 1e3 for w in own["waits_s"]]
        kinds, tw = v["info"]["steps"], v["info"]["trace_window"]
        w0 = kinds["skipped"] + kinds["warmup"]
        c1 = run["settings"]["requested"]["steps"]  # clean steps before the traced window
        t0 = w0 + c1 + tw["settle"]
        after = t0 + tw["steps"]  # the first step after the window (the tracer's stop in the own clock)
        resume = after + kinds["after_trace"]  # clean again once the loader's long step is back
        rec_clean = v["repeats"]["processes"][0]["step_ms"]
        own_clean = steps[w0:w0 + c1] + steps[resume:]
        assert len(rec_clean) == len(own_clean) == v["step_ms"]["n_steps"]
        same = [i for i in range(len(own_clean)) if not (i == c1 and resume == after)]
        bd, ib = v["breakdown"], v["breakdown"]["input_bound"]
        traced, traced_wait = steps[t0:after], waits[t0:after]
        clean_wait = waits[w0:w0 + c1] + waits[resume:]
        described, described_wait = ((own_clean, clean_wait) if bd.get("compensation") else (traced, traced_wait))
        own_share = 100.0 * statistics.fmean(described_wait) / statistics.fmean(described)
        results.append((k, v["step_ms"]["statistic"], round(headline_ms(v["step_ms"]), 1),
                        round(statistics.fmean(own_clean[i] for i in same), 1), round(ib["pct"], 1),
                        round(own_share, 1), tw["steps"]))
        assert v["info"]["step_source"] == "optimizer.step", results
        assert v["step_ms"]["statistic"] == "mean" and len(v["step_ms"]["modes"]) == 2, results
        assert headline_ms(v["step_ms"]) == pytest.approx(statistics.fmean(rec_clean), rel=1e-6), results
        assert statistics.fmean(rec_clean[i] for i in same) == pytest.approx(
            statistics.fmean(own_clean[i] for i in same), rel=0.02), results
        assert abs(ib["pct"] - own_share) < 5.0, results
        assert ib["verdict"] == input_bound_verdict(own_share, 100.0)["verdict"], results
        assert tw["period"] and tw["steps"] >= MIN_CYCLES * tw["period"], results
    print("run, statistic, headline ms, own mean ms, input-bound %, own wait %, traced steps:", *results, sep="\n")


def test_a_program_that_ends_while_the_tracer_settles_still_has_traced_steps(tmp_path, monkeypatch):
    # the docs' example on a loaded machine: a slow step every 7 makes a period-7 window (7 settling
    # steps, then whole cycles) that a 19-step loop ends inside: of the 7 steps under the tracer only
    # the first (its set-up) is left out, and the window says it did not cover the pattern
    durations = [4.5 if k % 7 == 3 else 0.5 for k in range(19)]
    res = _replayed(tmp_path, monkeypatch, {"warmup": 2, "steps": 10, "trace_steps": 3}, durations, "optimizer.step")
    tw = res["info"]["trace_window"]
    assert tw["period"] == 7 and tw["settle"] == 7 and tw["covered"] is False
    steps = res["info"]["steps"]
    assert steps["clean"] == 10 and steps["traced_warmup"] == 1 and steps["traced"] == 6, steps
    assert [v / 1e6 for v in res["traced_step_ns"]] == durations[13:19]
