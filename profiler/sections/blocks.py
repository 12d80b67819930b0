"""What a section shows, said once for every renderer: lines, tables and breakdown bars.

A section turns its typed result into a tuple of blocks; each renderer (``profiler/render/``) draws
blocks in its own medium. No renderer knows any section, so none can lag behind another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: How a line reads: plain, dim (supporting detail), strong (a finding), warn, bad, good.
TONES = ("plain", "dim", "strong", "warn", "bad", "good")


@dataclass(frozen=True)
class Line:
    """One sentence (or a few, joined): what a reader reads."""

    text: str
    tone: str = "plain"


@dataclass(frozen=True)
class Bar:
    """A stacked breakdown bar: percent of the step per category (``core.categories`` names)."""

    pct: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, pct: dict[str, float]) -> Bar:
        return cls(tuple((k, float(v)) for k, v in pct.items()))

    def as_dict(self) -> dict[str, float]:
        return dict(self.pct)


#: A table cell: text, or a breakdown bar
Cell = str | Bar


@dataclass(frozen=True)
class Column:
    name: str
    right: bool = False  # numbers align right


@dataclass(frozen=True)
class Table:
    """A table with a title; ``key`` names it in CSV output (``section.key``)."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    key: str = ""
    notes: tuple[Line, ...] = field(default_factory=tuple)


Block = Line | Table


def cols(*spec: str) -> tuple[Column, ...]:
    """Columns from names; a name ending in ``>`` aligns right (``"ms/step>"``)."""
    return tuple(Column(s.rstrip(">"), s.endswith(">")) for s in spec)


def fmt_ms(v: float | None) -> str:
    """Milliseconds as every output prints them: 3 decimals below 10 ms, 1 above."""
    if v is None:
        return "–"
    return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"


def fmt_pct(v: float | None, nd: int = 1) -> str:
    return "–" if v is None else f"{v:.{nd}f}%"


def short(name: str, n: int = 40) -> str:
    """An op or kernel name cut to ``n`` characters (autograd's wrapper prefix dropped)."""
    name = name.removeprefix("autograd::engine::evaluate_function: ")
    return name if len(name) <= n else name[: n - 1] + "…"
