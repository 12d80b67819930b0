"""The ``profiler`` command line: the group, its error handling, and the commands (one module each).

Each command parses and validates its options, hands off to the run / analysis layers and renders the
result. User errors (:class:`profiler.core.errors.ProfilerError`) become one line on stderr and exit
code 2; nothing else is caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from profiler import __version__
from profiler.cli import calibrate, compare, doctor, explain, listing, report, scale, trace
from profiler.core.errors import ProfilerError

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


for _cmd in (
    listing.list_cmd,
    trace.trace_cmd,
    compare.compare_cmd,
    report.report_cmd,
    doctor.doctor_cmd,
    scale.scale_cmd,
    calibrate.calibrate_cmd,
    explain.explain_cmd,
):
    cli.add_command(_cmd)


def main() -> None:
    cli.main(prog_name="profiler")


if __name__ == "__main__":
    main()
