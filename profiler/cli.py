"""The ``profiler`` command line.

Each command parses and validates its options, hands off to the orchestration / analysis layers and
renders the result. User errors (:class:`profiler.errors.ProfilerError`) become one line on stderr
and exit code 2; nothing else is caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from profiler import __version__
from profiler.errors import InputError, ProfilerError


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _stdout() -> Console:
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
    default=Path("runs"),
    show_default=True,
    help="Directory under which the run directory is created.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
TIMEOUT_OPTION = click.option(
    "--timeout", type=float, help="Seconds per worker before its process tree is killed."
)


# click ≥ 8.2 raises this (named NoArgsIsHelpError from 8.3) when a group is called bare
_NO_ARGS_IS_HELP: tuple[type[BaseException], ...] = tuple(
    c for c in (getattr(click.exceptions, n, None) for n in ("NoArgsIsHelpError", "NoArgsIsHelp")) if c
)


class ProfilerGroup(click.Group):
    """Turns the toolkit's own errors (and click's usage errors) into one line, exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("standalone_mode", False)
        try:
            rv = super().main(*args, **kwargs)
        except ProfilerError as e:
            click.echo(f"profiler: error: {e}", err=True)
            sys.exit(e.exit_code)
        except _NO_ARGS_IS_HELP as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(0)
        except click.UsageError as e:
            hint = f" (see 'profiler {e.ctx.command.name} --help')" if e.ctx and e.ctx.command.name else ""
            click.echo(f"profiler: error: {e.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("profiler: interrupted", err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.echo("profiler: interrupted", err=True)
            sys.exit(130)
        if isinstance(rv, int):
            sys.exit(rv)
        return rv


@click.group(cls=ProfilerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="profiler")
def cli() -> None:
    """Low-level profiling and kernel analysis for deep-learning frameworks."""


# ----------------------------------------------------------------------------- list
@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def list_cmd(as_json: bool) -> None:
    """Scenarios × frameworks × variants, with availability here."""
    from profiler.frameworks import FRAMEWORKS, framework_availability
    from profiler.hardware import gpus
    from profiler.registry import builtin_scenarios

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
    if as_json:
        click.echo(json.dumps({"scenarios": rows, "frameworks_without_builds": others}, indent=2))
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
    _stdout().print(t)


# ---------------------------------------------------------------------------- trace
class _ProgressView:
    """A rich progress display on stderr: which worker runs, its phase and elapsed time."""

    def __init__(self, jobs: list[Any], enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[phase]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
            disable=not enabled,
        )
        self.tasks = {
            j.key: self.progress.add_task(j.key, total=None, phase="queued", start=False) for j in jobs
        }

    def __enter__(self) -> _ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, job: Any, msg: dict[str, Any]) -> None:
        tid = self.tasks.get(job.key)
        if tid is None:
            return
        if "phase" in msg:
            self.progress.start_task(tid)
            ph = msg["phase"]
            if ph == "done":
                self.progress.update(tid, phase=msg.get("status", "done"), total=1, completed=1)
            else:
                self.progress.update(tid, phase=ph, total=msg.get("total"), completed=0)
        elif "step" in msg:
            self.progress.update(tid, completed=msg["step"], total=msg.get("total"))

    def finish(self, entry: dict[str, Any]) -> None:
        tid = self.tasks.get(entry.get("key", ""))
        if tid is not None:
            self.progress.update(tid, phase=entry["status"], total=1, completed=1)


def _trace_options(f: Any) -> Any:
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


def _distributed_options(f: Any) -> Any:
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


