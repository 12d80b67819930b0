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
    from profiler.core.frameworks import FRAMEWORKS, framework_availability
    from profiler.core.hardware import gpus
    from profiler.core.registry import builtin_scenarios

    gpu_list, gpu_reason = gpus()
    rows = []
    for sc in builtin_scenarios().values():
        for fw, v in sc.iter_variants():
            av = framework_availability(fw)
            reason = av.reason
            ok = av.available
            if ok and v.needs_gpu and not gpu_list:
                ok, reason = False, f"needs an NVIDIA GPU ({gpu_reason})"
            rows.append(
                {
                    "scenario": sc.name,
                    "framework": fw,
                    "variant": v.name,
                    "modes": list(sc.modes),
                    "needs_gpu": v.needs_gpu,
                    "available": ok,
                    "reason": reason,
                    "summary": v.summary,
                }
            )
    others = [
        {"framework": n, "available": False, "reason": f.never_installable}
        for n, f in FRAMEWORKS.items()
        if f.never_installable
    ]
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
