"""``profiler report RUN --output FILE`` writes FILE for every kind of run (trace, compare, scale, a run
imported from a trace), in the format its extension names; and the entries of one run that differ
only by a setting (threads, repeat, world size) get different names in every output, files included."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from profiler.cli.main import cli
from profiler.core.record import RunRecord
from profiler.render.base import RenderOptions
from profiler.render.registry import renderers
from profiler.sections.document import build

RECORDS = Path(__file__).resolve().parent / "data" / "records"
KINDS = {"trace": "trace", "compare": "compare", "scale": "scale", "every_section": "import"}
EXTS = {"md": "markdown", "html": "html", "json": "json"}


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


def _run_dir(tmp_path: Path, raw: dict) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    (d / "run.json").write_text(json.dumps(raw))
    return d


@pytest.mark.parametrize("ext", EXTS)
@pytest.mark.parametrize("name", KINDS)
def test_report_output_writes_the_file_for_every_kind_of_run(tmp_path, name, ext) -> None:
    raw = json.loads((RECORDS / f"{name}.json").read_text())
    assert raw["kind"] == KINDS[name]
    run_dir = _run_dir(tmp_path, raw)
    out = tmp_path / f"x.{ext}"
    r = _invoke("report", str(run_dir), "--output", str(out))
    assert out.is_file(), f"{name}: report --output {out.name} wrote nothing; printed:\n{r.output[:400]}"
    assert r.stdout == "", "the report goes to the file, not to stdout"
    fmt = EXTS[ext]
    rendered = build(RunRecord.from_dict(copy.deepcopy(raw)), str(run_dir))
    assert out.read_text() == renderers()[fmt].render(rendered, RenderOptions(width=100, charts="x-charts"))
    if ext == "json":
        assert json.loads(out.read_text())["kind"] == KINDS[name]


@pytest.mark.parametrize("name", KINDS)
def test_report_format_prints_that_format_for_every_kind_of_run(tmp_path, name) -> None:
    raw = json.loads((RECORDS / f"{name}.json").read_text())
    r = _invoke("report", str(_run_dir(tmp_path, raw)), "--format", "markdown")
    assert r.output.startswith(f"# profiler {KINDS[name]} · ")


def test_report_output_of_a_trace_imported_just_now(tmp_path) -> None:
    trace = Path(__file__).resolve().parent / "data" / "kineto" / "gpu_handbuilt.json"
    out = tmp_path / "x.md"
    _invoke("report", str(trace), "--out", str(tmp_path / "runs"), "--output", str(out))
    assert out.read_text().startswith("# profiler import · ")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "import"


# ------------------------------------------------------------------ entries named apart, files included
def test_entries_alike_but_for_one_setting_are_named_apart() -> None:
    from profiler.sections.labels import distinct_file_stems, distinct_labels

    one = {"framework": "python", "variant": "numpy", "threads": 2, "repeat": 0}
    assert distinct_labels([one, dict(one, repeat=1)]) == ["python/numpy · repeat 1", "python/numpy · repeat 2"]
    assert distinct_labels([one, dict(one, repeat=1), dict(one, threads=4)]) == [
        "python/numpy · 2 threads · repeat 1", "python/numpy · 2 threads · repeat 2",
        "python/numpy · 4 threads · repeat 1"]
    # alike in every setting that is named: numbered
    assert distinct_labels([one, dict(one)]) == ["python/numpy · #1", "python/numpy · #2"]
    # labels that make one file name (they differ only where a file name cannot) get two files
    assert distinct_file_stems(["a/b · x", "a/b · x?", "A/B · X"]) == ["a-b_x", "a-b_x-2", "A-B_X-3"]


@pytest.mark.parametrize("setting", [{"threads": 4}, {"repeat": 1}, {"distributed": {"world_size": 2}}])
def test_two_entries_differing_by_one_setting_write_two_roofline_files(tmp_path, setting) -> None:
    from profiler.export.plots import write_run_plots

    raw = json.loads((RECORDS / "trace.json").read_text())
    (v,) = raw["variants"]
    a = dict(v, threads=2, repeat=0)
    b = {**a, **setting}
    raw["variants"] = [a, b]
    files = write_run_plots(raw, tmp_path)
    assert "roofline_errors" not in files, files
    names = files["roofline"]
    assert len(names) == 2 and len(set(names)) == 2, names
    assert sorted(p.name for p in tmp_path.glob("roofline-*.png")) == sorted(names)


def test_a_scale_run_writes_one_roofline_file_per_entry(tmp_path) -> None:
    from profiler.export.charts import roofline_chart
    from profiler.export.plots import write_run_plots

    raw = json.loads((RECORDS / "scale.json").read_text())
    charted = [v for v in raw["variants"] if v["status"] == "ok" and roofline_chart(v) is not None]
    files = write_run_plots(raw, tmp_path)
    assert len(set(files["roofline"])) == len(charted) == len(list(tmp_path.glob("roofline-*.png")))


def test_report_of_a_run_json_is_the_report_of_its_run_directory(tmp_path) -> None:
    raw = json.loads((RECORDS / "trace.json").read_text())
    run_dir = _run_dir(tmp_path, raw)
    assert (_invoke("report", str(run_dir / "run.json"), "--format", "markdown").stdout
            == _invoke("report", str(run_dir), "--format", "markdown").stdout)
