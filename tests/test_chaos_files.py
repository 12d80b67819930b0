"""Files others can read, and every write that can fail failing on purpose (profiler/core/faults.py).

Fast tier: no worker process is started. A run's I/O is exercised through ``report TRACE`` (which
imports a small saved trace in-process) and through ``trace`` with the worker replaced by a stand-in
that returns what a finished worker returns (the parent's writes are then all real).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from profiler.cli.main import cli
from profiler.core import faults
from profiler.core.errors import InputError, RunFailed, os_error_line
from profiler.core.events import EventTable
from profiler.core.files import atomic_write_bytes, atomic_write_json, atomic_write_text, output_mode
from tests.conftest import DATA

SMALL_TRACE = DATA / "kineto" / "torch_cpu_small.json"
ERRNOS = ("ENOSPC", "EIO", "EACCES", "ENAMETOOLONG")


@pytest.fixture
def umask():
    """Set the umask for one test and put the previous one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _no_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def invoke(*args: str, env: dict | None = None):
    r = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)
    # never a traceback: either a clean exit or SystemExit with a code
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


# ------------------------------------------------------------------------------------------ umask
@pytest.mark.parametrize("mask,want", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask, want):
    umask(mask)
    assert output_mode() == want
    for i, write in enumerate((lambda p: atomic_write_bytes(p, b"x"), lambda p: atomic_write_text(p, "x"),
                               lambda p: atomic_write_json(p, {"a": 1}))):
        p = tmp_path / f"f{i}"
        write(p)
        assert _mode(p) == want, (p, oct(_mode(p)))
        write(p)  # a rewrite (the rename of a new temporary file) keeps it
        assert _mode(p) == want
    # the same as open() gives a new file under that umask (what every other program does)
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert _mode(plain) == want


