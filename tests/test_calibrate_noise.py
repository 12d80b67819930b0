"""``calibrate`` checks its own noise and the tracer-cost measurements share one zero-median rule.

The measurements are injected (a function returning prepared figures per round or repetition), so
what is tested is the rule, not this machine's load: rounds that disagree are measured again and,
if they still disagree, the record is marked disturbed and does not replace the cached one; a paired
tracer-cost measurement whose median is zero runs again, up to three times as many repetitions, and
says so when it stays zero.
"""

from __future__ import annotations

from typing import Any

import pytest

from profiler.run import calibrate as cal
from profiler.run.tracer_cost import MAX_REPEAT_FACTOR, paired_reps


def _feed(values: list[float], key: str = "cost") -> Any:
    it = iter(values)
    calls: list[int] = []

    def one() -> dict[str, Any]:
        calls.append(1)
        return {key: next(it)}

    one.calls = calls  # type: ignore[attr-defined]
    return one


# ---------------------------------------------------------------------------- zero-median rule
def test_positive_median_takes_exactly_the_repetitions() -> None:
    one = _feed([0.8, 0.0, 0.9, 1.1, 0.7])
    runs, info = paired_reps(one, 5)
    assert len(runs) == 5 and info == {"repetitions": 5, "remeasured": 0, "unresolved": None}


def test_zero_median_is_measured_again_until_it_is_not() -> None:
    # three of five disturbed (clamped to zero): the median is zero, so more run, one at a time,
    # until the median of all of them is positive
    one = _feed([0.0, 0.0, 0.0, 0.9, 1.0, 0.8, 0.9, 1.2, 5.0])
    runs, info = paired_reps(one, 5)
    costs = [r["cost"] for r in runs]
    assert costs == [0.0, 0.0, 0.0, 0.9, 1.0, 0.8]
    assert info["repetitions"] == 6 and info["remeasured"] == 1 and info["unresolved"] is None


def test_zero_median_that_stays_zero_is_said_not_passed_off() -> None:
    one = _feed([0.0] * 100)
    runs, info = paired_reps(one, 4)
    assert len(runs) == MAX_REPEAT_FACTOR * 4 == 12
    assert info["remeasured"] == 8
    assert "stayed at zero over 12 paired repetitions" in info["unresolved"]
    with pytest.raises(ValueError):
        paired_reps(one, 0)


def test_every_tracer_cost_measurement_uses_the_rule() -> None:
    # torch, TF, MXNet and the own spans all go through paired_reps (no private loop that clamps a
    # zero median and moves on): read from the source, as the rule must not be bypassed
    import inspect

    from profiler.run import tracer_cost as tc

    for fn in (tc.torch_costs, tc.tensorflow_costs, tc.mxnet_costs, tc.own_span_cost):
        src = inspect.getsource(fn)
        assert "paired_reps(" in src, fn.__name__
        assert "for _ in range(reps)" not in src.split("grad_recs")[0], fn.__name__


def test_own_span_cost_records_its_repetitions() -> None:
    from profiler.run.tracer_cost import own_span_cost

    r = own_span_cost(200, 3)
    assert r["repetitions"] >= 3 and r["remeasured"] == r["repetitions"] - 3
    assert r["total_us"]["n"] == r["repetitions"]
    assert (r["unresolved"] is None) == (r["total_us"]["median"] > 0)


# ---------------------------------------------------------------------------- rounds
def _rounds(*sgemm: float, peak: float = 20.0) -> Any:
    it = iter(sgemm)

    def measure() -> dict[str, Any]:
        return {"sgemm_gflops": next(it), "peak_gbs": peak, "cache_gbs": 50.0, "fma_gflops": None}

    return measure


def test_two_agreeing_rounds_suffice() -> None:
    r = cal.corroborated(_rounds(65.0, 62.0, 10.0))
    assert len(r["rounds"]) == 2 and r["uncorroborated"] == []
    assert r["gap_pct"]["sgemm_gflops"] == pytest.approx(100 * 3 / 65)
    assert "fma_gflops" not in r["gap_pct"]  # not measurable here: not checked


def test_disagreeing_rounds_get_a_third_that_can_corroborate_the_best() -> None:
    r = cal.corroborated(_rounds(65.0, 39.0, 63.0))
    assert len(r["rounds"]) == 3 and r["uncorroborated"] == []


def test_rounds_that_never_agree_are_uncorroborated() -> None:
    r = cal.corroborated(_rounds(65.0, 39.0, 41.0, 99.0))
    assert len(r["rounds"]) == cal.MAX_ROUNDS
    assert r["uncorroborated"] == ["sgemm_gflops"]
    assert r["gap_pct"]["sgemm_gflops"] == pytest.approx(100 * (65 - 41) / 65)


# ---------------------------------------------------------------------------- the record and the cache
def _fake_round(sgemm: list[float]) -> Any:
    it = iter(sgemm)

    def cpu_round(quick: bool) -> dict[str, Any]:
        return {"stream_gbs": {"copy": 18.0, "scale": 17.0, "add": 19.0, "triad": 16.0},
                "stream_kernel": "test", "stream_elements": 1 << 10, "peak_gbs": 19.0, "cache_gbs": 60.0,
                "sgemm_gflops": next(it), "sgemm_n": 64, "fma_gflops": None, "fma_kernel": "none"}  # fmt: skip

    return cpu_round


