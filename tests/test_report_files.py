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
