"""``profiler explain``'s output in any format (``--format``/``-o FILE``), drawn from the same blocks
by the drawers the run renderers use (:mod:`profiler.sections.explanation`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from profiler.core.record import SCHEMA
from profiler.render.base import RenderOptions
from profiler.render.csv import table_cells
from profiler.sections.blocks import Table
from profiler.sections.explanation import explanation_blocks


def render_explanation(e: dict[str, Any], fmt: str, options: RenderOptions | None = None) -> str:
    """The explanation ``e`` as ``fmt`` (terminal, html, markdown, json, csv)."""
    options = options or RenderOptions()
    if fmt == "json":
        return json.dumps({"schema": SCHEMA, "kind": "explain", **e}, indent=2) + "\n"
    blocks = explanation_blocks(e)
    if fmt == "markdown":
        from profiler.render.markdown import md_block

        return "# profiler explain\n\n" + "\n\n".join(md_block(b) for b in blocks) + "\n"
    if fmt == "html":
        from profiler.export.html import explanation_page

        return explanation_page(blocks)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(("table", "row", "column", "value"))
        for b in blocks:
            if isinstance(b, Table):
                w.writerows(table_cells(b))
        return buf.getvalue()
    from rich.console import Console, Group

    from profiler.report.blocks import rich_blocks

    con = Console(record=True, width=options.width, force_terminal=options.color, color_system=None
                  if not options.color else "standard", file=io.StringIO())
    con.print(Group(*rich_blocks(blocks)))
    return con.export_text(styles=options.color)
