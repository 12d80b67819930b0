"""The terminal report as text (what ``trace`` and ``report`` print; to a file without colours)."""

from __future__ import annotations

import io

from rich.console import Console

from profiler.render.base import Renderer, RenderOptions
from profiler.report.run import RunReport
from profiler.sections.document import Report


class TerminalRenderer(Renderer):
    name = "terminal"
    extensions = ("txt",)

    def render(self, report: Report, options: RenderOptions) -> str:
        buf = io.StringIO()
        console = Console(file=buf, width=options.width, force_terminal=options.color, color_system=None
                          if not options.color else "standard", highlight=False)
        console.print(RunReport(report.record, report.run_dir, options.quiet, report.top, options.detail))
        return buf.getvalue()
