"""A run whose profiler died is recovered from what its workers saved (profiler.run.recover):
a ``--repeat`` variant's processes (``KEY``, ``KEY.p2`` …) are one entry, as the run makes them,
never one entry per process folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("lost", ["whole-entry", "second-process"])
def test_a_killed_repeat_run_keeps_one_entry_per_variant(cli, tmp_path, lost):
    r = cli("trace", "--scenario", "synthetic", "--repeat", "2", "--warmup", "1", "--steps", "3",
            "--trace-steps", "2", "--out", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    (run,) = [p for p in tmp_path.iterdir() if (p / "run.json").is_file()]
    rec = json.loads((run / "run.json").read_text())
    full = {v["key"]: v for v in rec["variants"]}
    assert all(v["repeats"]["n_processes"] == 2 for v in full.values())
    # as a SIGKILL would leave it: still "running", its writer gone, the last variant not (fully) saved
    rec["status"] = "running"
    rec["owner"]["pid"] = _dead_pid()
    last = rec["variants"][-1]
    if lost == "whole-entry":
        rec["variants"] = rec["variants"][:-1]
    else:
        last["repeats"]["processes"] = last["repeats"]["processes"][:1]
        last["repeats"]["n_processes"] = 1
    (run / "run.json").write_text(json.dumps(rec))

    r = cli("report", str(run), "--json")
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "killed"
    keys = [v["key"] for v in doc["variants"]]
    assert sorted(keys) == sorted(full), keys  # no "KEY.p2" entry of its own
    again = {v["key"]: v for v in doc["variants"]}[last["key"]]
    assert again["repeats"]["n_processes"] == 2
    assert [p["key"] for p in again["repeats"]["processes"]] == [last["key"], f"{last['key']}.p2"]
    assert again["step_ms"]["n_processes"] == 2
    assert again["step_ms"]["median"] == pytest.approx(full[last["key"]]["step_ms"]["median"])