def test_every_file_of_an_imported_run_is_readable_by_others(tmp_path, umask):
    umask(0o022)
    r = invoke("report", str(SMALL_TRACE), "--out", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    run = Path(json.loads(r.stdout)["run_dir"])
    files = [p for p in run.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"run.json", "trace.json.gz", "report.html"} <= names, names
    bad = {str(p.relative_to(run)): oct(_mode(p)) for p in files if _mode(p) != 0o644}
    assert not bad, bad


def test_chrome_trace_follows_the_umask(tmp_path, umask):
    from profiler.export.chrome import ChromeTraceExporter
    from profiler.importers import load_trace

    umask(0o002)
    table = load_trace(SMALL_TRACE).table
    out = ChromeTraceExporter().write(table, tmp_path / "t.json.gz")
    assert _mode(out) == 0o664


def test_compare_outputs_follow_the_umask(tmp_path, umask):
    from profiler.export.compare import COMPARE_CSV, COMPARE_JSON, write_outputs

    umask(0o022)
    with pytest.raises(KeyError):  # the chart of an empty comparison is refused; the tables come first
        write_outputs({"rows": [], "spread": None, "param_findings": [], "origin": None, "mode": "train"}, tmp_path)
    for name in (COMPARE_CSV, COMPARE_JSON):
        assert _mode(tmp_path / name) == 0o644


# -------------------------------------------------------------------------------- fault injection
def test_fault_spec_parsing():
    (r,) = faults.parse("write:3:ENOSPC")
    assert (r.op, r.nth, r.code, r.pattern, r.onwards) == ("write", 3, errno.ENOSPC, None, False)
    a, b = faults.parse("write:2+:eio:*.html; write:1:ENAMETOOLONG:run.json")
    assert (a.nth, a.onwards, a.code, a.pattern) == (2, True, errno.EIO, "*.html")
    assert (b.code, b.pattern) == (errno.ENAMETOOLONG, "run.json")
    for bad in ("write", "write:0:ENOSPC", "write:x:ENOSPC", "read:1:ENOSPC", "write:1:NOPE", "write:1:0"):
        with pytest.raises(InputError):
            faults.parse(bad)


@pytest.mark.parametrize("name", ERRNOS)
def test_nth_write_fails_and_leaves_the_previous_file_whole(tmp_path, name):
    p = tmp_path / "doc.json"
    atomic_write_json(p, {"v": 1})
    with faults.inject(f"write:2:{name}"):
        atomic_write_json(tmp_path / "other.json", {"v": 0})  # the 1st write: fine
        with pytest.raises(OSError) as ei:
            atomic_write_json(p, {"v": 2})  # the 2nd: fails
        atomic_write_json(tmp_path / "third.json", {"v": 3})  # the 3rd: fine again
    assert ei.value.errno == getattr(errno, name)
    assert ei.value.filename == str(p)
    assert json.loads(p.read_text()) == {"v": 1}  # what was complete stays
    assert _no_temp_files(tmp_path) == []
    line = os_error_line(ei.value)
    assert str(p) in line and "\n" not in line


def test_onwards_and_pattern_pick_the_writes(tmp_path):
    with faults.inject("write:2+:EIO:*.html"):
        atomic_write_text(tmp_path / "a.html", "1")
        atomic_write_text(tmp_path / "a.json", "1")  # not matched: not counted
        for _ in range(3):
            with pytest.raises(OSError):
                atomic_write_text(tmp_path / "b.html", "2")
    atomic_write_text(tmp_path / "b.html", "ok")  # outside the block nothing fails
    assert (tmp_path / "b.html").read_text() == "ok"


def test_environment_variable_switch(tmp_path, monkeypatch):
    monkeypatch.setenv(faults.FAULT_ENV, "write:1:ENOSPC:x.bin")
    with pytest.raises(OSError) as ei:
        atomic_write_bytes(tmp_path / "x.bin", b"1")
    assert ei.value.errno == errno.ENOSPC
    monkeypatch.setenv(faults.FAULT_ENV, "bogus")
    r = invoke("report", str(SMALL_TRACE), "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2 and r.stderr.startswith(f"profiler: error: {faults.FAULT_ENV}=")
    assert not (tmp_path / "runs").exists()  # refused before any work


@pytest.mark.parametrize("name", ERRNOS)
@pytest.mark.parametrize("which", ["run.json", "report.html", "trace.json.gz"])
def test_report_of_a_trace_with_a_failing_write(tmp_path, name, which):
    """Importing a trace: a failed run.json or Chrome trace is one line naming it (exit 1 for the
    machine's fault, 2 when the path is at fault: a permission, a name too long); the page failing
    is a warning. Never a traceback, never a temporary file left."""
    with faults.inject(f"write:1:{name}:{which}"):
        r = invoke("report", str(SMALL_TRACE), "--out", str(tmp_path), "--json")
    assert _no_temp_files(tmp_path) == []
    if which == "report.html":
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert any("report.html" in w for w in doc["warnings"]), doc["warnings"]
        return
    assert r.exit_code == (1 if name in ("ENOSPC", "EIO") else 2), r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error: ") and which in lines[0], lines
    assert os.strerror(getattr(errno, name)) in lines[0]


# ------------------------------------------------- a run's writes failing (the worker stood in for)
@pytest.fixture
def stand_in_worker(monkeypatch):
    """``trace`` without a worker process: run_job returns what a worker that ran and saved nothing
    returns; everything the parent writes (run.json, the page, the plots) is written for real."""
    import profiler.run.execute as ex
    from profiler.run.process import JobOutcome, write_spec

    def run_job(job, worker_dir, on_progress=None):
        write_spec(job, worker_dir, 0)  # as the real one does first
        atomic_write_json(worker_dir / "result.json", {"status": "ok"})
        return JobOutcome(job, "ok", {"status": "ok"}, EventTable(), worker_dir, 0)

    monkeypatch.setattr(ex, "run_job", run_job)
    monkeypatch.setenv("PROFILER_AUTO_CALIBRATE", "0")
    return run_job


@pytest.mark.parametrize("name", ERRNOS)
@pytest.mark.parametrize("nth", [1, 2, 3])
def test_trace_marks_the_run_failed_when_run_json_cannot_be_written(tmp_path, stand_in_worker, name, nth):
    with faults.inject(f"write:{nth}:{name}:run.json"):
        r = invoke("trace", "-s", "cudnn_lstm", "-f", "torch", "-v", "fused", "--repeat", "1", "--out", str(tmp_path), "-q")
    assert r.exit_code == 1, r.output  # the run started: a failed run, whatever the errno
    lines = r.stderr.strip().splitlines()
    err = [ln for ln in lines if ln.startswith("profiler: error:")]
    assert len(err) == 1 and "run.json" in err[0] and "saved as failed" in err[0], lines
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "failed"
    assert rec["failure"]["errno"] == name and rec["failure"]["path"] == str(run / "run.json")
    assert any("could not be saved" in w for w in rec["warnings"])
    assert _no_temp_files(tmp_path) == []
    if nth > 1:  # what was complete before the failure is kept: the worker's entry
        assert rec["variants"] and (run / "workers").is_dir()


def test_trace_when_every_later_write_fails_marks_the_last_complete_record_failed(tmp_path, stand_in_worker):
    """No room for a new run.json: the last complete one is marked failed in place (same bytes
    count), so the run is not left "running" forever; everything else in it is as written."""
    with faults.inject("write:2+:ENOSPC:run.json"):
        r = invoke("trace", "-s", "cudnn_lstm", "-f", "torch", "-v", "fused", "--repeat", "1", "--out", str(tmp_path), "-q")
    assert r.exit_code == 1
    assert "marked failed in its last complete run.json" in r.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())  # the first write, whole, its status changed
    assert rec["status"] == "failed" and rec["owner"]["pid"] == os.getpid() and rec["variants"] == []
    assert _no_temp_files(tmp_path) == []


def test_trace_whose_first_write_fails_leaves_no_empty_run_directory(tmp_path, stand_in_worker):
    with faults.inject("write:1+:ENOSPC:run.json"):
        r = invoke("trace", "-s", "cudnn_lstm", "-f", "torch", "-v", "fused", "--repeat", "1", "--out", str(tmp_path), "-q")
    assert r.exit_code == 1
    (err,) = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error:")]
    assert "run.json: No space left on device (nothing was saved; empty run directory" in err, err
    assert list(tmp_path.iterdir()) == []


def test_run_failed_is_exit_code_1():
    assert RunFailed("x").exit_code == 1


# ----------------------------------------------------------------- over-long path components (255)
LONG = "x" * 300


@pytest.mark.parametrize(
    "args",
    [
        ["trace", "-s", f"/tmp/{LONG}.py"],
        ["compare", "-s", f"/tmp/{LONG}.py"],
        ["scale", "-s", f"/tmp/{LONG}.py"],
        ["report", f"/tmp/{LONG}"],
        ["report", f"/tmp/{LONG}.json"],
        ["explain", f"/tmp/{LONG}", f"/tmp/{LONG}"],
        ["trace", "-s", "cudnn_lstm", "--out", f"/tmp/{LONG}"],
        ["trace", "--out", f"/tmp/{LONG}", "--", "python", f"/tmp/{LONG}.py"],
        ["report", str(SMALL_TRACE), "--out", f"/tmp/{LONG}"],
    ],
    ids=lambda a: "-".join(x[:12] for x in a[:3]),
)
def test_path_component_over_255_is_one_line(tmp_path, args):
    r = invoke(*args)
    assert r.exit_code in (2, 127), r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error: "), lines
    assert "Traceback" not in r.output


@pytest.mark.parametrize("name", ["ENOSPC", "EIO"])
@pytest.mark.parametrize("which", ["compare.csv", "compare.json", "run.json"])
def test_compare_marks_the_run_failed_when_its_tables_cannot_be_written(tmp_path, stand_in_worker, name, which):
    with faults.inject(f"write:1:{name}:{which}"):
        r = invoke("compare", "-s", "cudnn_lstm", "-f", "torch", "-v", "fused", "--repeat", "1",
                   "--out", str(tmp_path))
    assert r.exit_code == 1, r.output
    (err,) = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error:")]
    assert which in err and os.strerror(getattr(errno, name)) in err, err
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "failed" and rec["failure"]["path"].endswith(which)
    assert _no_temp_files(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("which", ["scaling.csv", "scaling.json", "run.json"])
def test_scale_marks_the_run_failed_when_its_files_cannot_be_written(tmp_path, monkeypatch, stand_in_worker, which):
    import profiler.run.thread_sweep as sweep

    monkeypatch.setattr(sweep, "run_job", stand_in_worker)
    with faults.inject(f"write:1:ENOSPC:{which}"):
        r = invoke("scale", "-s", "cudnn_lstm", "-f", "torch", "-v", "fused", "--threads", "1", "--repeat", "1",
                   "--out", str(tmp_path))
    assert r.exit_code == 1, r.output
    (err,) = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error:")]
    assert which in err and "No space left on device" in err, err
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "failed" and rec["failure"]["path"].endswith(which)
    assert _no_temp_files(tmp_path) == []


@pytest.mark.slow
def test_report_later_adds_the_workers_a_disk_full_run_could_not_record(tmp_path, stand_in_worker):
    """The worker ran and saved, but no run.json after it could be written: the record (marked
    failed in place) lacks its entry. Once its profiler is gone, ``report`` adds it from what the
    worker saved and keeps the run failed, saying why."""
    with faults.inject("write:2+:ENOSPC:run.json"):
        r = invoke("trace", "-s", "cudnn_lstm", "-f", "torch", "-v", "fused", "--repeat", "1", "--out", str(tmp_path), "-q")
    assert r.exit_code == 1
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "failed" and rec["variants"] == []
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    rec["owner"]["pid"] = dead.pid  # the profiler that wrote it has exited
    (run / "run.json").write_text(json.dumps(rec, indent=2))
    r = invoke("report", str(run), "--json")
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.stdout)
    assert doc["status"] == "failed"
    assert [v["status"] for v in doc["variants"]] == ["ok"]
    saved = json.loads((run / "run.json").read_text())
    assert saved["failure"]["reason"].startswith("the run could not be saved (the disk was full)")
    # a second report changes nothing more
    r2 = invoke("report", str(run), "--json")
    assert [v["status"] for v in json.loads(r2.stdout)["variants"]] == ["ok"]
