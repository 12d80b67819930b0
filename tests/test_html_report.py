"""report.html in a real browser: headless Chromium loads it offline, logs nothing to the console,
and shows the figures run.json holds — for a trace run and a compare run. Skipped when Chromium is
absent (``apt-get install -y chromium``). Also: the page's compare, scaling, roofline and probe
charts against their record, and the error bars of compare.png and scaling.png."""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
import subprocess

import pytest
from test_summary import _record

from profiler.core.record import RunRecord
from profiler.core.rundir import RunDir
from profiler.export.html import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--host-resolver-rules=MAP * ~NOTFOUND"]  # offline: any network request would fail


def _run_dir(tmp_path, record=None):
    run = RunDir.create(tmp_path, "demo")
    run.write_record(record or _record(4, 3))
    return run.path


def _shown_ms(v: float) -> str:
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


def _compare_record() -> RunRecord:
    """A compare run's record: three variants with CIs (one without), the compare section."""
    d = _record(3, 2).to_dict()
    d["kind"] = "compare"
    d["scenario"] = {"name": "demo", "implementations": [{"framework": "tensorflow"}]}
    for i, v in enumerate(d["variants"][:3]):
        m = v["step_ms"]["median"]
        v["step_ms"]["ci95"] = [m * 0.95, m * (1.1 + 0.1 * i)] if i != 1 else None
    d["compare"] = {"files": {}, "spread": "the spread", "param_findings": [], "unavailable": []}
    return RunRecord.from_dict(d)


def _dom(url: str) -> tuple[str, list[str]]:
    """Chromium's DOM of ``url`` after its scripts ran, and its console lines."""
    dom = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout, [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]


def _svg(page: str, label: str) -> str:
    m = re.search(r'<svg class="chart"[^>]*aria-label="' + re.escape(label) + r'">(.*?)</svg>', page, re.S)
    assert m, f"no {label} in the page"
    return m.group(1)


@pytest.mark.slow
def test_html_report_is_self_contained(tmp_path, cli):
    d = _run_dir(tmp_path)
    r = cli("report", str(d), "--html")
    assert r.returncode == 0, r.stderr
    page = (d / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.replace('href="https://ui.perfetto.dev"', ""))
    assert "<svg" in page and "<script>" in page
    bad = cli("report", str(d), "--html", str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="unavailable: chromium not installed (apt-get install -y chromium)")
def test_html_report_in_headless_chromium(tmp_path, cli):
    d = _run_dir(tmp_path)
    assert cli("report", str(d), "--html").returncode == 0
    url = (d / "report.html").resolve().as_uri()
    dom, console = _dom(url)
    assert not console, console  # the page logs nothing: no errors, no failed loads
    doc = json.loads((d / "run.json").read_text())
    shown = dict(re.findall(r'data-key="step-median:([^"]+)" data-v="[^"]*">([^<]+)<', dom))
    ok = [v for v in doc["variants"] if v["status"] == "ok"]
    assert len(shown) == len(doc["variants"]) and ok
    for v in ok:
        med = v["step_ms"]["median"]
        assert shown[f"{v['framework']}/{v['variant']}"] == _shown_ms(med)
    speedups = re.findall(r'data-key="speedup:[^"]+" data-v="([^"]+)"', dom)
    assert [float(s) for s in speedups] == [c["speedup"] for c in doc["comparisons"]]
    assert re.search(r'data-key="status">' + doc["status"] + "<", dom)
    # the tables sort: a copy of the page clicks the step-time header twice (ascending, then
    # descending: the record's order is ascending already) and records the rows' order
    probe = d / "sorted.html"
    probe.write_text((d / "report.html").read_text().replace("</body>", (
        "<script>var t=document.getElementById('summary'),h=t.tHead.rows[0].cells[1];h.click();h.click();"
        "document.body.dataset.sorted=Array.from(t.tBodies[0].rows).map(function(r){"
        "return r.cells[1].dataset.v;}).join(',');</script></body>")))
    sorted_dom, console = _dom(probe.resolve().as_uri())
    assert not console, console
    order = [float(x) for x in re.search(r'data-sorted="([^"]*)"', sorted_dom).group(1).split(",") if x]
    assert order == sorted((v["step_ms"]["median"] for v in ok), reverse=True) and len(order) == len(ok)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1200,1600", url],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="unavailable: chromium not installed (apt-get install -y chromium)")
