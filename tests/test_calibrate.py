"""``profiler calibrate``: measured ceilings, the per-machine cache, doctor and run.json wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.core import calibration as calcache
from profiler.run import calibrate as cal


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_quick_calibration_measures_positive_ceilings(cache):
    rec = cal.calibrate(quick=True)
    c = rec["cpu"]
    assert set(c["stream_gbs"]) == {"copy", "scale", "add", "triad"}
    assert all(v > 0 for v in c["stream_gbs"].values())
    assert c["sgemm_gflops"] > 0
    assert c["peak_gflops"] == max(c["sgemm_gflops"], c["fma_gflops"] or 0)
    assert c["peak_gbs"] == max(c["stream_gbs"].values())
    # no GPU here: the reason, never a number
    g = rec["gpu"]
    assert ("unavailable" in g and g["unavailable"].startswith("unavailable:")) or g.get("peak_gflops")
    assert calcache.load_cached() is None  # calibrate() alone does not cache
    p = calcache.save(rec)
    assert p.parent == cache and p.name == f"calibration-{calcache.machine_key()}.json"
    assert calcache.load_cached() == json.loads(p.read_text())
    assert "GFLOP/s" in calcache.summary_line(rec)


def test_unreadable_or_old_cache_is_ignored(cache):
    calcache.cache_file().write_text("{not json")
    assert calcache.load_cached() is None
    calcache.cache_file().write_text(json.dumps({"version": 0}))
    assert calcache.load_cached() is None
    assert calcache.summary_line(None).startswith("not calibrated")


def test_stream_counts_bytes_as_stream_does():
    r = cal.stream_cpu(1 << 16, 2)
    assert set(r) == {"copy", "scale", "add", "triad"} and all(v > 0 for v in r.values())


@pytest.mark.slow
def test_cli_calibrate_caches_and_doctor_shows_it(tmp_path, cli):
    env = {"PROFILER_CACHE_DIR": str(tmp_path)}
    r = cli("calibrate", "--quick", "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["from_cache"] is False and doc["cpu"]["peak_gflops"] > 0
    r2 = cli("calibrate", "--json", env=env)
    assert json.loads(r2.stdout)["from_cache"] is True
    d = cli("doctor", "--json", env=env)
    assert json.loads(d.stdout)["calibration"]["cpu"]["peak_gbs"] == doc["cpu"]["peak_gbs"]
    t = cli("doctor", env=env)
    assert "ceilings" in t.stdout and "GFLOP/s" in t.stdout


@pytest.mark.slow
def test_trace_calibrates_the_machine_once_before_its_workers(tmp_path, cli):
    env = {"PROFILER_CACHE_DIR": str(tmp_path / "cache"), "PROFILER_AUTO_CALIBRATE": "1"}
    faulty = str(Path(__file__).parent / "data" / "scenarios" / "faulty.py")
    r = cli("trace", "-s", faulty, "-v", "ok", "--out", str(tmp_path), "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "measuring this machine's ceilings once" in r.stderr
    run = json.loads((Path(json.loads(r.stdout)["run_dir"]) / "run.json").read_text())
    cal = run["calibration"]["record"]
    assert cal and cal["cpu"]["peak_gbs"] > 0 and cal["cpu"]["peak_gflops"] > 0
    # cached: the second run does not measure again
    r2 = cli("trace", "-s", faulty, "-v", "ok", "--out", str(tmp_path), "--json", env=env, timeout=300)
    assert r2.returncode == 0 and "measuring this machine" not in r2.stderr
