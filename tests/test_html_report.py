"""report.html in a real browser: headless Chromium loads it offline, logs nothing to the console,
and shows the figures run.json holds. Skipped when Chromium is absent (``apt-get install -y chromium``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from test_summary import _record

from profiler.core.rundir import RunDir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--host-resolver-rules=MAP * ~NOTFOUND"]  # offline: any network request would fail


def _run_dir(tmp_path):
    run = RunDir.create(tmp_path, "demo")
    run.write_record(_record(4, 3))
    return run.path


def test_html_report_is_self_contained(tmp_path, cli):
    d = _run_dir(tmp_path)
    r = cli("report", str(d), "--html")
    assert r.returncode == 0, r.stderr
    page = (d / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.replace('href="https://ui.perfetto.dev"', ""))
    assert "<svg" in page and "<script>" in page
    bad = cli("report", str(d), "--html", str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="unavailable: chromium not installed (apt-get install -y chromium)")
def test_html_report_in_headless_chromium(tmp_path, cli):
    d = _run_dir(tmp_path)
    assert cli("report", str(d), "--html").returncode == 0
    url = (d / "report.html").resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console  # the page logs nothing: no errors, no failed loads
    doc = json.loads((d / "run.json").read_text())
    shown = dict(re.findall(r'data-key="step-median:([^"]+)" data-v="[^"]*">([^<]+)<', dom.stdout))
    ok = [v for v in doc["variants"] if v["status"] == "ok"]
    assert len(shown) == len(doc["variants"]) and ok
    for v in ok:
        med = v["step_ms"]["median"]
        assert shown[f"{v['framework']}/{v['variant']}"] == (f"{med:,.3f}" if med < 10 else f"{med:,.1f}")
    speedups = re.findall(r'data-key="speedup:[^"]+" data-v="([^"]+)"', dom.stdout)
    assert [float(s) for s in speedups] == [c["speedup"] for c in doc["comparisons"]]
    assert re.search(r'data-key="status">' + doc["status"] + "<", dom.stdout)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1200,1600", url],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_every_trace_run_writes_report_html_and_lists_its_files(tmp_path, cli):
    """A real (framework-free) trace run: report.html beside run.json, its figures the record's, and
    the summary's files line names every file in the run directory."""
    env = {"PROFILER_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "100"}
    r = cli("trace", "--scenario", "synthetic", "--probes", "process", "--out", str(tmp_path / "runs"),
            "--quiet", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    (d,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    doc = json.loads((d / "run.json").read_text())
    page = (d / "report.html").read_text()
    for v in doc["variants"]:
        med = v["step_ms"]["median"]
        shown = f"{med:,.3f}" if med < 10 else f"{med:,.1f}"
        assert f'data-key="step-median:{v["framework"]}/{v["variant"]}" data-v="{med}">{shown}<' in page
    assert "details" not in r.stdout.splitlines()  # --quiet: the summary only
    top = [p.name for p in d.iterdir() if p.is_file()]
    assert "report.html" in top
    files_line = next(ln for ln in r.stdout.splitlines() if ln.startswith("files: "))
    for name in top:
        assert name in r.stdout, (name, files_line)