def test_compare_run_html_in_headless_chromium(tmp_path, cli):
    d = _run_dir(tmp_path, _compare_record())
    r = cli("report", str(d), "--html")
    assert r.returncode == 0, r.stderr
    url = (d / "report.html").resolve().as_uri()
    dom, console = _dom(url)
    assert not console, console
    doc = json.loads((d / "run.json").read_text())
    cells = re.findall(r'data-key="compare-step:([^"]+)" data-v="([^"]*)" data-lo="([^"]*)" data-hi="([^"]*)">'
                       r"([^<(]+)", dom)
    ok = [v for v in doc["variants"] if v["status"] == "ok"]
    assert len(cells) == len(doc["variants"]) and len(ok) == 3
    by_name = {c[0]: c for c in cells}
    for v in ok:
        _, med, lo, hi, text = by_name[f"{v['framework']}/{v['variant']}"]
        assert float(med) == v["step_ms"]["median"] and text.strip() == _shown_ms(v["step_ms"]["median"])
        ci = v["step_ms"].get("ci95")
        assert (float(lo), float(hi)) == tuple(ci) if ci else (lo, hi) == ("", "")
    chart = _svg(dom, "compare chart")
    assert chart.count("<path") == sum(1 for v in ok if v["step_ms"].get("ci95"))  # one error bar per CI
    from profiler.analysis.compare import saved_result

    spread = saved_result(doc)["spread"]  # what `profiler report` prints under its table
    assert "fastest" in spread and f'<p id="spread">{html.escape(spread, quote=False)}</p>' in dom
    shot = tmp_path / "compare.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1200,1400", url],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000


def test_compare_chart_error_bars_are_the_cis_in_the_headline_unit():
    from profiler.export.compare import headline_interval

    row = {"step_ms": 200.0, "step_ci95_low": 180.0, "step_ci95_high": 260.0, "headline_s": 4.0}  # per 1000 items
    assert headline_interval(row) == pytest.approx((3.6, 5.2))
    assert headline_interval({**row, "step_ci95_low": None}) is None
    page = render_html(_compare_record().to_dict())
    # the tallest bar's top (its CI's upper end) fits the axis: every rect and path inside the frame
    chart = _svg(page, "compare chart")
    ys = [float(y) for y in re.findall(r' y="([\d.-]+)"', chart)]
    assert ys and min(ys) >= 0


def _scale_record() -> RunRecord:
    from profiler.analysis.thread_scaling import scaling_result

    entries = []
    for t, meds in ((1, [100.0, 104.0, 98.0]), (2, [55.0, 60.0, 52.0]), (4, [40.0, 40.0, 41.0])):
        for rep, m in enumerate(meds):
            entries.append({"scenario": "demo", "framework": "numpy", "variant": "matmul", "series": "numpy/matmul",
                            "threads": t, "repeat": rep, "status": "ok", "key": f"k{t}{rep}",
                            "step_ms": {"median": m, "n_steps": 5}})
    res = scaling_result(entries, ["numpy/matmul"], [1, 2, 4], 4)
    return RunRecord.from_dict({"schema": "profiler/2", "id": "s", "kind": "scale", "scenario": {"name": "demo"},
                                "status": "ok", "settings": {}, "variants": entries, "scaling": res,
                                "warnings": ["a warning"]})


def test_scale_page_has_the_sweep_table_and_error_bars_from_the_repeats():
    from profiler.export.thread_plot import speedup_interval

    rec = _scale_record().to_dict()
    page = render_html(rec)
    pts = rec["scaling"]["series"][0]["points"]
    shown = dict(re.findall(r'data-key="scale-median:numpy/matmul@(\d+)" data-v="([^"]+)"', page))
    assert {int(k): float(v) for k, v in shown.items()} == {p["threads"]: p["median_ms"] for p in pts}
    assert shown["1"] == "100.0" and "±6%" in page  # (104 - 98) / 100
    chart = _svg(page, "speedup vs threads")
    assert chart.count("<path") == 3  # every point has repeats: one bar each
    lo, hi = speedup_interval(pts[1])
    assert (lo, hi) == pytest.approx((100.0 / 60.0, 100.0 / 52.0))  # against the same baseline
    assert speedup_interval({**pts[1], "repeats_ok": 1}) is None
    assert "a warning" in page and "Amdahl serial fraction" in page


