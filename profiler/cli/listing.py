"""``profiler list``: scenarios × frameworks × variants, with availability here."""

from __future__ import annotations

import json

import click
from rich.table import Table

from profiler.cli.options import (
    Options,
    stdout_console,
    with_options,
)
from profiler.core.record import SCHEMA


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@with_options
def list_cmd(opts: Options) -> None:
    """Scenarios × frameworks × variants, with availability here."""
    from profiler.run.inventory import frameworks_without_builds, scenario_rows

    rows = scenario_rows()
    others = frameworks_without_builds()
    if opts.as_json:
        click.echo(json.dumps({"schema": SCHEMA, "kind": "list", "scenarios": rows, "frameworks_without_builds": others}, indent=2))
        return
    t = Table(title="scenarios", header_style="bold", title_justify="left")
    for col in ("scenario", "framework", "variant", "modes", "GPU", "available here"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["scenario"],
            r["framework"],
            r["variant"],
            "/".join(r["modes"]),
            "needs" if r["needs_gpu"] else "optional",
            "[green]yes[/]" if r["available"] else f"[red]no[/]: {r['reason']}",
        )
    for o in others:
        t.add_row("(seed rows)", o["framework"], "–", "–", "–", f"[red]no[/]: {o['reason']}")
    stdout_console().print(t)