@cli.command("trace")
@_trace_options
@_distributed_options
@click.option(
    "--no-inject",
    is_flag=True,
    help="With a command after --: do not install the start-up shim (no steps, no torch/CUPTI probes).",
)
@click.option(
    "--trace-budget",
    type=float,
    help="Keep the Chrome trace's JSON under this many MB (counters downsampled, shortest spans dropped).",
)
@click.argument("program", nargs=-1, type=click.UNPROCESSED)
def trace_cmd(
    scenario: str,
    framework: str | None,
    variant: str | None,
    mode: str | None,
    preset: str | None,
    device: str,
    steps: int | None,
    warmup: int | None,
    trace_steps: int | None,
    threads: int | None,
    data: str,
    probes: str | None,
    require: str | None,
    timeout: float | None,
    out: Path,
    as_json: bool,
    nproc: str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    no_inject: bool = False,
    trace_budget: float | None = None,
    program: tuple[str, ...] = (),
    probe_option: tuple[str, ...] = (),
) -> None:
    """Run a scenario's variants, each in a fresh worker, and report where the time goes.

    Or profile any program: ``profiler trace [OPTIONS] -- python train.py ARGS``.
    """
    from profiler.orchestrate import TraceRequest, execute, json_summary, plan
    from profiler.registry import resolve
    from profiler.report import RunReport
    from profiler.rundir import ensure_writable_root

    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout must be positive, got {timeout:g}")
    if trace_budget is not None and trace_budget <= 0:
        raise InputError(f"--trace-budget must be a positive number of MB, got {trace_budget:g}")
    ensure_writable_root(out)  # fail before any work
    from profiler.distributed import launches

    dist_launches = launches(nproc, nnodes, node_rank, rdzv_endpoint)  # port checked before any work
    from profiler.probes.options import parse_probe_options

    if program:  # profile any command (profiler/command_worker.py)
        if scenario:
            raise InputError("give either --scenario or a command after --, not both")
        from profiler.command_worker import command_scenario

        sc = command_scenario(list(program))
    elif not scenario:
        raise InputError("missing --scenario (or a command after --, e.g. profiler trace -- python train.py)")
    else:
        sc = resolve(scenario)
    req = TraceRequest(
        launches=dist_launches,
        scenario=sc,
        frameworks=_csv(framework),
        variants=_csv(variant),
        mode=mode,
        preset=preset,
        device=device,
        steps=steps,
        warmup=warmup,
        trace_steps=trace_steps,
        threads=threads,
        data=data,
        probes=_csv(probes) if probes is not None else None,
        require=_csv(require) or [],
        probe_options=parse_probe_options(probe_option),
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
        trace_budget_mb=trace_budget,
    )
    if program:
        from profiler.command_worker import plan_command

        p = plan_command(req, list(program), inject=not no_inject)
    else:
        p = plan(req)
    if not p.jobs and not p.skipped:
        raise InputError("nothing to run")
    with _ProgressView(p.jobs, enabled=bool(p.jobs)) as view:
        record, run = execute(p, progress=view.update, on_job_done=view.finish)
    if as_json:
        click.echo(json.dumps(json_summary(record, run), indent=2))
    else:
        _stdout().print(RunReport(record, str(run.path)))
    if record["status"] == "interrupted":
        sys.exit(130)
    if record["status"] not in ("ok", "partial"):
        sys.exit(1)


