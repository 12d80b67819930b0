"""The ``--json`` document (``core/schema.json``): every field ``run.json`` holds per variant and per
run, every registered section included, plus the run's ``first`` finding."""

from __future__ import annotations

import json
from typing import Any

from profiler.core.record import json_document
from profiler.render.base import Renderer, RenderOptions
from profiler.sections.document import Report
from profiler.sections.typed import dump


def json_report(report: Report, **extra: Any) -> dict[str, Any]:
    doc = json_document(report.record, report.run_dir, **extra)
    for key, result in report.results.items():
        doc.setdefault(key, dump(result))
    return doc


class JsonRenderer(Renderer):
    name = "json"
    extensions = ("json",)

    def render(self, report: Report, options: RenderOptions) -> str:
        return json.dumps(json_report(report), indent=2, default=str) + "\n"
