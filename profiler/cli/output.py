"""``--format`` and ``--output``: any command that shows a run renders it through one renderer of
``profiler/render/`` (terminal, html, markdown, json, csv), to stdout or to a file whose extension
picks the format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from profiler.core.errors import InputError

FORMAT_CHOICES = ("terminal", "html", "markdown", "json", "csv")


def output_options(f: Any) -> Any:
    """``--format`` / ``--output``: the command receives ``fmt`` and ``output``."""
    f = click.option("--output", "-o", "output", type=click.Path(path_type=Path), default=None,
                     metavar="FILE", help="Write the report to FILE (its extension picks the format: .txt .html .md "
                                          ".json .csv) instead of the terminal; the directory runs go under is "
                                          "--out DIR.")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default=None,
                     help="Render the report as terminal text, a self-contained HTML page, Markdown, the JSON "
                          "document, or CSV tables.")(f)
    return f


def check_output(fmt: str | None, output: Path | None) -> None:
    """Refuse a bad ``--output`` before anything runs: an unknown extension, a missing directory."""
    if output is None:
        return
    if output.is_dir() or (not output.suffix and fmt is None):
        raise InputError(f"-o/--output {output}: names the report file, with its format's extension (.txt .html .md "
                         ".json .csv); the directory run directories go under is --out DIR")
    from profiler.render.registry import choose

    choose(fmt, output)
    if not output.parent.is_dir():
        raise InputError(f"cannot write the report: no directory {output.parent}")


def emit(record: Any, run_dir: str | None, fmt: str | None, output: Path | None, *, top: int = 10,
         detail: bool = True, quiet: bool = False) -> bool:
    """Render ``record`` with the chosen renderer to ``output`` or stdout; ``False`` when neither
    ``--format`` nor ``--output`` was given (the command prints its usual report)."""
    if fmt is None and output is None:
        return False
    from profiler.render.base import RenderOptions
    from profiler.render.registry import choose
    from profiler.sections.document import build

    check_output(fmt, output)  # a command that ran first checked it already; report checks it here
    renderer = choose(fmt, output)
    report = build(record, run_dir, top)
    # a file's charts go in a folder beside it (Markdown links them; stdout has none)
    options = RenderOptions(detail=detail, quiet=quiet, width=100,
                            charts=None if output is None else f"{output.stem}-charts")
    text = renderer.render(report, options)
    write_output(text, output, renderer.name, renderer.files(report, options) if output is not None else {})
    return True


def write_output(text: str, output: Path | None, name: str, files: dict[str, str] | None = None) -> None:
    """``text`` to stdout, or to ``output`` with the ``files`` it links beside it (paths relative to
    its folder); a failed write is one line naming the file."""
    from profiler.core.files import atomic_write_text

    if output is None:
        click.echo(text, nl=False)
        return
    try:
        for rel, content in (files or {}).items():
            (output.parent / rel).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(output.parent / rel, content)
        atomic_write_text(output, text)
    except OSError as e:
        raise InputError(f"cannot write the report to {output}: {e.strerror or e}") from None
    click.echo(f"{name} report: {output}", err=True)
