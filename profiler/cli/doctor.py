"""``profiler doctor``: frameworks, probes and calibration here: version or why unavailable."""

from __future__ import annotations

import json

import click
from rich.table import Table

from profiler.cli.options import (
    JSON_OPTION,
    Options,
    stdout_console,
    with_options,
)
from profiler.core.record import SCHEMA


@click.command("doctor")
@JSON_OPTION
@with_options
def doctor_cmd(opts: Options) -> None:
    """Every framework and probe: version, or why it is unavailable here."""
    from profiler.core.calibration import summary_line
    from profiler.run.inventory import doctor_facts

    facts = doctor_facts()
    host, fws, prs, cal = facts["host"], facts["frameworks"], facts["probes"], facts["calibration"]
    if opts.as_json:
        click.echo(json.dumps({"schema": SCHEMA, "kind": "doctor", "host": host, "frameworks": fws, "probes": prs, "calibration": cal}, indent=2))
        return
    con = stdout_console()
    con.print(
        f"[bold]host[/] {host['cpu']} · {host['cores']} cores · {host['memory_gib']} GiB · "
        f"GPUs: {', '.join(g['name'] for g in host['gpus']) or 'none (' + str(host['gpu_reason']) + ')'}"
    )
    con.print(f"[bold]ceilings[/] {summary_line(cal)}", highlight=False)
    for title, items in (("frameworks", fws), ("probes", prs)):
        t = Table(title=title, title_justify="left", header_style="bold")
        t.add_column("name")
        t.add_column("status")
        t.add_column("version / reason")
        for n, a in items.items():
            t.add_row(
                n,
                "[green]available[/]" if a["available"] else "[red]unavailable[/]",
                a["version"] or "" if a["available"] else a["reason"] or "",
            )
        con.print(t)
