"""Options and helpers the commands share, defined once: --out, --json, --timeout, the trace and
distributed option groups, comma lists, and the stdout console."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from profiler.core import defaults
from profiler.core.errors import InputError


def csv_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def stdout_console() -> Console:
    # A terminal gets its own width; a pipe or file gets room for the report's tables.
    con = Console(soft_wrap=False)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con = Console(soft_wrap=False, width=120)
    return con


# Options every result-producing command shares, defined once.
OUT_OPTION = click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=defaults.OUT_DIR,
    show_default=True,
    help="Directory under which the run directory is created.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def _positive_timeout(ctx: Any, param: Any, value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise InputError(f"--timeout must be positive, got {value:g}")
    return value


TIMEOUT_OPTION = click.option(
    "--timeout",
    type=float,
    callback=_positive_timeout,
    help="Seconds per worker before its process tree is killed.",
)


def trace_options(f: Any) -> Any:
    opts = [
        click.option(
            "--scenario",
            "-s",
            help="Scenario name, or a path to your own scenario file (or give a command after --).",
        ),
        click.option(
            "--framework",
            "-f",
            "framework",
            help="Framework(s), comma-separated (default: all of the scenario's).",
        ),
        click.option("--variant", "-v", "variant", help="Variant(s), comma-separated (default: all)."),
        click.option("--mode", type=str, help="train or infer (default: the scenario's)."),
        click.option(
            "--preset", "-p", type=str, help="Size preset: cpu or seed (default: seed with a GPU, else cpu)."
        ),
        click.option("--device", type=str, default="auto", show_default=True, help="auto, cpu or cuda."),
        click.option("--steps", type=int, help="Clean measured steps (headline step time)."),
        click.option("--warmup", type=int, help="Warm-up steps, excluded from every figure."),
        click.option("--trace-steps", type=int, help="Traced steps (breakdown and Chrome trace)."),
        click.option("--threads", type=int, help="Thread count for the framework (set before it loads)."),
        click.option(
            "--data", type=str, default="ram", show_default=True, help="ram or disk input pipeline."
        ),
        click.option(
            "--probes", type=str, help="Probes to run, comma-separated (default: every available one)."
        ),
        click.option("--require", type=str, help="Probes that must run; unavailable is an error."),
        click.option(
            "--probe-option",
            "probe_option",
            multiple=True,
            help="NAME.KEY=VALUE setting of a probe, e.g. pyspy.rate_hz=100 (repeatable; docs/probes.md).",
        ),
        TIMEOUT_OPTION,
        OUT_OPTION,
        JSON_OPTION,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def distributed_options(f: Any) -> Any:
    """--nproc/--nnodes/--node-rank/--rdzv-endpoint (docs/distributed.md)."""
    opts = [
        click.option(
            "--nproc",
            type=str,
            help="Ranks per node under torch.distributed.run (DDP; gloo on CPU, NCCL on GPU); "
            "several counts (1,2) add a scaling table.",
        ),
        click.option("--nnodes", type=int, help="Nodes taking part (each runs this command)."),
        click.option("--node-rank", type=int, help="This node's rank, 0..nnodes-1 (default 0)."),
        click.option("--rdzv-endpoint", type=str, help="HOST:PORT of node 0 (rendezvous; a free port)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def repeat_options(default_repeat: int, alias: str | None = None) -> Any:
    """--repeat (fresh worker processes per variant, interleaved), --min-time and --max-time
    (calibration of the clean steps per process). ``alias``: an older spelling of --repeat."""

    def deco(f: Any) -> Any:
        names = ["--repeat", *([alias] if alias else [])]
        opts = [
            click.option(
                *names,
                "repeat",
                type=int,
                default=default_repeat,
                show_default=True,
                help="Fresh worker processes per variant, run interleaved (ABCABC); each warms up, only "
                "the first traces. The headline is their pooled median with a 95% CI.",
            ),
            click.option(
                "--min-time",
                "min_time",
                type=float,
                help="Seconds of clean steps per process: the step count is calibrated to it, bounded by "
                "--steps (default 1 s without --steps; with --steps alone, exactly that many).",
            ),
            click.option(
                "--max-time",
                "max_time",
                type=float,
                help="Time budget of one process's clean steps in seconds (default 30).",
            ),
        ]
        for o in reversed(opts):
            f = o(f)
        return f

    return deco
#: Rows of the per-variant top-ops tables when --detail is given without --top.
DEFAULT_TOP = 10


def view_options(f: Any) -> Any:
    """--quiet / --detail / --top: how much of a run's report is printed (the summary always comes
    first). The command receives ``quiet``, ``detail`` (true with --detail or --top) and ``top``."""
    opts = [
        click.option("--quiet", "-q", is_flag=True, help="Print only the summary and the paths."),
        click.option("--detail", is_flag=True,
                     help="Add each variant's roofline table, top ops, dispatch counts and probe figures."),
        click.option("--top", type=click.IntRange(min=1), default=None,
                     help=f"Rows of the per-variant top-ops tables (implies --detail; default {DEFAULT_TOP})."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f
