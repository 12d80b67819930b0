"""The options every command shares, as one typed object: the command line builds it once
(``profiler/cli/options.py``: :func:`~profiler.cli.options.with_options`) and hands it to the
command, which passes it on to the one function of ``run/`` that does the work (docs/cli.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from profiler.core import defaults

#: Rows of the per-variant top-ops tables when --detail is given without --top.
DEFAULT_TOP = 10


@dataclass(frozen=True)
class Options:
    """What the shared options mean, the same in every command (``None``: not given).

    ``framework``/``variant`` are the text given (a name or a comma list; ``framework`` is ``None`` for
    ``all``); ``threads`` is one count (``trace``, ``compare``) or ``scale``'s list as given; ``fmt`` and
    ``output`` pick the renderer (``--format``, ``--output``); ``detail`` is true with ``--detail`` or
    ``--top``, and ``top`` is the rows of the top-ops tables (``--top``, else :data:`DEFAULT_TOP`)."""

    scenario: str | None = None
    framework: str | None = None
    variant: str | None = None
    mode: str | None = None
    preset: str | None = None
    threads: int | str | None = None
    repeat: int | None = None
    steps: int | None = None
    warmup: int | None = None
    trace_steps: int | None = None
    timeout: float | None = None
    out: Path = defaults.OUT_DIR
    as_json: bool = False
    fmt: str | None = None
    output: Path | None = None
    quiet: bool = False
    detail: bool = False
    top: int = DEFAULT_TOP

    @property
    def frameworks(self) -> list[str] | None:
        """The frameworks named (``None``: every framework the scenario has)."""
        return _csv(self.framework)

    @property
    def variants(self) -> list[str] | None:
        """The variants named (``None``: the command's default)."""
        return _csv(self.variant)


#: the parameter names of :class:`Options`: what a command's shared options are called
FIELDS = frozenset(f.name for f in fields(Options))


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None
