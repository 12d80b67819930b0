"""``profiler trace -- CMD`` behaves like the user's own tool: the program's output passes through
(and is kept), its exit code is ours, and what it completed before a non-zero exit, a kill or a
Ctrl-C is saved and reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import needs_torch

from profiler.run.process import command_status

TRAIN = """
import sys, time
import torch
from torch.utils.data import DataLoader, TensorDataset
ds = TensorDataset(torch.randn(8 * 8, 16), torch.randint(0, 3, (8 * 8,)))
model = torch.nn.Linear(16, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in DataLoader(ds, batch_size=8):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
print("trained", flush=True)
mode = sys.argv[1]
if mode == "exit3":
    sys.exit(3)
if mode == "hang":
    print("waiting", flush=True)
    time.sleep(600)
"""


def test_command_status_says_how_the_program_ended():
    assert command_status(0, {"status": "ok"}) == "ok"
    assert command_status(0, {}) == "ok"  # --no-inject: nothing saved by the program itself
    assert command_status(3, {"status": "ok"}) == "exited 3"
    assert command_status(-9, {}) == "killed"
    assert command_status(-15, {"status": "interrupted"}) == "interrupted"


@pytest.mark.slow
def test_program_output_passes_through_and_its_exit_code_is_ours(cli, tmp_path):
    r = cli("trace", "--probes", "process", "--out", str(tmp_path / "runs"), "--",
            "python", "-c", "print('hi'); import sys; sys.exit(3)", timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
    assert r.stdout.startswith("hi\n")  # the program's line, live, before our report
    assert "status: program exited 3" in r.stdout
    (run,) = (tmp_path / "runs").iterdir()
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "program exited 3" and rec["variants"][0]["exit_code"] == 3
    assert (run / rec["variants"][0]["worker_dir"] / "stdout.log").read_text() == "hi\n"
    # no step ran: said, and the whole run is one step
    assert "no steps detected" in rec["variants"][0]["info"]["note"]
    assert rec["variants"][0]["step_ms"]["n_steps"] == 1


@pytest.mark.slow
def test_with_json_the_program_stdout_goes_to_stderr(cli, tmp_path):
    r = cli("trace", "--probes", "process", "--out", str(tmp_path / "runs"), "--json", "--",
            "python", "-c", "print('hi')", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)  # validated against the schema by run_cli
    assert doc["status"] == "ok" and "hi" in r.stderr


@pytest.mark.slow
@needs_torch
def test_training_then_exit_3_keeps_the_steps(cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    r = cli("trace", "--probes", "process", "--steps", "4", "--warmup", "1", "--out", str(tmp_path / "runs"),
            "--json", "--", "python", str(script), "exit3", timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
    (v,) = json.loads(r.stdout)["variants"]
    assert v["status"] == "exited 3" and v["step_ms"]["median"] > 0  # the profile is not dropped
    assert "trained" in r.stderr


def _start_and_wait_for(tmp_path: Path, script: Path, word: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), PROFILER_AUTO_CALIBRATE="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler", "trace", "--probes", "process", "--steps", "4", "--warmup", "1",
         "--out", str(tmp_path / "runs"), "--", "python", str(script), "hang"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    seen = ""
    while word not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert word in seen, seen
    return proc


@pytest.mark.slow
@needs_torch
def test_ctrl_c_keeps_the_completed_steps(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    proc = _start_and_wait_for(tmp_path, script, "waiting")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    (run,) = (tmp_path / "runs").iterdir()
    rec = json.loads((run / "run.json").read_text())
    (v,) = rec["variants"]
    assert v["status"] == "interrupted" and v["step_ms"]["median"] > 0
    assert "data_loading" in v["breakdown"]["ms"] or v["breakdown"]


@pytest.mark.slow
@needs_torch
def test_program_killed_keeps_the_completed_steps(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    proc = _start_and_wait_for(tmp_path, script, "waiting")
    out = subprocess.run(["pgrep", "-f", f"{script} hang"], capture_output=True, text=True).stdout.split()
    for pid in out:
        if int(pid) != proc.pid:
            os.kill(int(pid), signal.SIGKILL)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGKILL, err[-2000:]
    assert "status: program killed" in stdout
    (run,) = (tmp_path / "runs").iterdir()
    (v,) = json.loads((run / "run.json").read_text())["variants"]
    assert v["status"] == "killed" and "SIGKILL" in v["error"]


@pytest.mark.slow
@needs_torch
def test_the_programs_stderr_holds_its_own_lines_only(cli, tmp_path):
    """torch.profiler traces the program inside its own process; neither our diagnostics nor the
    framework's (a CUDA build probing for a GPU that is not there) may land in the program's stderr
    (kept in the worker's stderr.log): only what the program itself wrote."""
    script = tmp_path / "train.py"
    script.write_text(TRAIN + "\nprint('to stderr', file=sys.stderr, flush=True)\n")
    r = cli("trace", "--out", str(tmp_path / "runs"), "--", sys.executable, str(script), "ok", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (run,) = (tmp_path / "runs").iterdir()
    rec = json.loads((run / "run.json").read_text())
    assert rec["variants"][0]["step_ms"]["n_steps"] >= 2  # steps were found, so the tracer ran
    log = (run / rec["variants"][0]["worker_dir"] / "stderr.log").read_text()
    assert log.splitlines() == ["to stderr"], log[-2000:]
