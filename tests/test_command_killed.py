"""Nothing lost on SIGKILL: a killed program keeps the steps its recorder checkpointed; a killed
``profiler`` parent leaves run.json "running", and the next ``profiler report`` says "killed" with
what was saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, needs_torch

from profiler.run.owner import owner_alive, owner_process

TRAIN = """
import sys, time
import torch
from torch.utils.data import DataLoader, TensorDataset
ds = TensorDataset(torch.randn(8 * 8, 16), torch.randint(0, 3, (8 * 8,)))
model = torch.nn.Linear(16, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
n = 0
for x, y in DataLoader(ds, batch_size=8):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
    n += 1
print("trained", n, flush=True)
time.sleep(600)
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PROFILER_AUTO_CALIBRATE="0", PROFILER_CHECKPOINT_S="0.2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler", "trace", "--probes", "process", "--steps", "4", "--warmup", "1",
         "--out", str(tmp_path / "runs"), "--", "python", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("trained "):
            time.sleep(1.0)  # several checkpoint intervals after the last step
            (run,) = (tmp_path / "runs").iterdir()
            return proc, int(line.split()[1]), run
        if not line:
            break
    proc.kill()
    raise AssertionError(proc.stderr.read()[-2000:])


def _program_pid(run: Path) -> int:
    return json.loads((run / "workers" / "command" / "result.json").read_text())["pid"]


@pytest.mark.slow
@needs_torch
def test_sigkill_of_the_program_keeps_its_checkpointed_steps(tmp_path):
    proc, n, run = _start(tmp_path)
    os.kill(_program_pid(run), signal.SIGKILL)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGKILL, err[-2000:]
    (v,) = json.loads((run / "run.json").read_text())["variants"]
    assert v["status"] == "killed"
    assert v["info"]["steps_detected"] == n == 8  # the program's own count
    assert v["step_ms"]["n_steps"] == n - 1 and v["breakdown"]  # 1 warm-up, the rest clean


@pytest.mark.slow
@needs_torch
def test_sigkill_of_profiler_is_reported_killed_by_the_next_report(cli, tmp_path):
    proc, n, run = _start(tmp_path)
    child = _program_pid(run)
    proc.kill()  # SIGKILL: no finally, no handler
    proc.communicate(timeout=60)
    os.kill(child, signal.SIGKILL)  # the orphaned program (its own session) is ours to clean up
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "running" and rec["variants"] == []
    r = cli("report", str(run), "--json", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert doc["status"] == "killed" and any("was killed before the run finished" in w for w in doc["warnings"])
    (v,) = doc["variants"]
    assert v["status"] == "killed" and v["step_ms"]["n_steps"] == n - 1  # what the checkpoints kept
    assert doc["settings"]["steps"] == n - 1  # the header's count is the panel's
    again = cli("report", str(run), timeout=120)  # saved: the second report reads the same
    assert again.returncode == 0 and "status: killed" in again.stdout


@pytest.mark.slow
def test_owner_alive_tells_a_live_process_from_a_dead_or_reused_pid():
    me = owner_process()
    assert owner_alive(me) is True
    assert owner_alive({**me, "start_ticks": (me["start_ticks"] or 0) + 1}) is False  # pid reused
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert owner_alive({**me, "pid": p.pid}) is False
    assert owner_alive({**me, "hostname": "elsewhere"}) is None
