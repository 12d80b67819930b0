"""One interface for every output of a run record: ``Renderer.render(report, options) -> str``, each
renderer declaring its name and file extension; chosen by ``--format`` or by ``-o FILE``'s extension."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from profiler.sections.document import Report


@dataclass(frozen=True)
class RenderOptions:
    detail: bool = True  # sections marked detail-only too (files: always)
    quiet: bool = False  # the summary only
    width: int = 100  # terminal text: columns
    color: bool = False  # terminal text: ANSI colours
    #: the folder, relative to the output file, whose chart files a renderer links (``Renderer.files``);
    #: ``None`` (stdout): no chart files
    charts: str | None = None


class Renderer(ABC):
    #: the ``--format`` name
    name: str = ""
    #: file extensions (the first is the default), chosen by ``-o FILE``
    extensions: tuple[str, ...] = ()

    @abstractmethod
    def render(self, report: Report, options: RenderOptions) -> str:
        """The whole output as text."""

    def files(self, report: Report, options: RenderOptions) -> dict[str, str]:
        """Files the output links, by path relative to the output file's folder (Markdown: its charts
        as SVG); written beside it. None by default."""
        return {}
