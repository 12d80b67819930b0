"""``profiler explain``: why one run is faster than another."""

from __future__ import annotations

import json
from pathlib import Path

import click

from profiler.cli.options import (
    JSON_OPTION,
    stdout_console,
)


@click.command("explain")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--variant-a", help="framework/variant of RUN_A to compare (default: its fastest).")
@click.option("--variant-b", help="framework/variant of RUN_B to compare (default: its fastest).")
@JSON_OPTION
def explain_cmd(
    run_a: Path, run_b: Path, variant_a: str | None, variant_b: str | None, as_json: bool
) -> None:
    """Why one run is faster than another: the gap split by category, ops and dispatch counts."""
    from profiler.analysis.explain import explain_runs
    from profiler.core.record import SCHEMA
    from profiler.core.rundir import RunDir

    ra, rb = RunDir.open(run_a), RunDir.open(run_b)
    e = explain_runs(ra.read_record().to_dict(), rb.read_record().to_dict(), variant_a, variant_b,
                     (str(ra.path), str(rb.path)))
    e["runs"] = {"a": str(ra.path), "b": str(rb.path)}
    if as_json:
        click.echo(json.dumps({"schema": SCHEMA, "kind": "explain", **e}, indent=2))
        return
    from rich.console import Group

    from profiler.report.breakdown import explanation_text

    stdout_console().print(Group(*explanation_text(e)))
