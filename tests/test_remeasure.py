"""A variant the machine disturbed is measured again, once, and the entry says which one it shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.core.record import VariantEntry
from profiler.run import remeasure
from tests.conftest import run_cli, validate_document

DISTURBED = "other processes used 1.02 of 2 cores during python/numpy: its times are unreliable"


def _entry(why: list[str], worker_dir: str) -> VariantEntry:
    e = VariantEntry.from_dict({"key": "k", "scenario": "synthetic", "framework": "python", "variant": "numpy",
                                "mode": "train", "status": "ok", "worker_dir": worker_dir, "warnings": list(why),
                                "breakdown": {"reliability": {"reliable": not why, "why": list(why),
                                                              "remeasured": False}}})
    return e


def test_only_machine_disturbances_are_measured_again() -> None:
    assert remeasure.machine_disturbed(_entry([DISTURBED], "w")) == [DISTURBED]
    # a wide IQR may be the program's own pattern: a second worker would see it too
    wide = "python/numpy: the IQR of step times is 18% of the median (over 10%): the benchmark may be unstable"
    assert remeasure.machine_disturbed(_entry([wide], "w")) == []
    assert remeasure.machine_disturbed(_entry([], "w")) == []


def test_the_undisturbed_second_measurement_is_kept() -> None:
    first, second = _entry([DISTURBED], "workers/a"), _entry([], "workers/a-again")
    kept, keep_second = remeasure.settle(first, second, [DISTURBED], "ok", 3.21)
    assert keep_second and kept is second
    note = kept.breakdown["reliability"]["remeasured"]
    assert note["kept"] == "second" and note["attempts"] == 2 and note["first_why"] == [DISTURBED]
    assert note["worker_dirs"] == ["workers/a", "workers/a-again"] and note["seconds"] == 3.21
    assert kept.breakdown["reliability"]["reliable"] is True
    assert any("measured again in a fresh worker (3.2 s)" in w and "the second, undisturbed" in w
               for w in kept.warnings)


def test_a_second_disturbed_or_failed_measurement_keeps_the_first_unreliable() -> None:
    first = _entry([DISTURBED], "workers/a")
    kept, keep_second = remeasure.settle(first, _entry([DISTURBED], "workers/a-again"), [DISTURBED], "ok", 2.0)
    assert not keep_second and kept is first
    rel = kept.breakdown["reliability"]
    assert rel["reliable"] is False and rel["remeasured"]["second_why"] == [DISTURBED]
    kept, keep_second = remeasure.settle(_entry([DISTURBED], "workers/a"), None, [DISTURBED], "timeout", 9.0)
    assert not keep_second and kept.breakdown["reliability"]["remeasured"]["second_why"] == [
        "the second worker timeout"]


def test_the_budget_is_a_share_of_the_measured_time() -> None:
    b = remeasure.Budget()
    assert b.allows(remeasure.BUDGET_FLOOR_S) and not b.allows(remeasure.BUDGET_FLOOR_S + 1)
    b.measured_s = 200.0
    assert b.allows(100.0) and not b.allows(100.5)
    b.spent_s = 90.0
    assert not b.allows(11.0)


def _worker_dirs(root: Path) -> list[Path]:
    return [d for d in root.glob("*/workers/*") if d.is_dir()]


@pytest.mark.slow
def test_a_run_disturbed_by_a_busy_core_is_measured_again(tmp_path: Path) -> None:
    # a CPU-bound process of the test's own runs while the first worker measures, and stops when the
    # second starts: the first is flagged, the second measured; whichever is shown says so
    env = {**os.environ, "PROFILER_REMEASURE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "trace", "-s", "synthetic", "-f", "python", "--out", str(tmp_path),
                             "--json", "--steps", "40", "--trace-steps", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    hog = None
    try:
        deadline = time.monotonic() + 120
        while not _worker_dirs(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        while (not any(d.name.endswith("-again") for d in _worker_dirs(tmp_path)) and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    doc = json.loads(out)
    validate_document(doc)
    (v,) = doc["variants"]
    rel = v["breakdown"]["reliability"]
    note = rel["remeasured"]
    assert isinstance(note, dict) and note["attempts"] == 2, rel
    assert any("other processes used" in w for w in note["first_why"])
    assert any("measured again in a fresh worker" in w for w in v["warnings"])
    for d in note["worker_dirs"]:
        assert (Path(doc["run_dir"]) / d / "result.json").is_file()
    if note["kept"] == "second":
        assert v["worker_dir"].endswith("-again") and not note["second_why"]
        assert not any("other processes used" in w for w in rel["why"])
    else:  # the machine disturbed the second too: flagged, never shown as reliable
        assert note["second_why"] and rel["reliable"] is False
    # the report of the saved run says it too
    r = run_cli("report", doc["run_dir"], env={"COLUMNS": "200"})
    assert r.returncode == 0 and ("measured again" in r.stdout), r.stdout[-3000:]
