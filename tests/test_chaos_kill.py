"""Kill the profiler for real, in each phase of a worker and in its own final save, and find no
process of the run left; kill it while its short-lived helpers run (the reader of a user's scenario
file, ``profiler calibrate``'s tracer-cost worker), and find none of them left either.

Slow tier: each test starts a real profiler and a worker (a Python-only scenario, no framework).
Every process of the run carries a tag in its environment (inherited by the worker, its children and
the guardian), so survivors are found by scanning /proc, whatever their process group; the run's
owner record and the workers' saved pids are checked too. ``report`` afterwards shows the run
``killed`` with the steps its worker had finished. The save phase is reached without a sleep: the
fault injection's ``HANG`` stops the profiler in the middle of the write chosen
(``profiler/core/faults.py``) and says so in a file the test polls for.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="scans /proc (Linux)"),
]

HANGS = str(DATA / "scenarios" / "hangs.py")
FEW = ("--warmup", "2", "--steps", "3", "--trace-steps", "2", "--repeat", "1", "--probes", "process")


def tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment carries ``CHAOS_TAG=tag`` (zombies excluded)."""
    needle = f"CHAOS_TAG={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle not in (d / "environ").read_bytes().split(b"\0"):
                continue
            state = (d / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":
            found.append(int(d.name))
    return found


def survivors(tag: str, within_s: float) -> list[int]:
    """Whatever of the run is still alive after ``within_s`` seconds (polled)."""
    end = time.monotonic() + within_s
    while True:
        left = tagged(tag)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.1)


def describe(pids: list[int]) -> list[str]:
    out = []
    for p in pids:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{p}: {cmd[:120]}")
        except OSError:
            out.append(f"{p}: gone")
    return out


def start(tmp_path: Path, variant: str, tag: str, *extra: str, env: dict | None = None,
          wrapper: list[str] | None = None) -> tuple[subprocess.Popen, Path]:
    mark = tmp_path / "hang.mark"
    e = {**os.environ, "CHAOS_TAG": tag, "PROFILER_CHECKPOINT_S": "0", "PROFILER_AUTO_CALIBRATE": "0",
         "HANGS_MARK": str(mark), **(env or {})}
    argv = [*(wrapper or []), sys.executable, "-m", "profiler", "trace", "-s", HANGS, "-v", variant, *FEW,
            "--out", str(tmp_path / "runs"), "--json", *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=e, text=True)
    return proc, mark