# -------------------------------------------------------------------------- compare
@cli.command("compare")
@click.option("--scenario", "-s", required=True, help="Scenario name, or a path to your own scenario file.")
@click.option(
    "--frameworks",
    "-f",
    "frameworks",
    default="all",
    show_default=True,
    help="Frameworks, comma-separated, or 'all' (every framework the scenario has).",
)
@click.option("--variant", "-v", "variant", help="Variant(s), comma-separated (default: all).")
@click.option("--mode", type=str, help="train or infer (default: the scenario's).")
@click.option(
    "--preset", "-p", type=str, help="Size preset: cpu or seed (default: seed with a GPU, else cpu)."
)
@click.option("--device", type=str, default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--steps", type=int, help="Clean measured steps (headline time).")
@click.option("--warmup", type=int, help="Warm-up steps, excluded from every figure.")
@click.option("--trace-steps", type=int, help="Traced steps (breakdown).")
@click.option(
    "--threads",
    type=int,
    help="Thread count, the same for every framework (default: the CPUs this process may use).",
)
@click.option("--data", type=str, default="ram", show_default=True, help="ram or disk input pipeline.")
@click.option("--probes", type=str, help="Probes to run, comma-separated (default: every available one).")
@TIMEOUT_OPTION
@OUT_OPTION
@JSON_OPTION
def compare_cmd(
    scenario: str,
    frameworks: str,
    variant: str | None,
    mode: str | None,
    preset: str | None,
    device: str,
    steps: int | None,
    warmup: int | None,
    trace_steps: int | None,
    threads: int | None,
    data: str,
    probes: str | None,
    timeout: float | None,
    out: Path,
    as_json: bool,
) -> None:
    """One scenario in several frameworks, side by side (table, CSV, JSON and a bar chart)."""
    from profiler.compare import CompareTable, default_threads, json_document, run_compare, select_frameworks
    from profiler.errors import UnavailableError
    from profiler.orchestrate import TraceRequest, plan
    from profiler.registry import resolve
    from profiler.rundir import ensure_writable_root

    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout must be positive, got {timeout:g}")
    ensure_writable_root(out)
    sc = resolve(scenario)
    run_fws, skipped = select_frameworks(sc, frameworks)
    if not run_fws:
        raise UnavailableError("; ".join(f"{u.framework}: unavailable: {u.reason}" for u in skipped))
    req = TraceRequest(
        scenario=sc,
        frameworks=run_fws,
        variants=_csv(variant),
        mode=mode,
        preset=preset,
        device=device,
        steps=steps,
        warmup=warmup,
        trace_steps=trace_steps,
        # An explicit count for all: left unset, each framework sizes its own pool differently.
        threads=threads if threads is not None else default_threads(),
        data=data,
        probes=_csv(probes) if probes is not None else None,
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
        label=f"compare-{sc.name}",
    )
    p = plan(req)  # validates every option before anything runs
    with _ProgressView(p.jobs, enabled=bool(p.jobs)) as view:
        record, run, result, files = run_compare(p, skipped, progress=view.update, on_job_done=view.finish)
    if as_json:
        click.echo(json_document(result, run.path, files))
    else:
        _stdout().print(CompareTable(result, str(run.path)))
    if record["status"] == "interrupted":
        sys.exit(130)
    if record["status"] not in ("ok", "partial"):
        sys.exit(1)


# --------------------------------------------------------------------------- report
@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--reanalyse", is_flag=True, help="Recompute the analysis from the saved events.")
@JSON_OPTION
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="For a trace file: where its run directory is created.",
)
@click.option(
    "--trace-budget", type=float, help="For a trace file: keep the Chrome trace under this many MB."
)
def report_cmd(
    run_dir: Path, reanalyse: bool, as_json: bool, out: Path = Path("runs"), trace_budget: float | None = None
) -> None:
    """Re-render a saved run, or analyse a trace you already have.

    RUN_DIR is a run directory, or a torch.profiler (Kineto) JSON, a TensorFlow .xplane.pb (or its
    log directory) or an MXNet profile JSON: it is analysed like a run of ours and saved as one.
    """
    from profiler.importers import is_trace_path
    from profiler.orchestrate import analyse_variant, comparisons, json_summary
    from profiler.report import MALFORMED, render_record
    from profiler.rundir import RunDir

    if is_trace_path(run_dir):  # a trace file (or a TF log directory), not a run directory
        from profiler.importers import import_as_run

        if trace_budget is not None and trace_budget <= 0:
            raise InputError(f"--trace-budget must be a positive number of MB, got {trace_budget:g}")
        record, run = import_as_run(run_dir, out, trace_budget)
        if as_json:
            click.echo(json.dumps(json_summary(record, run), indent=2))
        else:
            render_record(record, str(run.path), _stdout())
        return
    run = RunDir.open(run_dir)
    record = run.read_record()
    if record.get("kind") == "scale":  # a thread-scaling sweep renders as its own table
        from profiler.scale_report import ScaleReport
        from profiler.scaling import saved_summary

        doc = saved_summary(record, run, reanalyse)
        if as_json:
            click.echo(json.dumps(doc, indent=2))
        else:
            _stdout().print(ScaleReport(doc))
        return
    if record.get("kind") == "compare" and not as_json and not reanalyse:  # the side-by-side table too
        from profiler.compare import CompareTable, saved_result

        render_record(record, str(run.path), _stdout())
        _stdout().print(CompareTable(saved_result(record), str(run.path)))
        return
    if reanalyse:
        unit = record.get("scenario", {}).get("unit", "step")
        for v in record["variants"]:
            if v.get("events"):
                v.update(analyse_variant(run.load_events(v), v, v.get("items_per_step"), unit))
        record["comparisons"] = comparisons(record["variants"])
    if as_json:
        try:
            doc = json_summary(record, run)
        except MALFORMED as e:
            raise InputError(f"{run.run_file}: malformed run record ({type(e).__name__}: {e})") from None
        click.echo(json.dumps(doc, indent=2))
    else:
        render_record(record, str(run.path), _stdout())


# --------------------------------------------------------------------------- doctor
@cli.command("doctor")
@JSON_OPTION
def doctor_cmd(as_json: bool) -> None:
    """Every framework and probe: version, or why it is unavailable here."""
    from profiler.frameworks import FRAMEWORKS, framework_availability
    from profiler.hardware import host_info
    from profiler.probes import PROBES, availability_of, probe_class

    fws = {n: framework_availability(n).as_dict() for n in FRAMEWORKS}
    prs = {
        n: {**availability_of(n).as_dict(), "where": probe_class(n).where, "summary": probe_class(n).summary}
        for n in PROBES
    }
    host = host_info()
    from profiler.calibrate import load_cached, summary_line

    cal = load_cached()
    if as_json:
        click.echo(json.dumps({"host": host, "frameworks": fws, "probes": prs, "calibration": cal}, indent=2))
        return
    con = _stdout()
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


