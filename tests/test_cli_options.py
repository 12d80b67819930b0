"""One option set: the options every command shares have the same names, short forms and types in
each command's --help (read from click's own parameter objects, as --help prints them)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from profiler.cli.main import cli

RUNS = ("trace", "compare", "scale")  # the commands that run workloads
SHOWS = ("trace", "compare", "scale", "report", "explain")  # the commands that show a run

#: option (its long name) → the spellings every command that has it must accept
SAME = {
    "--framework": {"-f", "--framework", "--frameworks"},
    "--threads": {"-t", "--threads"},
    "--repeat": {"-r", "--repeat"},
    "--steps": {"--steps"},
    "--warmup": {"--warmup"},
    "--trace-steps": {"--trace-steps"},
    "--out": {"--out"},
    "--json": {"--json"},
    "--format": {"--format"},
    "--output": {"-o", "--output"},
    "--timeout": {"--timeout"},
}


def _options(name: str) -> dict[str, click.Option]:
    """A command's options by their shared long name (else their longest spelling)."""
    out = {}
    for p in cli.commands[name].params:
        if isinstance(p, click.Option):
            out[next((k for k in SAME if k in p.opts), max(p.opts, key=len))] = p
    return out


@pytest.mark.parametrize("name", RUNS)
def test_every_run_command_has_the_shared_options_spelled_alike(name) -> None:
    opts = _options(name)
    for long, spellings in SAME.items():
        assert long in opts, f"{name} lacks {long}"
        assert spellings <= set(opts[long].opts), f"{name} {long}: {opts[long].opts}"


@pytest.mark.parametrize("name", SHOWS)
def test_every_command_that_shows_a_run_takes_format_and_output(name) -> None:
    opts = _options(name)
    assert list(opts["--format"].type.choices) == ["terminal", "html", "markdown", "json", "csv"]
    assert "--output" in opts


def test_framework_takes_a_name_a_list_or_all_everywhere(tmp_path) -> None:
    for name in RUNS:
        opt = _options(name)["--framework"]
        ctx = click.Context(cli.commands[name])
        assert opt.process_value(ctx, "all") is None
        assert opt.process_value(ctx, "torch,tensorflow") == "torch,tensorflow"
        with pytest.raises(click.BadParameter, match="'all' cannot be combined"):
            opt.process_value(ctx, "all,torch")


@pytest.mark.parametrize("name", ("trace", "compare"))
def test_threads_is_one_count_where_one_runs_and_says_where_lists_go(name) -> None:
    r = CliRunner().invoke(cli, [name, "-s", "synthetic", "-t", "1,2"])
    assert r.exit_code == 2 and "profiler scale -t 1,2" in r.output, r.output


def test_o_names_the_report_file_and_a_directory_is_refused_with_the_way_out(tmp_path) -> None:
    # -o is the report file in every command that shows a run; a directory (what -o meant before)
    # is one line naming --out, before anything runs
    for args in (["-o", str(tmp_path)], ["-o", str(tmp_path / "runs")]):
        r = CliRunner().invoke(cli, ["trace", "-s", "synthetic", *args, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2 and "--out DIR" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "x").exists()


def test_output_with_an_unknown_extension_fails_before_anything_runs(tmp_path) -> None:
    r = CliRunner().invoke(cli, ["trace", "-s", "synthetic", "--output", str(tmp_path / "r.xyz"),
                                 "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no format for '.xyz'" in r.output, r.output
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------- the command receives one typed object
@pytest.mark.parametrize("name", sorted(cli.commands))
def test_a_command_with_shared_options_receives_them_as_one_options_object(name) -> None:
    import inspect

    from profiler.run.options import FIELDS

    cmd = cli.commands[name]
    shared = {p.name for p in cmd.params} & FIELDS
    if not shared:
        return
    inner = getattr(cmd.callback, "__wrapped__", None)
    assert inner is not None, f"{name}: its shared options {sorted(shared)} are not built by with_options"
    params = list(inspect.signature(inner).parameters)
    assert params[0] == "opts" and not FIELDS & set(params[1:]), f"{name}: {params}"


def test_the_options_object_is_built_once_with_the_shared_meanings(monkeypatch) -> None:
    from profiler.cli.options import with_options
    from profiler.run.options import DEFAULT_TOP, Options

    seen: list[tuple[Options, dict]] = []
    command = with_options(lambda opts, **own: seen.append((opts, own)))
    command(framework="torch,tensorflow", top=None, detail=False, pin=True)
    command(framework=None, top=3, detail=False, as_json=True)
    (a, own_a), (b, _) = seen
    assert a.frameworks == ["torch", "tensorflow"] and a.top == DEFAULT_TOP and not a.detail and own_a == {"pin": True}
    assert b.frameworks is None and b.top == 3 and b.detail and b.as_json
    with pytest.raises(AttributeError):
        a.top = 5  # frozen: no command changes what was asked
