"""The ``profiler`` command line.

Each command parses and validates its options, hands off to the orchestration / analysis layers and
renders the result. User errors (:class:`profiler.errors.ProfilerError`) become one line on stderr
and exit code 2; nothing else is caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import json
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
    return Console(soft_wrap=False)


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
            "--scenario", "-s", required=True, help="Scenario name, or a path to your own scenario file."
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
        click.option("--timeout", type=float, help="Seconds per worker before its process tree is killed."),
        click.option(
            "--out",
            "-o",
            type=click.Path(path_type=Path),
            default=Path("runs"),
            show_default=True,
            help="Directory under which the run directory is created.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@cli.command("trace")
@_trace_options
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
) -> None:
    """Run a scenario's variants, each in a fresh worker, and report where the time goes."""
    from profiler.orchestrate import TraceRequest, execute, json_summary, plan
    from profiler.registry import resolve
    from profiler.report import RunReport
    from profiler.rundir import ensure_writable_root

    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout must be positive, got {timeout:g}")
    ensure_writable_root(out)  # fail before any work
    sc = resolve(scenario)
    req = TraceRequest(
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
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
    )
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


# --------------------------------------------------------------------------- report
@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--reanalyse", is_flag=True, help="Recompute the analysis from the saved events.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def report_cmd(run_dir: Path, reanalyse: bool, as_json: bool) -> None:
    """Re-render a saved run without re-running it."""
    from profiler.orchestrate import analyse_variant, comparisons, json_summary
    from profiler.report import RunReport
    from profiler.rundir import RunDir

    run = RunDir.open(run_dir)
    record = run.read_record()
    if reanalyse:
        unit = record.get("scenario", {}).get("unit", "step")
        for v in record["variants"]:
            if v.get("events"):
                v.update(analyse_variant(run.load_events(v), v, v.get("items_per_step"), unit))
        record["comparisons"] = comparisons(record["variants"])
    if as_json:
        click.echo(json.dumps(json_summary(record, run), indent=2))
    else:
        _stdout().print(RunReport(record, str(run.path)))


# --------------------------------------------------------------------------- doctor
@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
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
    if as_json:
        click.echo(json.dumps({"host": host, "frameworks": fws, "probes": prs}, indent=2))
        return
    con = _stdout()
    con.print(
        f"[bold]host[/] {host['cpu']} · {host['cores']} cores · {host['memory_gib']} GiB · "
        f"GPUs: {', '.join(g['name'] for g in host['gpus']) or 'none (' + str(host['gpu_reason']) + ')'}"
    )
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


def main() -> None:
    cli.main(prog_name="profiler")


if __name__ == "__main__":
    main()
