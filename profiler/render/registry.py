"""Every renderer by its format name, and the choice of one by ``--format`` or a file's extension."""

from __future__ import annotations

from pathlib import Path

from profiler.core.errors import InputError
from profiler.render.base import Renderer
from profiler.render.csv import CsvRenderer
from profiler.render.html import HtmlRenderer
from profiler.render.json import JsonRenderer
from profiler.render.markdown import MarkdownRenderer
from profiler.render.terminal import TerminalRenderer


def renderers() -> dict[str, Renderer]:
    """Every renderer by its format name."""
    return {r.name: r for r in (TerminalRenderer(), HtmlRenderer(), MarkdownRenderer(), JsonRenderer(), CsvRenderer())}


FORMATS = ("terminal", "html", "markdown", "json", "csv")


def choose(fmt: str | None, out: Path | None) -> Renderer:
    """The renderer ``--format`` names, else the one ``-o FILE``'s extension says, else the terminal."""
    rs = renderers()
    if fmt:
        return rs[fmt]
    if out is not None:
        ext = out.suffix.lower().lstrip(".")
        for r in rs.values():
            if ext in r.extensions:
                return r
        known = ", ".join(f".{e}" for r in rs.values() for e in r.extensions)
        raise InputError(f"--output {out}: no format for '.{ext}' (one of {known}, or say --format)")
    return rs["terminal"]