def wait_for_mark(mark: Path, proc: subprocess.Popen, timeout: float = 60.0) -> list[str]:
    """Until a process of the run stops where the test wants it and says so in ``mark`` (written
    whole: a temporary name, then a rename): the words it wrote."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if mark.exists():
            return mark.read_text().split()
        if proc.poll() is not None:
            raise AssertionError(f"profiler ended first ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"nothing reached its hang within {timeout:g} s ({mark.name})")


def wait_for(mark: Path, proc: subprocess.Popen, timeout: float = 60.0) -> tuple[int, int]:
    """Until the worker hangs (it writes its pid and its child's): (worker pid, child pid)."""
    worker, child = map(int, wait_for_mark(mark, proc, timeout))
    return worker, child


def kill_and_scan(proc: subprocess.Popen, tag: str) -> None:
    """SIGKILL the profiler; nothing of the run may be left after the guardian's grace."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    left = survivors(tag, within_s=15)
    assert not left, describe(left)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def the_run(tmp_path: Path) -> Path:
    (run,) = (tmp_path / "runs").iterdir()
    return run


@pytest.mark.parametrize("phase", ["import", "build", "warmup", "measure", "trace", "stubborn"])
def test_sigkill_of_the_profiler_leaves_no_process_behind(tmp_path, phase):
    tag = uuid.uuid4().hex
    variant = "measure" if phase == "import" else phase
    proc, mark = start(tmp_path, variant, tag, env={"HANGS_AT_IMPORT": "1"} if phase == "import" else None)
    try:
        worker, child = wait_for(mark, proc)
        assert set(tagged(tag)) >= {proc.pid, worker, child}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # the worker gets SIGTERM at once (parent-death signal); the guardian SIGKILLs the group
        # after its 3 s grace (a stubborn worker needs that)
        left = survivors(tag, within_s=15)
        assert not left, describe(left)
        assert not alive(worker) and not alive(child)
    finally:
        for p in tagged(tag):  # never leave anything to the next test, whatever failed
            os.kill(p, signal.SIGKILL)
    run = the_run(tmp_path)
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "running" and rec["owner"]["pid"] == proc.pid  # as the kill left it
    # report later: the dead owner is noticed, the run is "killed", what the worker finished is kept
    r = subprocess.run([sys.executable, "-m", "profiler", "report", str(run), "--json"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120, env={**os.environ, "PROFILER_AUTO_CALIBRATE": "0"})
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "killed", doc["status"]
    (v,) = doc["variants"]
    if phase in ("measure", "trace", "stubborn"):
        assert v["step_ms"] and v["step_ms"]["n_steps"] >= 1, v  # measured steps before the hang
    if phase == "trace":
        assert v["step_ms"]["n_steps"] == 3


def test_sigkill_leaves_no_py_spy_behind(tmp_path):
    """py-spy samples the worker from the parent side: it too dies with the profiler."""
    from profiler.probes import availability_of

    if not availability_of("pyspy").available:
        pytest.skip(f"py-spy unavailable: {availability_of('pyspy').reason}")
    tag = uuid.uuid4().hex
    proc, mark = start(tmp_path, "measure", tag, "--probes", "process,pyspy")
    try:
        wait_for(mark, proc)
        spies = [p for p in tagged(tag) if b"py-spy" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert spies, describe(tagged(tag))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        left = survivors(tag, within_s=15)
        assert not left, describe(left)
    finally:
        for p in tagged(tag):
            os.kill(p, signal.SIGKILL)


@pytest.mark.parametrize("how", ["sigterm", "timeout-wrapper", "sighup"])
def test_termination_saves_the_run_and_leaves_nothing(tmp_path, how):
    """SIGTERM (``kill``, a batch system), ``timeout`` (SIGTERM from a wrapper), SIGHUP (the terminal
    closed): the run is saved ``interrupted`` with the steps measured, the exit code says which."""
    tag = uuid.uuid4().hex
    wrapper = ["timeout", "-s", "TERM", "8"] if how == "timeout-wrapper" else None
    proc, mark = start(tmp_path, "measure", tag, wrapper=wrapper)
    try:
        wait_for(mark, proc)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        elif how == "sighup":
            proc.send_signal(signal.SIGHUP)
        _out, err = proc.communicate(timeout=60)
        left = survivors(tag, within_s=10)
        assert not left, describe(left)
    finally:
        for p in tagged(tag):
            os.kill(p, signal.SIGKILL)
    want = {"sigterm": 128 + signal.SIGTERM, "sighup": 128 + signal.SIGHUP, "timeout-wrapper": 124}[how]
    assert proc.returncode == want, err[-2000:]
    assert "Traceback" not in err
    rec = json.loads((the_run(tmp_path) / "run.json").read_text())
    assert rec["status"] == "interrupted"
    (v,) = rec["variants"]
    assert v["status"] == "interrupted" and v["step_ms"]["n_steps"] >= 1


def test_worker_ignoring_sigterm_is_killed_on_timeout(tmp_path):
    tag = uuid.uuid4().hex
    proc, _mark = start(tmp_path, "stubborn", tag, "--timeout", "5")
    try:
        out, err = proc.communicate(timeout=90)
        left = survivors(tag, within_s=5)
        assert not left, describe(left)
    finally:
        for p in tagged(tag):
            os.kill(p, signal.SIGKILL)
    assert proc.returncode == 1, err[-2000:]
    doc = json.loads(out)
    (v,) = doc["variants"]
    assert v["status"] == "timeout" and "timed out after 5 s" in v["error"]


def test_disk_full_while_saving_a_real_run(tmp_path):
    """The worker runs and saves; the parent's final run.json fails (disk full): one line naming
    it, exit 1, the run marked failed with the reason, no temporary file anywhere."""
    tag = uuid.uuid4().hex
    e = {**os.environ, "CHAOS_TAG": tag, "PROFILER_AUTO_CALIBRATE": "0",
         "PROFILER_FAULT": "write:3:ENOSPC:run.json"}
    r = subprocess.run([sys.executable, "-m", "profiler", "trace", "-s", str(DATA / "scenarios" / "faulty.py"),
                        "-v", "ok", "--out", str(tmp_path), "-q"], capture_output=True, text=True, cwd=ROOT,
                       env=e, timeout=120)
    assert r.returncode == 1, r.stderr[-2000:]
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error")]
    assert len(err) == 1 and "run.json: No space left on device" in err[0], r.stderr
    assert "Traceback" not in r.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "failed" and rec["failure"]["errno"] == "ENOSPC"
    assert rec["variants"][0]["status"] == "ok"  # what was measured is kept
    assert not list(tmp_path.rglob("*.tmp"))
    assert not survivors(tag, within_s=5)


def test_disk_full_while_exporting_the_trace(tmp_path):
    tag = uuid.uuid4().hex
    e = {**os.environ, "CHAOS_TAG": tag, "PROFILER_AUTO_CALIBRATE": "0",
         "PROFILER_FAULT": "write:1:ENOSPC:trace.json.gz"}
    r = subprocess.run([sys.executable, "-m", "profiler", "trace", "-s", str(DATA / "scenarios" / "faulty.py"),
                        "-v", "ok", "--out", str(tmp_path), "-q"], capture_output=True, text=True, cwd=ROOT,
                       env=e, timeout=120)
    assert r.returncode == 1, r.stderr[-2000:]
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error")]
    assert len(err) == 1 and "trace.json.gz: No space left on device" in err[0], r.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "failed" and "trace.json.gz" in rec["failure"]["path"]
    assert not (run / "trace.json.gz").exists() and not list(tmp_path.rglob("*.tmp"))
    assert not survivors(tag, within_s=5)


# A scenario file whose declaration never comes: when the profiler's reader imports it
# (``--describe``), it starts a child and hangs, saying so in $READ_MARK.
HANGS_WHEN_READ = """
import os, subprocess, sys, time
if "--describe" in sys.argv:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    mark = os.environ["READ_MARK"]
    with open(mark + ".part", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.replace(mark + ".part", mark)
    while True:
        time.sleep(0.1)
"""


def test_sigkill_while_reading_a_scenario_file_leaves_no_process_behind(tmp_path):
    """The worker that reads a user's scenario declaration (core/registry.py) dies with the
    profiler, and so does what the file started when imported."""
    tag = uuid.uuid4().hex
    f = tmp_path / "reads_forever.py"
    f.write_text(HANGS_WHEN_READ)
    mark = tmp_path / "read.mark"
    e = {**os.environ, "CHAOS_TAG": tag, "PROFILER_AUTO_CALIBRATE": "0", "READ_MARK": str(mark)}
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "trace", "-s", str(f), "--out", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=e, text=True)
    try:
        reader, child = wait_for(mark, proc)
        assert set(tagged(tag)) >= {proc.pid, reader, child}
        assert os.getpgid(reader) == reader != os.getpgid(proc.pid)  # its own group
        kill_and_scan(proc, tag)
    finally:
        for p in tagged(tag):
            os.kill(p, signal.SIGKILL)


# Stands in for a tracer-cost worker that never ends: a sitecustomize (on PYTHONPATH) that, in the
# ``python -m profiler.run.tracer_cost`` child of ``profiler calibrate`` only, starts a child and hangs.
TRACER_COST_HANGS = """
import os, subprocess, sys, time
if "profiler.run.tracer_cost" in getattr(sys, "orig_argv", sys.argv):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    mark = os.environ["CAL_MARK"]
    with open(mark + ".part", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.replace(mark + ".part", mark)
    while True:
        time.sleep(0.1)
"""


def test_sigkill_of_calibrate_leaves_no_worker_behind(tmp_path):
    """``profiler calibrate`` measures the tracers' cost in a child per framework: killed while one
    runs, nothing of it survives, and nothing is cached."""
    tag = uuid.uuid4().hex
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(TRACER_COST_HANGS)
    mark, cache = tmp_path / "cal.mark", tmp_path / "cache"
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    e = {**os.environ, "CHAOS_TAG": tag, "PROFILER_CACHE_DIR": str(cache), "CAL_MARK": str(mark), "PYTHONPATH": path}
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "calibrate", "--quick", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=e, text=True)
    try:
        worker, child = wait_for(mark, proc, timeout=300)  # after the CPU rounds (seconds)
        assert b"profiler.run.tracer_cost" in Path(f"/proc/{worker}/cmdline").read_bytes()
        assert set(tagged(tag)) >= {proc.pid, worker, child}
        kill_and_scan(proc, tag)
    finally:
        for p in tagged(tag):
            os.kill(p, signal.SIGKILL)
    assert not list(cache.glob("calibration-*"))  # killed before saving


# The parent's own save phase, after the worker ended: each file it writes there, and which write of it.
SAVE_WRITES = {"trace-export": ("trace.json.gz", 1), "page": ("report.html", 1), "final-record": ("run.json", 3)}


@pytest.mark.parametrize("at", list(SAVE_WRITES))
def test_sigkill_while_saving_loses_nothing_collected(tmp_path, at):
    """SIGKILL of the profiler in its final save, stopped mid-write by the fault injection (``HANG``:
    the file's temporary file exists): no process survives; ``report`` later shows the run ``killed``
    with every step the worker finished, every file whole, and no partial file left."""
    name, nth = SAVE_WRITES[at]
    tag = uuid.uuid4().hex
    mark, out = tmp_path / "save.mark", tmp_path / "runs"
    e = {**os.environ, "CHAOS_TAG": tag, "PROFILER_AUTO_CALIBRATE": "0",
         "PROFILER_FAULT": f"write:{nth}:HANG:{name}", "PROFILER_FAULT_MARK": str(mark)}
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "trace", "-s", str(DATA / "scenarios" / "faulty.py"),
                             "-v", "ok", "--out", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=e, text=True)
    try:
        pid, where = wait_for_mark(mark, proc, timeout=120)
        assert int(pid) == proc.pid and Path(where).name == name  # the parent, saving that file
        assert list(out.rglob(f".{name}.*.tmp"))  # mid-write: the partial file is there
        kill_and_scan(proc, tag)
    finally:
        for p in tagged(tag):
            os.kill(p, signal.SIGKILL)
    run = the_run(tmp_path)
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "running" and rec["owner"]["pid"] == proc.pid  # as the kill left it
    (measured,) = rec["variants"]
    assert measured["status"] == "ok" and measured["step_ms"]["n_steps"] >= 1  # the worker had finished
    r = subprocess.run([sys.executable, "-m", "profiler", "report", str(run), "--json"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120, env={**os.environ, "PROFILER_AUTO_CALIBRATE": "0"})
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "killed", doc["status"]
    (v,) = doc["variants"]
    assert v["status"] == "ok" and v["step_ms"]["n_steps"] == measured["step_ms"]["n_steps"]
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]  # no partial file left
    # every file whole: the record, the worker's events, the trace rebuilt from them, the page
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "killed" and rec["trace"] == "trace.json.gz"
    from profiler.core.events import EventTable
    from profiler.export.chrome import ChromeTraceExporter

    events = EventTable.load(run / measured["events"])
    assert len(events) == measured["n_events"] > 0
    ChromeTraceExporter().write(events, tmp_path / "alone.json.gz")  # the worker's events, exported alone

    def spans(path: Path) -> list[tuple[str, str]]:
        with gzip.open(path, "rt") as f:
            return sorted((e["ph"], e["name"]) for e in json.load(f)["traceEvents"] if e["ph"] != "M")

    assert spans(run / "trace.json.gz") == spans(tmp_path / "alone.json.gz") != []
    assert (run / "report.html").read_text().rstrip().endswith("</html>")