# ---------------------------------------------------------------------------- scale
@cli.command("scale")
@click.option("--scenario", "-s", required=True, help="Scenario name, or a path to your own scenario file.")
@click.option(
    "--frameworks",
    "--framework",
    "-f",
    "frameworks",
    help="Framework(s), comma-separated (default: all of the scenario's).",
)
@click.option(
    "--variant", "-v", "variant", help="Variant(s), comma-separated (default: each framework's first)."
)
@click.option(
    "--threads",
    "-t",
    "threads",
    help="Thread counts, comma-separated (default: powers of two up to the core count, plus it).",
)
@click.option("--repeats", "-r", type=int, default=5, show_default=True, help="Fresh workers per point.")
@click.option("--pin", is_flag=True, help="Pin each worker to as many cores as it has threads.")
@click.option("--mode", type=str, help="train or infer (default: the scenario's).")
@click.option("--preset", "-p", type=str, help="Size preset (default: cpu).")
@click.option("--steps", type=int, help="Clean measured steps per worker.")
@click.option("--warmup", type=int, help="Warm-up steps per worker, excluded from every figure.")
@click.option(
    "--trace-steps", type=int, help="Traced steps at the lowest and highest count (op explanation)."
)
@TIMEOUT_OPTION
@OUT_OPTION
@JSON_OPTION
def scale_cmd(
    scenario: str,
    frameworks: str | None,
    variant: str | None,
    threads: str | None,
    repeats: int,
    pin: bool,
    mode: str | None,
    preset: str | None,
    steps: int | None,
    warmup: int | None,
    trace_steps: int | None,
    timeout: float | None,
    out: Path,
    as_json: bool,
) -> None:
    """Thread-scaling sweep: every framework at every thread count, fresh workers, fits, why."""
    from profiler.registry import resolve
    from profiler.rundir import ensure_writable_root
    from profiler.scale_report import ScaleProgressView, ScaleReport
    from profiler.scaling import ScaleRequest, execute_scale, json_summary, parse_threads, plan_scale

    counts = parse_threads(threads)  # bad lists fail before anything is resolved or run
    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout must be positive, got {timeout:g}")
    ensure_writable_root(out)
    req = ScaleRequest(
        scenario=resolve(scenario),
        frameworks=_csv(frameworks),
        variants=_csv(variant),
        threads=counts,
        repeats=repeats,
        pin=pin,
        mode=mode,
        preset=preset,
        steps=steps,
        warmup=warmup,
        trace_steps=trace_steps,
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
    )
    sp = plan_scale(req)
    with ScaleProgressView(len(sp.jobs), enabled=bool(sp.jobs)) as view:
        record, run = execute_scale(sp, progress=view.update, on_job_done=view.finish)
    doc = json_summary(record, run)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        _stdout().print(ScaleReport(doc))
    if record["status"] not in ("ok", "partial"):
        sys.exit(1)


# ------------------------------------------------------------------------ calibrate
@cli.command("calibrate")
@click.option("--force", is_flag=True, help="Measure again even when this machine has cached ceilings.")
@click.option("--quick", is_flag=True, help="Smaller arrays and fewer repetitions (about a second).")
@JSON_OPTION
def calibrate_cmd(force: bool, quick: bool, as_json: bool) -> None:
    """Measure this machine's ceilings (STREAM bandwidth, SGEMM and FMA FLOP/s) for the roofline."""
    from profiler.calibrate import cache_file, calibrate, load_cached, save

    rec = None if force else load_cached()
    cached = rec is not None
    if rec is None:
        rec = calibrate(quick=quick)
        save(rec)
    if as_json:
        click.echo(json.dumps({**rec, "cache_file": str(cache_file()), "from_cache": cached}, indent=2))
        return
    from profiler.breakdown_report import calibration_table

    _stdout().print(calibration_table(rec, str(cache_file()), cached))


# -------------------------------------------------------------------------- explain
@cli.command("explain")
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

    e = explain_runs(run_a, run_b, variant_a, variant_b)
    if as_json:
        click.echo(json.dumps(e, indent=2))
        return
    from rich.console import Group

    from profiler.breakdown_report import explanation_text

    _stdout().print(Group(*explanation_text(e)))


def main() -> None:
    cli.main(prog_name="profiler")


if __name__ == "__main__":
    main()
