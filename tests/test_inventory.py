"""What ``profiler list``, ``doctor`` and ``calibrate`` show, as data (run/inventory.py): a variant that
needs a GPU is unavailable without one, with the reason; the ceilings come from the cache unless
``--force`` or none is cached; the warnings a calibration carries. No measurement runs here."""

from __future__ import annotations

import pytest

from profiler.core import calibration as calcache
from profiler.core.calibration import CALIBRATION_VERSION
from profiler.core.frameworks import framework_availability
from profiler.run import calibrate as cal
from profiler.run import inventory


@pytest.mark.parametrize("gpu", [True, False])
def test_scenario_rows_mark_gpu_variants_unavailable_without_a_gpu(monkeypatch, gpu) -> None:
    import profiler.core.hardware as hw

    monkeypatch.setattr(hw, "gpus", lambda: ([{"name": "X"}], None) if gpu else ([], "no driver"))
    rows = inventory.scenario_rows()
    assert any(r["needs_gpu"] for r in rows) and any(not r["needs_gpu"] for r in rows)
    for r in rows:
        fw = framework_availability(r["framework"])
        if r["needs_gpu"] and not gpu and fw.available:
            assert (r["available"], r["reason"]) == (False, "needs an NVIDIA GPU (no driver)")
        else:
            assert (r["available"], r["reason"]) == (fw.available, fw.reason)


def test_frameworks_without_builds_name_their_reason() -> None:
    from profiler.core.frameworks import FRAMEWORKS

    others = inventory.frameworks_without_builds()
    assert [o["framework"] for o in others] == [n for n, f in FRAMEWORKS.items() if f.never_installable]
    assert all(o["available"] is False and o["reason"] for o in others)


def test_doctor_facts_hold_every_framework_and_probe(monkeypatch, tmp_path) -> None:
    from profiler.core.frameworks import FRAMEWORKS
    from profiler.probes import PROBES

    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path))
    facts = inventory.doctor_facts()
    assert set(facts["frameworks"]) == set(FRAMEWORKS) and set(facts["probes"]) == set(PROBES)
    assert all({"where", "summary", "available"} <= set(p) for p in facts["probes"].values())
    assert facts["calibration"] is None  # nothing cached in an empty cache folder


def _rec(**kw) -> dict:
    return {"version": CALIBRATION_VERSION, "cpu": {"peak_gbs": 10.0}, **kw}


@pytest.fixture
def measured(monkeypatch, tmp_path):
    """``measure_and_cache`` replaced by a recorder: the previous record it was given, per call."""
    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path))
    calls: list = []

    def fake(quick, previous):
        calls.append((quick, previous))
        return _rec(fresh=True)

    monkeypatch.setattr(cal, "measure_and_cache", fake)
    return calls


def test_ceilings_are_measured_when_none_is_cached(measured) -> None:
    c = inventory.ceilings(quick=True)
    assert measured == [(True, None)] and c.record["fresh"] and c.from_cache is False
    assert c.cache_file == str(calcache.cache_file())


def test_ceilings_come_from_the_cache_unless_forced(measured) -> None:
    calcache.save(_rec(cached=True))
    c = inventory.ceilings()
    assert measured == [] and c.from_cache and c.record["cached"]
    forced = inventory.ceilings(force=True)
    assert measured == [(False, _rec(cached=True))] and forced.record["fresh"] and not forced.from_cache


def test_ceilings_warnings() -> None:
    noisy = {"disturbed": True, "reasons": ["STREAM did not repeat"], "warnings": ["STREAM did not repeat"]}
    fresh = inventory.Ceilings(_rec(noise=noisy, cache={"note": "not cached: disturbed"}), "f", from_cache=False)
    assert fresh.warnings() == ["STREAM did not repeat", "not cached: disturbed"]
    assert inventory.Ceilings(_rec(cache={"note": "cached"}), "f", from_cache=False).warnings() == []
    cached = inventory.Ceilings(_rec(noise=noisy, cache={"note": "cached"}), "f", from_cache=True)
    assert cached.warnings() == [
        "this cached calibration is provisional (measured while the machine was disturbed: STREAM did not repeat); "
        "`profiler calibrate --force` measures again"]
    assert inventory.Ceilings(_rec(), "f", from_cache=True).warnings() == []
