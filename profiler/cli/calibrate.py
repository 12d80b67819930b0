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
    from profiler.core.calibration import cache_file, load_cached
    from profiler.run.calibrate import measure_and_cache

    previous = load_cached()
    rec = None if force else previous
    cached = rec is not None
    if rec is None:
        rec = measure_and_cache(quick, previous)  # checks its own noise; caches only if undisturbed
    if opts.as_json:
        click.echo(json.dumps({"schema": SCHEMA, "kind": "calibrate", **rec, "cache_file": str(cache_file()), "from_cache": cached}, indent=2))
        return
    from profiler.report.breakdown import calibration_table

    console = stdout_console()
    console.print(calibration_table(rec, str(cache_file()), cached))
    noise = rec.get("noise") or {}
    notes = [] if cached else [rec.get("cache", {}).get("note")]
    if cached and noise.get("disturbed"):
        notes = ["this cached calibration is provisional (measured while the machine was disturbed: "
                 + "; ".join(noise.get("reasons") or []) + "); `profiler calibrate --force` measures again"]
    for w in [*([] if cached else noise.get("warnings", [])), *notes]:
        if w and w != "cached":
            console.print(f"warning: {w}", style="yellow", highlight=False)
