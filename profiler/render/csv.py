"""Every table of every section as one tidy CSV: one row per cell, keyed by variant, section, table,
row and column, so a spreadsheet or ``pandas.read_csv`` can pivot any of them."""

from __future__ import annotations

import csv
import io

from profiler.render.base import Renderer, RenderOptions
from profiler.sections.blocks import Bar, Table
from profiler.sections.document import Report

HEADER = ("variant", "section", "table", "row", "column", "value")


class CsvRenderer(Renderer):
    name = "csv"
    extensions = ("csv",)

    def render(self, report: Report, options: RenderOptions) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)

        def put(variant: str, sec: str, t: Table) -> None:
            for i, r in enumerate(t.rows):
                for c, cell in zip(t.columns, r, strict=False):
                    if isinstance(cell, Bar):
                        continue  # the bar repeats the row's figures
                    w.writerow((variant, sec, t.key or t.title, i, c.name, cell))

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
