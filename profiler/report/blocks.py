"""Section blocks (:mod:`profiler.sections.blocks`) as rich renderables: the terminal's drawing of
what every section says."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.table import Table as RichTable
from rich.text import Text

from profiler.core.categories import TERMINAL_COLORS
from profiler.report.bars import breakdown_bar
from profiler.sections.blocks import Bar, Block, Line

#: rich styles of the line tones
STYLE = {"plain": "", "dim": "dim", "strong": "bold", "warn": "yellow", "bad": "bold red", "good": "green"}


def _cell(c: Any, first: bool) -> Any:
    if isinstance(c, Bar):
        return breakdown_bar(c.as_dict())
    return Text(str(c))


def rich_block(b: Block) -> Any:
    if isinstance(b, Line):
        return Text(b.text, style=STYLE.get(b.tone, ""))
    t = RichTable(box=None, pad_edge=False, header_style="bold")
    for c in b.columns:
        t.add_column(c.name if c.name != "bar" else "", justify="right" if c.right else "left")
    cat_col = b.columns[0].name == "category" and any(isinstance(r[-1], Bar) for r in b.rows)
    for r in b.rows:
        cells = [_cell(c, i == 0) for i, c in enumerate(r)]
        if cat_col and isinstance(r[-1], Bar) and len(r[-1].pct) == 1:  # a category's row: its colour
            cells[0].stylize(TERMINAL_COLORS.get(r[-1].pct[0][0], ""))
        t.add_row(*cells)
    # the title as a line of its own: a table's own title would wrap at the table's width
    return Group(Text(b.title, style="italic"), t) if b.title else t


def rich_blocks(blocks: Iterable[Block]) -> list[Any]:
    return [rich_block(b) for b in blocks]