@pytest.fixture
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """calibrate() without its slow parts (tracer-cost workers, page faults, GPU): the rounds only."""
    monkeypatch.setattr(cal, "tracer_costs", lambda quick: {"torch": {"configs": {"plain": {
        "total_us": {"median": 0.8, "min": 0.7, "max": 0.9, "n": 5}, "unresolved": None}}}})
    monkeypatch.setattr(cal, "page_faults", lambda quick: {"median": 0.5})
    monkeypatch.setattr(cal, "gpu_ceilings", lambda quick: {"unavailable": "unavailable: test"})


def _quiet(monkeypatch: pytest.MonkeyPatch, busy: bool = False) -> None:
    import profiler.run.tracer_cost as tc

    monkeypatch.setattr(tc, "load_now", lambda: {"loadavg_1min": 3.0 if busy else 0.2, "cores": 2, "busy": busy})


def test_calibrate_takes_the_best_round_and_records_the_rounds(no_workers, monkeypatch) -> None:
    _quiet(monkeypatch)
    rec = cal.calibrate(True, cpu_round=_fake_round([60.0, 64.0]))
    c = rec["cpu"]
    assert c["sgemm_gflops"] == 64.0 and c["peak_gflops"] == 64.0
    assert len(c["rounds"]["values"]) == 2 and c["rounds"]["uncorroborated"] == []
    assert not cal.noise_report(rec)["disturbed"]


def _previous(sgemm: float = 65.0, disturbed: bool = False, quick: bool = True) -> dict[str, Any]:
    return {"created": "2026-12-07T21:00:00Z", "noise": {"disturbed": disturbed}, "quick": quick,
            "cpu": {"sgemm_gflops": sgemm, "peak_gbs": 19.0, "cache_gbs": 60.0, "fma_gflops": None},
            "tracer_costs": {"torch": {"configs": {"plain": {"total_us": {"median": 0.4}}}}}}  # fmt: skip


def test_disturbed_measurement_does_not_replace_the_cached_one(no_workers, monkeypatch) -> None:
    _quiet(monkeypatch)
    saved: list[dict[str, Any]] = []
    # the case: a cached 65 GFLOP/s, then rounds of 39, 52, 41: not corroborated
    rec = cal.measure_and_cache(True, _previous(), measure=lambda q: cal.calibrate(q, _fake_round([39.0, 52.0, 41.0])),
                                save=saved.append)  # fmt: skip
    assert saved == []
    assert rec["noise"]["disturbed"] and rec["cache"]["saved"] is False
    assert "SGEMM did not repeat: rounds gave 39.0, 52.0, 41.0 GFLOP/s" in rec["noise"]["reasons"][0]
    assert "the cached calibration of 2026-12-07T21:00:00Z stays in use" in rec["cache"]["note"]
    # the move against the cached figure is a warning with both figures; the tracer cost doubled too
    w = " | ".join(rec["noise"]["warnings"])
    assert "SGEMM 65.0 → 52.0 GFLOP/s (-20%)" not in w  # exactly 20% is not beyond the threshold
    assert "torch tracer (plain) 0.40 → 0.80 µs per record" in w


def test_corroborated_drop_while_loaded_is_disturbed_and_while_quiet_a_warning(no_workers, monkeypatch) -> None:
    saved: list[dict[str, Any]] = []
    _quiet(monkeypatch, busy=True)
    rec = cal.measure_and_cache(True, _previous(), measure=lambda q: cal.calibrate(q, _fake_round([39.0, 40.0])),
                                save=saved.append)  # fmt: skip
    assert rec["noise"]["disturbed"] and not saved
    assert any("SGEMM fell 38% against the cached calibration while the machine was loaded" in r
               for r in rec["noise"]["reasons"])
    _quiet(monkeypatch, busy=False)
    rec = cal.measure_and_cache(True, _previous(), measure=lambda q: cal.calibrate(q, _fake_round([39.0, 40.0])),
                                save=saved.append)  # fmt: skip
    assert not rec["noise"]["disturbed"] and saved == [rec] and rec["cache"]["note"] == "cached"
    assert any(w.startswith("SGEMM 65.0 → 40.0 GFLOP/s (-38%)") for w in rec["noise"]["warnings"])
    # a quick calibration (small arrays) is not held against a full one
    _quiet(monkeypatch, busy=True)
    rec = cal.measure_and_cache(True, _previous(quick=False),
                                measure=lambda q: cal.calibrate(q, _fake_round([39.0, 40.0])), save=saved.append)
    assert not rec["noise"]["disturbed"] and rec["noise"]["drift"] == {}


def test_disturbed_with_nothing_cached_is_saved_as_provisional(no_workers, monkeypatch) -> None:
    _quiet(monkeypatch)
    for prev in (None, _previous(disturbed=True)):
        saved: list[dict[str, Any]] = []
        rec = cal.measure_and_cache(True, prev, measure=lambda q: cal.calibrate(q, _fake_round([39.0, 65.0, 50.0])),
                                    save=saved.append)  # fmt: skip
        assert saved == [rec] and rec["noise"]["disturbed"]
        assert rec["cache"]["note"].startswith("cached as provisional") and "--force` measures again" in rec["cache"]["note"]


def test_unresolved_tracer_cost_marks_the_record_disturbed() -> None:
    rec = {"cpu": {"rounds": {"uncorroborated": []}},
           "tracer_costs": {"mxnet": {"configs": {"api_memory": {"total_us": {"median": 0.0},
                                                                "unresolved": "stayed at zero"}}}}}  # fmt: skip
    n = cal.noise_report(rec)
    assert n["disturbed"] and n["reasons"] == ["mxnet tracer cost (api_memory): stayed at zero"]
