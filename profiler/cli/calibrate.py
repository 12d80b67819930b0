"""``profiler calibrate``: this machine's ceilings, measured and cached."""

from __future__ import annotations

import json

import click

from profiler.cli.options import (
    JSON_OPTION,
    Options,
    stdout_console,
    with_options,
)
from profiler.core.record import SCHEMA


@click.command("calibrate")
@click.option("--force", is_flag=True, help="Measure again even when this machine has cached ceilings.")
@click.option("--quick", is_flag=True, help="Smaller arrays and fewer repetitions (about a second).")
@JSON_OPTION
@with_options
def calibrate_cmd(opts: Options, force: bool, quick: bool) -> None:
    """Measure this machine's ceilings (STREAM bandwidth, SGEMM and FMA FLOP/s) for the roofline."""
    from profiler.run.inventory import ceilings

    found = ceilings(force, quick)
    rec = found.record
    if opts.as_json:
        click.echo(json.dumps({"schema": SCHEMA, "kind": "calibrate", **rec, "cache_file": found.cache_file,
                               "from_cache": found.from_cache}, indent=2))
        return
    from profiler.report.breakdown import calibration_table

    console = stdout_console()
    console.print(calibration_table(rec, found.cache_file, found.from_cache))
    for w in found.warnings():
        console.print(f"warning: {w}", style="yellow", highlight=False)
