"""``profiler sql RUN_OR_DIR QUERY``: SQL over a run's event store (DuckDB; ``docs/store.md``)."""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import click

from profiler.cli.options import MAX_THREADS, Options, stdout_console, with_options

#: rows fetched from DuckDB at a time (the result is streamed, never held whole for --csv/--json)
_BATCH = 10_000


@click.command("sql")
@click.argument("source", metavar="RUN_OR_DIR", type=click.Path(path_type=Path))
@click.argument("query")
@click.option("--csv", "as_csv", is_flag=True, help="Print the result as CSV (every row).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON list of row objects (every row).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Rows shown in the terminal table (--csv and --json print every row).")
@click.option("--memory-limit", metavar="SIZE", help="DuckDB's memory limit, e.g. 2GB (default: DuckDB's).")
@click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS),
              help=f"DuckDB's threads (default: one per core; at most {MAX_THREADS}).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask scheduler (tcp://HOST:8786) for importing a trace folder; default $PROFILER_SCHEDULER, "
                   "else local worker processes.")
@with_options
def sql_cmd(opts: Options, source: Path, query: str, as_csv: bool, limit: int, memory_limit: str | None,
            scheduler: str | None) -> None:
    """Query events with SQL: a run directory, a folder of runs or stores, or a trace file or folder
    of per-rank traces (imported into the event store the first time).

    Views: events (one row per span), steps, counters, instants, samples, stacks, flows, tracks, strings;
    each has a first column ``variant``. Example:

        profiler sql RUN "SELECT name, count(*) n, sum(dur_ns)/1e6 ms FROM events
        WHERE category='kernel' GROUP BY name ORDER BY ms DESC LIMIT 10"
    """
    from profiler.core.errors import InputError
    from profiler.store import Store, find_sources

    if as_csv and opts.as_json:
        raise click.UsageError("--csv and --json exclude each other")
    if not re.sub(r"--[^\n]*|/\*.*?\*/|;|\s", "", query, flags=re.S):
        raise click.UsageError("the query holds no SQL statement (only spaces, ';' or comments)")
    sources = find_sources(source)
    if not sources:  # traces, not stores: import them once (a Dask task graph), then query
        from profiler.run.fleet import stores_for_traces

        where, result = stores_for_traces(source, scheduler=scheduler)
        for f in result["failed"]:
            click.echo(f"profiler: warning: rank {f['rank']} not imported: {f['error']}", err=True)
        sources = find_sources(where)
        if not sources:
            raise InputError(f"{source}: no trace could be imported")
    with Store(sources, memory_limit=memory_limit, threads=opts.threads, where=str(source)) as store:
        columns, cur = store.execute(query)
        if as_csv:
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(columns)
            for batch in _batches(cur):
                w.writerows([_csv_value(v) for v in row] for row in batch)
        elif opts.as_json:
            _write_json(columns, cur)
        else:
            _print_table(columns, cur, limit)


def _batches(cur: Any) -> Any:
    while True:
        rows = cur.fetchmany(_BATCH)
        if not rows:
            return
        yield rows


def _plain(v: Any) -> Any:
    """A JSON value: NaN/inf as null, lists and maps kept, anything else (dates, decimals) as text."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def _csv_value(v: Any) -> Any:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(_plain(v))
    return "" if v is None else v


def _write_json(columns: list[str], cur: Any) -> None:
    out = sys.stdout
    out.write("[")
    first = True
    for batch in _batches(cur):
        for row in batch:
            out.write(("\n  " if first else ",\n  ") + json.dumps(dict(zip(columns, map(_plain, row), strict=True))))
            first = False
    out.write("\n]\n" if not first else "]\n")


def _print_table(columns: list[str], cur: Any, limit: int) -> None:
    from rich.table import Table
    from rich.text import Text

    rows = cur.fetchmany(limit)
    more = 0
    for batch in _batches(cur):
        more += len(batch)
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and any(r[i] is not None for r in rows)
               for i in range(len(columns))]
    t = Table(show_edge=False, pad_edge=False, header_style="bold")
    for c, num in zip(columns, numeric, strict=True):
        t.add_column(c, justify="right" if num else "left", overflow="fold")
    for r in rows:
        t.add_row(*(Text(_cell(v)) for v in r))  # text as it is: names hold [brackets]
    con = stdout_console()
    con.print(t)
    n = len(rows) + more
    con.print(f"{n} row{'s' if n != 1 else ''}" + (f" ({more} not shown: --limit, --csv or --json)" if more else ""),
              style="dim")


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(_plain(v))
    return str(v)
