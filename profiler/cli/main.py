"""The ``profiler`` command line: the group, its error handling, and the commands (one module each).

Each command parses and validates its options, hands off to the run / analysis layers and renders the
result. User errors (:class:`profiler.core.errors.ProfilerError`) become one line on stderr and their
exit code (2 for usage, 1 for a run that failed, 127 for a program not found); an operating-system
error (a path too long, a full disk) is one line naming the path (exit 2 when the path given is at
fault, 1 when the machine is); SIGTERM and SIGHUP stop a run as Ctrl-C does (saved, ``interrupted``)
and exit 128+N. Nothing else is caught, so a real bug still shows its traceback. docs/cli.md lists
the exit codes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any

import click

from profiler import __version__
from profiler.cli import calibrate, compare, doctor, explain, listing, report, scale, sql, trace
from profiler.core import faults
from profiler.core.errors import USAGE_ERRNOS, ProfilerError, os_error_line
from profiler.run import owner


class Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP, raised where Ctrl-C would be, so the same code saves the run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: the termination signals received during this invocation (the exit code is 128 + the last)
_signalled: list[int] = []


def _terminate(signum: int, frame: Any) -> None:
    _signalled.append(signum)
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """SIGTERM (``timeout``, ``kill``, a batch system) and SIGHUP (the terminal closed) stop a run
    as a first Ctrl-C does: workers are stopped, what they measured is saved."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _terminate)


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def one_line(message: str) -> str:
    """The message on one line: control characters in it (a path with a newline) are escaped,
    and characters the terminal cannot encode (undecodable file names) are shown as escapes."""
    text = message.translate(_CONTROL)
    enc = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        text.encode(enc)
    except (UnicodeEncodeError, LookupError):
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text


def _interrupted(e: BaseException) -> int:
    signum = getattr(e, "signum", None)
    name = f" by {signal.Signals(signum).name}" if signum else ""
    click.echo(f"profiler: interrupted{name}", err=True)
    return 128 + signum if signum else 130

# click ≥ 8.2 raises this (named NoArgsIsHelpError from 8.3) when a group is called bare
_NO_ARGS_IS_HELP: tuple[type[BaseException], ...] = tuple(
    c for c in (getattr(click.exceptions, n, None) for n in ("NoArgsIsHelpError", "NoArgsIsHelp")) if c
)


class ProfilerGroup(click.Group):
    """Turns the toolkit's own errors (and click's usage errors) into one line, exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("standalone_mode", False)
        owner.clear()
        _signalled.clear()
        try:
            faults.validate_env()  # a malformed PROFILER_FAULT is a usage error before any work
            rv = super().main(*args, **kwargs)
        except SystemExit as e:
            if e.code == 130 and _signalled:  # the run stopped on SIGTERM/SIGHUP, not on Ctrl-C
                sys.exit(128 + _signalled[-1])
            raise
        except ProfilerError as e:
            running = owner.active()
            if running is not None:  # a run had started: it failed, and says why (exit 1)
                from profiler.run.execute import fail_run

                e = fail_run(*running, e)
            click.echo(f"profiler: error: {one_line(str(e))}", err=True)
            sys.exit(e.exit_code)
        except _NO_ARGS_IS_HELP as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(0)
        except click.UsageError as e:
            hint = f" (see 'profiler {e.ctx.command.name} --help')" if e.ctx and e.ctx.command.name else ""
            click.echo(f"profiler: error: {one_line(e.format_message())}{hint}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("profiler: interrupted", err=True)
            sys.exit(130)
        except KeyboardInterrupt as e:
            sys.exit(_interrupted(e))
        except BrokenPipeError:
            # stdout closed early (``profiler report RUN | head``): nothing more to say to anyone
            with contextlib.suppress(Exception):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(128 + signal.SIGPIPE)
        except OSError as e:
            running = owner.active()
            if running is not None:  # a run was being saved: it failed, and says why
                from profiler.run.execute import fail_run

                err = fail_run(*running, e)
                click.echo(f"profiler: error: {one_line(str(err))}", err=True)
                sys.exit(err.exit_code)
            click.echo(f"profiler: error: {one_line(os_error_line(e))}", err=True)
            sys.exit(2 if e.errno in USAGE_ERRNOS else 1)
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
    sql.sql_cmd,
):
    cli.add_command(_cmd)


def main() -> None:
    install_signal_handlers()
    cli.main(prog_name="profiler")


if __name__ == "__main__":
    main()
