"""One interface for every output of a run record: ``Renderer.render(report, options) -> str``, each
renderer declaring its name and file extension; chosen by ``--format`` or by ``-o FILE``'s extension."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from profiler.core.errors import InputError
from profiler.sections.document import Report


@dataclass(frozen=True)
class RenderOptions:
    detail: bool = True  # sections marked detail-only too (files: always)
    quiet: bool = False  # the summary only
    width: int = 100  # terminal text: columns
    color: bool = False  # terminal text: ANSI colours


class Renderer(ABC):
    #: the ``--format`` name
    name: str = ""
    #: file extensions (the first is the default), chosen by ``-o FILE``
    extensions: tuple[str, ...] = ()

    @abstractmethod
    def render(self, report: Report, options: RenderOptions) -> str:
        """The whole output as text."""


def renderers() -> dict[str, Renderer]:
    """Every renderer by its format name."""
    from profiler.render.csv import CsvRenderer
    from profiler.render.html import HtmlRenderer
    from profiler.render.json import JsonRenderer
    from profiler.render.markdown import MarkdownRenderer
    from profiler.render.terminal import TerminalRenderer

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
