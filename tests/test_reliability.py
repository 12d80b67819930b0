"""Nothing lost: worker crashes, timeouts, interrupts, concurrent runs, and safe file handling."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.export.chrome_check import check_chrome_trace, load_trace
from tests.conftest import DATA, ROOT, run_cli

FAULTY = str(DATA / "scenarios" / "faulty.py")


def _trace(
    variant: str, out: Path, *extra: str, env: dict | None = None
) -> tuple[subprocess.CompletedProcess, dict]:
    env = {"PROFILER_CHECKPOINT_S": "0", **(env or {})}  # checkpoint after every step
    r = run_cli(
        "trace", "-s", FAULTY, "-v", variant, "--out", str(out), "--json", *extra, env=env, timeout=120
    )
    doc = json.loads(r.stdout) if r.stdout.strip() else {}
    return r, doc


def _assert_saved_partial(doc: dict, status: str) -> dict:
    v = doc["variants"][0]
    assert v["status"] == status, v
    run = Path(doc["run_dir"])
    rec = json.loads((run / "run.json").read_text())
    entry = rec["variants"][0]
    assert entry["status"] == status and entry["error"]
    # the steps measured before the fault were kept
    assert entry["step_ms"]["n_steps"] >= 1, entry
    assert check_chrome_trace(load_trace(run / rec["trace"])) == []
    return entry


@pytest.mark.slow
def test_python_exception_is_saved_with_traceback_tail(tmp_path):
    r, doc = _trace("raise", tmp_path)
    assert r.returncode == 1
    e = _assert_saved_partial(doc, "failed")
    assert "RuntimeError: boom at step 3" in e["error"]
    stderr = (Path(doc["run_dir"]) / e["worker_dir"] / "stderr.log").read_text()
    assert "Traceback" in stderr


@pytest.mark.slow
@pytest.mark.parametrize("variant,signame", [("abort", "SIGABRT"), ("segfault", "SIGSEGV")])
def test_worker_killed_by_signal_keeps_checkpointed_steps(tmp_path, variant, signame):
    r, doc = _trace(variant, tmp_path)
    assert r.returncode == 1
    e = _assert_saved_partial(doc, "failed")
    assert signame in e["error"] and e["exit_code"] < 0


@pytest.mark.slow
def test_out_of_memory_under_a_limit_is_a_failed_run(tmp_path):
    _r, doc = _trace("oom", tmp_path)
    e = _assert_saved_partial(doc, "failed")
    assert "MemoryError" in e["error"]


@pytest.mark.slow
def test_timeout_kills_the_whole_tree_and_saves(tmp_path):
    pid_file = tmp_path / "child.pid"
    t0 = time.monotonic()
    _r, doc = _trace(
        "hang_with_child", tmp_path, "--timeout", "6", env={"FAULTY_CHILD_PID_FILE": str(pid_file)}
    )
    assert time.monotonic() - t0 < 60
    e = _assert_saved_partial(doc, "timeout")
    assert "timed out after 6 s" in e["error"]
    child = int(pid_file.read_text())
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


@pytest.mark.slow
def test_ctrl_c_saves_an_interrupted_run(tmp_path):
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "profiler.cli.main",
            "trace",
            "-s",
            FAULTY,
            "-v",
            "hang,ok",
            "--out",
            str(tmp_path),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait until the hanging worker has measured some steps (its checkpoint appears)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if list(tmp_path.glob("*/workers/*/result.json")):
            break
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    run = next(tmp_path.glob("*-faulty"))
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "interrupted"
    st = {v["variant"]: v["status"] for v in rec["variants"]}
    assert st == {"hang": "interrupted", "ok": "interrupted"}
    hang = next(v for v in rec["variants"] if v["variant"] == "hang")
    assert hang["step_ms"]["n_steps"] >= 1


@pytest.mark.slow
def test_two_processes_at_once_never_share_a_run_directory(tmp_path):
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "profiler.cli.main",
                "trace",
                "-s",
                FAULTY,
                "-v",
                "ok",
                "--out",
                str(tmp_path),
                "--json",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    docs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    dirs = {d["run_dir"] for d in docs}
    assert len(dirs) == 2
    for d in docs:
        assert d["status"] == "ok"
        assert not list(Path(d["run_dir"]).rglob("*.tmp"))


def test_no_pickle_eval_or_shell_in_the_toolkit():
    offenders = []
    for path in list((ROOT / "profiler").rglob("*.py")) + list((ROOT / "scenarios").rglob("*.py")):
        text = path.read_text()
        if re.search(r"shell\s*=\s*True|\beval\(|^\s*import pickle|allow_pickle\s*=\s*True", text, re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
