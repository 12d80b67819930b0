"""Every table of every section as one tidy CSV: one row per cell, keyed by variant, section, table,
row and column, so a spreadsheet or ``pandas.read_csv`` can pivot any of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from profiler.render.base import Renderer, RenderOptions
from profiler.sections.blocks import Bar, Table
from profiler.sections.document import Report

HEADER = ("variant", "section", "table", "row", "column", "value")


def table_cells(t: Table) -> Iterator[tuple[str, int, str, str]]:
    """One ``(table, row, column, value)`` per cell of ``t``; bars left out (they repeat the row's figures)."""
    for i, r in enumerate(t.rows):
        for c, cell in zip(t.columns, r, strict=False):
            if not isinstance(cell, Bar):
                yield t.key or t.title, i, c.name, cell


class CsvRenderer(Renderer):
    name = "csv"
    extensions = ("csv",)

    def render(self, report: Report, options: RenderOptions) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)

        def put(variant: str, sec: str, t: Table) -> None:
            for row in table_cells(t):
                w.writerow((variant, sec, *row))

        for p in report.variants:
            for sec, blocks in report.variant_blocks(p, detail=True):
                for b in blocks:
                    if isinstance(b, Table):
                        put(p.entry.label, sec.key, b)
        for sec, blocks in report.run_blocks():
            for b in blocks:
                if isinstance(b, Table):
                    put("", sec.key, b)
        return buf.getvalue()
