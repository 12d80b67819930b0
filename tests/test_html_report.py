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
