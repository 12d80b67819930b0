"""The queue-length section (sections/queue.py): one module and this test, nothing else, added it to
every output (the registry lists it, tests/test_sections.py renders it everywhere)."""

from __future__ import annotations

from profiler.core.record import RunRecord, VariantEntry
from profiler.render.base import RenderOptions
from profiler.render.registry import renderers
from profiler.sections.blocks import Line, Table
from profiler.sections.document import build
from profiler.sections.registry import section

GPU = {"queue": {"definition": "operations launched and not yet started",
                 "devices": {"0": {"7": {"changes": 12.0, "mean": 6.5, "median": 7.0, "max": 9.0},
                                   "25": {"changes": 4.0, "mean": 0.5, "median": 0.0, "max": 1.0}}}}}


def _record(gpu: dict) -> RunRecord:
    e = VariantEntry("s", "torch", "v", mode="train")
    e.gpu = gpu
    return RunRecord("id", "import", "now", [], {"name": "s"}, {}, variants=[e])


def test_queue_is_read_from_the_gpu_figures_and_names_the_deepest_stream() -> None:
    report = build(_record(GPU))
    (part,) = report.variants
    q = part.results["gpu_queue"]
    assert q.devices["0"]["7"].mean == 6.5
    blocks = section("gpu_queue").show(q, report.view(part.entry))
    table = next(b for b in blocks if isinstance(b, Table))
    assert [r[1] for r in table.rows] == ["7", "25"]  # deepest first
    assert any(isinstance(b, Line) and "stream 7 of device 0 keeps 6.5" in b.text for b in blocks)


def test_a_shallow_queue_says_nothing_about_the_host_running_ahead() -> None:
    shallow = {"queue": {"devices": {"0": {"7": {"changes": 3.0, "mean": 1.0, "median": 1.0, "max": 1.0}}}}}
    report = build(_record(shallow))
    blocks = section("gpu_queue").show(report.variants[0].results["gpu_queue"], report.view())
    assert not any(isinstance(b, Line) and "keeps" in b.text for b in blocks)


def test_no_queue_no_section() -> None:
    assert "gpu_queue" not in build(_record({"busy_pct": 1.0})).variants[0].results


def test_the_markdown_report_carries_it() -> None:
    md = renderers()["markdown"].render(build(_record(GPU)), RenderOptions())
    assert "### queue length" in md and "| 0 | 7 | 6.5 | 7 | 9 | 12 |" in md
