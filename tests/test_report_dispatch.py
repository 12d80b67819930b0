"""``profiler report PATH`` picks the reader by content: our own trace (zipped or not), Kineto JSON
plain or gzipped, a tensorboard_trace_handler folder, an eventless trace (exit 2), and directories
searched only where the layouts put files."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from conftest import DATA

CPU = DATA / "kineto" / "torch_cpu_small.json"


def _report(cli, path, tmp_path):
    return cli("report", str(path), "--out", str(tmp_path / "runs"), "--json", timeout=300)


@pytest.mark.slow
def test_our_own_trace_reports_its_run(cli, tmp_path):
    r = _report(cli, CPU, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    first = json.loads(r.stdout)
    trace = tmp_path / "runs" / first["run_dir"].split("/")[-1] / "trace.json.gz"
    again = _report(cli, trace, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    doc = json.loads(again.stdout)
    assert doc["run_dir"] == first["run_dir"]  # the run it came from, not a new MXNet import
    assert doc["variants"][0]["breakdown_ms"] == first["variants"][0]["breakdown_ms"]
    plain = trace.with_name("trace.json")
    plain.write_bytes(gzip.decompress(trace.read_bytes()))
    assert json.loads(_report(cli, plain, tmp_path).stdout)["run_dir"] == first["run_dir"]
    away = tmp_path / "copy.json"
    shutil.copy(plain, away)
    r = _report(cli, away, tmp_path)
    assert r.returncode == 2 and "written by this profiler" in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.slow
def test_gzipped_kineto_and_a_trace_handler_folder(cli, tmp_path):
    plain = json.loads(_report(cli, CPU, tmp_path).stdout)
    logdir = tmp_path / "tb"
    logdir.mkdir()
    (logdir / "host_1.123.pt.trace.json.gz").write_bytes(gzip.compress(CPU.read_bytes()))
    doc = json.loads(_report(cli, logdir / "host_1.123.pt.trace.json.gz", tmp_path).stdout)
    assert doc["variants"][0]["framework"] == "torch"
    assert doc["variants"][0]["breakdown_ms"] == plain["variants"][0]["breakdown_ms"]
    folder = _report(cli, logdir, tmp_path)
    assert folder.returncode == 0, folder.stderr[-2000:]
    assert json.loads(folder.stdout)["variants"][0]["breakdown_ms"] == plain["variants"][0]["breakdown_ms"]


@pytest.mark.slow
def test_eventless_trace_is_one_line_exit_2(cli, tmp_path):
    p = tmp_path / "empty.json"
    p.write_text('{"traceEvents": []}')
    r = _report(cli, p, tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"profiler: error: {p}: a Chrome trace with no events"]


@pytest.mark.slow
def test_directories_are_not_crawled(cli, tmp_path):
    deep = tmp_path / "tool" / "cache" / "x" / "y"
    deep.mkdir(parents=True)
    shutil.copy(DATA / "xspace" / "tiny_train.xplane.pb", deep / "h.xplane.pb")
    r = _report(cli, tmp_path, tmp_path)
    assert r.returncode == 2, r.stdout[-500:]  # not the unrelated profile deep inside
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_several_profiles_ask_for_one(cli, tmp_path):
    for run in ("a", "b"):
        d = tmp_path / "logs" / "plugins" / "profile" / run
        d.mkdir(parents=True)
        shutil.copy(DATA / "xspace" / "tiny_train.xplane.pb", d / "h.xplane.pb")
    r = _report(cli, tmp_path / "logs", tmp_path)
    assert r.returncode == 2 and "2 TensorFlow profiles found" in r.stderr and "give one" in r.stderr