def test_matplotlib_charts_draw_the_error_bars(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    from profiler.analysis.compare import saved_result
    from profiler.export.compare import write_chart
    from profiler.export.thread_plot import write_scaling_png

    calls = []
    real = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, *a, **kw):
        calls.append((x, y, kw.get("yerr")))
        return real(self, x, y, *a, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    result = saved_result(_compare_record().to_dict())
    write_chart(result, tmp_path / "compare.png")
    with_ci = [r for r in result["rows"] if r.get("step_ci95_low") is not None]
    (call,) = calls  # one error-bar series: a bar per row with a CI
    assert len(call[0]) == len(with_ci) == 2
    assert call[2][1][0] == pytest.approx(with_ci[0]["headline_s"] * 0.1)  # the upper CI, in seconds
    calls.clear()
    write_scaling_png(_scale_record().to_dict()["scaling"], tmp_path / "scaling.png")
    (call,) = calls
    assert list(call[0]) == [1, 2, 4] and (tmp_path / "scaling.png").stat().st_size > 5_000


def test_roofline_and_probe_time_series_in_the_page(tmp_path):
    from profiler.core.events import STEP, EventBuilder
    from profiler.export.html import GPU_SERIES, PROCESS_SERIES
    from profiler.probes.process import CPU_TREE, RSS

    assert {n for n, _, _ in PROCESS_SERIES} == {RSS, CPU_TREE}  # the probe's own counter names
    assert GPU_SERIES.match("gpu0 power W") and GPU_SERIES.match("gpu1 sm clock MHz")
    pid = 4242
    b = EventBuilder()
    for k in range(500):  # 5 s at 100 Hz: drawn 1 in 3
        t = k * 10_000_000
        b.counter(RSS, t, 100.0 + k, pid)
        b.counter(CPU_TREE, t, 50.0 + (k % 7), pid)
        b.counter("gpu0 power W", t, 200.0 + (k % 3), pid)
        b.counter("gpu0 util %", t, 90.0, pid)
        b.counter("gpu1 power W", t, 60.0, pid)  # a GPU the worker never used: left out
        b.counter("gpu1 util %", t, 0.0, pid)
        b.counter("rss MiB", t, 1.0, pid + 1)  # another process: not this worker's
    b.span(STEP, "step 0", 1_000_000_000, 500_000_000, pid, 0, args={"index": 0, "traced": False})
    b.span(STEP, "step 1", 2_000_000_000, 500_000_000, pid, 0, args={"index": 1, "traced": True})
    (tmp_path / "workers" / "w").mkdir(parents=True)
    b.build().save(tmp_path / "workers" / "w" / "events.npz")
    rec = _record(1, 0).to_dict()
    v = rec["variants"][0]
    v.update(pid=pid, events="workers/w/events.npz",
             probe_summary={"process": {"peak_rss_mib": 599.0}, "nvml": [{"gpu": 0, "mean_power_w": 201.0}]})
    ops = [{"name": f"op{i}", "intensity": 0.1 * 4**i, "achieved_gflops": 1.0 + i, "time_ms_per_step": 10.0 - i,
            "bound": "memory" if i < 3 else "compute", "frac_peak_flops": 0.01} for i in range(6)]
    v["roofline"] = {"ceilings": {"peak_gflops": 100.0, "peak_gbs": 10.0, "balance_flops_per_byte": 10.0},
                     "ops": [*ops, {"name": "copy", "intensity": None, "achieved_gflops": 0.0, "time_ms_per_step": 1.0}]}
    page = render_html(rec, run_dir=tmp_path)
    key = f"{v['framework']}/{v['variant']}"
    legend = re.findall(r'data-key="roofline-ms:' + re.escape(key) + r':(\d+)" data-v="([^"]+)"', page)
    assert [(int(i), float(t)) for i, t in legend] == [(i + 1, 10.0 - i) for i in range(6)]  # numbered by time
    assert "1 data-movement op(s) without FLOPs not drawn" in page
    caps = re.findall(r"<figcaption>([^<]+) · (\d+) samples(, 1 in \d+ drawn)? · min ([\d.,]+), max ([\d.,]+)", page)
    got = {c[0]: (int(c[1]), c[2], c[3], c[4]) for c in caps}
    assert got["RSS (MiB)"] == (500, ", 1 in 3 drawn", "100", "599")  # min/max of every sample
    assert got["GPU 0 power (W)"][0] == 500 and got["CPU, process tree (% of a core)"][3] == "56"
    assert "GPU 0 util (%)" in got and not any(k.startswith("GPU 1") for k in got)
    assert "GPU 1: idle throughout (utilisation 0), not drawn" in page
    assert "peak_rss_mib" in page and "gpu 0 mean_power_w" in page  # the record's figures beside them
    assert len(page.encode()) < 2_000_000
    # no events file (a saved run moved without workers/): the figures remain, no series, no error
    bare = copy.deepcopy(rec)
    bare["variants"][0]["events"] = "workers/gone/events.npz"
    assert "samples" not in render_html(bare, run_dir=tmp_path) and "peak_rss_mib" in render_html(bare)


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
