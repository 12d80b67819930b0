"""Options and helpers the commands share, defined once: --out, --json, --timeout, the trace and
distributed option groups, comma lists, and the stdout console."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from profiler.core import defaults
from profiler.core.errors import InputError
from profiler.run.options import DEFAULT_TOP, FIELDS, Options


def with_options(f: Any) -> Any:
    """The innermost decorator of a command (just above its ``def``): the shared options click parsed
    (those named as :class:`~profiler.run.options.Options` fields) become one ``Options``, the
    command's first argument; the command's own options stay keyword arguments. ``detail`` is true
    with ``--detail`` or ``--top``; ``top`` falls back to ``DEFAULT_TOP``."""

    @functools.wraps(f)
    def command(**kwargs: Any) -> Any:
        shared = {k: kwargs.pop(k) for k in list(kwargs) if k in FIELDS}
        top = shared.pop("top", None)
        shared["detail"] = bool(shared.get("detail")) or top is not None
        shared["top"] = top or DEFAULT_TOP
        return f(Options(**shared), **kwargs)

    return command


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
    type=click.Path(path_type=Path),
    default=defaults.OUT_DIR,
    show_default=True,
    help="Directory under which the run directory is created.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


# ------------------------------------------------------------------------------------- validation
#: The most threads a worker may be given (--threads): each framework starts a pool of this size per
#: kind of work (intra-op, inter-op, BLAS), so 10,000 meant 20,000 threads and minutes of start-up.
MAX_THREADS = 1024


def _flag(param: Any) -> str:
    opts = getattr(param, "opts", None) or [f"--{getattr(param, 'name', '?')}"]
    return max(opts, key=len)


def count_option(minimum: int) -> Any:
    """A click callback: the integer is at least ``minimum`` (1: positive, 0: 0 or more)."""

    def check(ctx: Any, param: Any, value: int | None) -> int | None:
        if value is not None and value < minimum:
            rule = "a positive integer" if minimum == 1 else f"{minimum} or more"
            raise InputError(f"{_flag(param)} must be {rule}, got {value}")
        return value

    return check


def seconds_option(allow_zero: bool = False) -> Any:
    """A click callback: a finite number of seconds (or MB) above zero (or zero with ``allow_zero``)."""

    def check(ctx: Any, param: Any, value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            rule = "zero or a positive finite number" if allow_zero else "a positive finite number"
            raise InputError(f"{_flag(param)} must be {rule}, got {value:g}")
        return value

    return check


def check_thread_count(n: int, flag: str = "--threads") -> None:
    """Refuse a count above :data:`MAX_THREADS`; warn (stderr) above the cores this process may use."""
    from profiler.core.hardware import usable_cores

    if n < 1:
        raise InputError(f"{flag} must be a positive integer, got {n}")
    if n > MAX_THREADS:
        raise InputError(f"{flag} {n} is above the limit of {MAX_THREADS} threads per worker "
                         "(docs/reliability.md: thread counts)")
    cores = usable_cores()
    if n > cores:
        click.echo(f"profiler: warning: {flag} {n} is more than the {cores} core(s) this process may use; "
                   "the threads will share cores", err=True)


def threads_option(ctx: Any, param: Any, value: int | str | None) -> int | None:
    """A click callback for one ``--threads`` count (:func:`check_thread_count`). The option takes the
    same text as ``scale``'s (``4``, or ``1,2,4``); a command that runs one count refuses a list."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if len(parts) != 1:
            raise click.BadParameter("one thread count here; a list of counts is a sweep: "
                                     "profiler scale -t " + ",".join(parts or ["1,2,4"]), ctx, param)
        try:
            value = int(parts[0])
        except ValueError:
            raise click.BadParameter(f"{parts[0]!r} is not a whole number of threads", ctx, param) from None
    check_thread_count(value, _flag(param))
    return value


def framework_option(default_help: str = "all of the scenario's") -> Any:
    """``-f/--framework`` (``--frameworks`` is the same option): a name, a comma-separated list, or
    ``all``, in every command; the command receives ``framework`` (``None`` for all)."""

    def all_is_none(ctx: Any, param: Any, value: str | None) -> str | None:
        if value is None or value.strip() in ("", "all"):
            return None
        if "all" in [n.strip() for n in value.split(",")]:
            raise click.BadParameter("'all' cannot be combined with other names", ctx, param)
        return value

    return click.option("--framework", "--frameworks", "-f", "framework", callback=all_is_none,
                        help=f"Framework: a name, a comma-separated list, or 'all' (default: {default_help}).")


def threads_count_option(help_text: str) -> Any:
    """``-t/--threads`` taking one count (``trace``, ``compare``; ``scale`` takes a list)."""
    return click.option("--threads", "-t", "threads", type=str, callback=threads_option,
                        help=f"{help_text} (at most {MAX_THREADS}).")


def probe_options_option(ctx: Any, param: Any, value: tuple[str, ...]) -> tuple[str, ...]:
    """``--probe-option NAME.KEY=VALUE``: a known probe, a key that probe reads, a value it takes
    (:func:`profiler.run.requests.check_probe_options`)."""
    if value:
        from profiler.run.requests import check_probe_options

        check_probe_options(value)
    return value


_positive_timeout = seconds_option()


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
        framework_option(),
        click.option("--variant", "-v", "variant", help="Variant(s), comma-separated (default: all)."),
        click.option("--mode", type=str, help="train or infer (default: the scenario's)."),
        click.option(
            "--preset", "-p", type=str, help="Size preset: cpu or seed (default: seed with a GPU, else cpu)."
        ),
        click.option("--device", type=str, default="auto", show_default=True, help="auto, cpu or cuda."),
        click.option("--steps", type=int, callback=count_option(1), help="Clean measured steps (headline step time)."),
        click.option("--warmup", type=int, callback=count_option(0),
                     help="Warm-up steps (0 or more), excluded from every figure."),
        click.option("--trace-steps", type=int, callback=count_option(1),
                     help="Traced steps (breakdown and Chrome trace)."),
        threads_count_option("Thread count for the framework, set before it loads"),
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
            callback=probe_options_option,
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
        click.option("--nnodes", type=int, callback=count_option(1), help="Nodes taking part (each runs this command)."),
        click.option("--node-rank", type=int, callback=count_option(0), help="This node's rank, 0..nnodes-1 (default 0)."),
        click.option("--rdzv-endpoint", type=str, help="HOST:PORT of node 0 (rendezvous; a free port)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def repeat_options(default_repeat: int, alias: str | None = None) -> Any:
    """--repeat (fresh worker processes per variant, interleaved), --min-time and --max-time
    (calibration of the clean steps per process). ``alias``: an older spelling of --repeat."""

    def deco(f: Any) -> Any:
        names = ["--repeat", "-r", *([alias] if alias else [])]
        opts = [
            click.option(
                *names,
                "repeat",
                type=int,
                default=default_repeat,
                show_default=True,
                callback=count_option(1),
                help="Fresh worker processes per variant, run interleaved (ABCABC); each warms up, only "
                "the first traces. The headline is their pooled median with a 95% CI.",
            ),
            click.option(
                "--min-time",
                "min_time",
                type=float,
                callback=seconds_option(allow_zero=True),
                help="Seconds of clean steps per process: the step count is calibrated to it, bounded by "
                "--steps (default 1 s without --steps; with --steps alone, exactly that many).",
            ),
            click.option(
                "--max-time",
                "max_time",
                type=float,
                callback=seconds_option(),
                help="Time budget of one process's clean steps in seconds (default 30).",
            ),
        ]
        for o in reversed(opts):
            f = o(f)
        return f

    return deco
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
