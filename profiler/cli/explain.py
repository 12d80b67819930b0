"""``profiler explain``: why one run is faster than another."""

from __future__ import annotations

import json
from pathlib import Path

import click

from profiler.cli.options import (
    JSON_OPTION,
    Options,
    stdout_console,
    with_options,
)
from profiler.cli.output import check_output, output_options
from profiler.core import defaults


@click.command("explain")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--variant-a", help="framework/variant of RUN_A to compare (default: its fastest).")
@click.option("--variant-b", help="framework/variant of RUN_B to compare (default: its fastest).")
@click.option("--out", type=click.Path(path_type=Path), default=defaults.OUT_DIR, show_default=True,
              help="For a trace file: where its run directory is created.")
@click.option("--force", is_flag=True,
              help="For a folder of traces: merge them as ranks even when they are not of one job.")
@JSON_OPTION
@output_options
@with_options
def explain_cmd(
    opts: Options, run_a: Path, run_b: Path, variant_a: str | None, variant_b: str | None, force: bool = False,
) -> None:
    """Why one run is faster than another: the gap split by category, ops and dispatch counts.

    RUN_A and RUN_B are run directories, or traces another tool wrote (torch.profiler JSON, a folder
    of one per rank, TF .xplane.pb, MXNet JSON): those are imported as runs first, like
    ``profiler report TRACE`` does.
    """
    from profiler.core.record import SCHEMA
    from profiler.run.reopen import explained

    check_output(opts.fmt, opts.output)
    # a trace another tool wrote (a file, or a folder of one per rank) is imported as report does
    e = explained(run_a, run_b, opts.out, variant_a, variant_b, force)
    if opts.as_json:
        click.echo(json.dumps({"schema": SCHEMA, "kind": "explain", **e}, indent=2))
        return
    if opts.fmt or opts.output:
        _emit(e, opts.fmt, opts.output)
        return
    from rich.console import Group

    from profiler.report.blocks import rich_blocks
    from profiler.sections.explanation import explanation_blocks

    stdout_console().print(Group(*rich_blocks(explanation_blocks(e))))


def _emit(e: dict, fmt: str | None, output: Path | None) -> None:
    """The explanation in the chosen format, to ``output`` or stdout."""
    from profiler.cli.output import write_output
    from profiler.render.base import RenderOptions
    from profiler.render.explanation import render_explanation
    from profiler.render.registry import choose

    name = choose(fmt, output).name
    write_output(render_explanation(e, name, RenderOptions(width=stdout_console().width)), output, name)
