"""The self-contained HTML page (``report.html``): the page of :mod:`profiler.export.html`, whose
per-variant and run sections come from the registry like every other output."""

from __future__ import annotations

from profiler.export.html import render_html
from profiler.render.base import Renderer, RenderOptions
from profiler.sections.document import Report


class HtmlRenderer(Renderer):
    name = "html"
    extensions = ("html", "htm")

    def render(self, report: Report, options: RenderOptions) -> str:
        return render_html(report.record.to_dict(), top=report.top, run_dir=report.run_dir)
