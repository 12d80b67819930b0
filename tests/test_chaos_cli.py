"""Property: whatever a user types, every command ends with exit 0, 1, 2, 127 or 130 and at most one
line of error — never a Python traceback.

Hypothesis generates option values (numbers at and beyond their bounds, non-numbers, NaN and
infinities), paths (empty, over-long, Unicode, undecodable bytes, missing directories, a file where a
directory is expected and the reverse, /dev/null) and programs for every command, and runs each
in-process with click's runner. Fast tier: nothing is started — the moment an invocation would start
a process (a worker, a describe helper, a calibration) or run a sweep, the stand-ins below stop it
and the invocation counts as accepted (options valid up to that point). ``report`` and ``explain``
run for real on small saved runs (an imported trace, a damaged record, a run whose profiler died).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.cli.main import cli
from tests.conftest import DATA

SMALL_TRACE = DATA / "kineto" / "torch_cpu_small.json"
EXIT_CODES = {0, 1, 2, 127, 130}
#: invocations one run of this module makes at least (the property test counts them)
MIN_INVOCATIONS = 1000


class WouldStart(Exception):
    """Raised where the command would start a process or run its workers: the options were valid."""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Small saved runs: an imported trace (ok), a copy whose run.json is damaged, one whose
    profiler died while it ran (report recovers it), a file, an empty and a missing directory."""
    root = tmp_path_factory.mktemp("chaos-runs")
    r = CliRunner().invoke(cli, ["report", str(SMALL_TRACE), "--out", str(root / "runs"), "--json"])
    assert r.exit_code == 0, r.output
    ok = Path(json.loads(r.stdout)["run_dir"])
    damaged = root / "damaged"
    shutil.copytree(ok, damaged)
    (damaged / "run.json").write_text('{"schema": "profiler/2", "variants": [')
    dead = root / "dead"
    shutil.copytree(ok, dead)
    rec = json.loads((ok / "run.json").read_text())
    proc = subprocess.Popen(["true"])
    proc.wait()  # a pid that no longer runs
    rec.update(status="running", owner={"pid": proc.pid, "hostname": os.uname().nodename, "start_ticks": 1})
    (dead / "run.json").write_text(json.dumps(rec))
    plain = root / "plain.txt"
    plain.write_text("not a run\n")
    empty = root / "empty"
    empty.mkdir()
    script = root / "train.py"
    script.write_text("print('hi')\n")
    return {
        "ok": ok, "damaged": damaged, "dead": dead, "file": plain, "empty": empty, "root": root,
        "script": script,
    }


@pytest.fixture
def nothing_starts(monkeypatch):
    """No process, fork or sweep from here on: each raises :class:`WouldStart`."""
    import profiler.run.compare as rcompare
    import profiler.run.execute as rexec
    import profiler.run.imported as rimported
    import profiler.run.thread_sweep as rsweep

    def stop(*a, **k):
        raise WouldStart

    monkeypatch.setattr(subprocess.Popen, "__init__", stop)
    monkeypatch.setattr(os, "fork", stop)
    monkeypatch.setattr(rexec, "execute", stop)
    monkeypatch.setattr(rcompare, "run_compare", stop)
    monkeypatch.setattr(rsweep, "execute_scale", stop)
    monkeypatch.setattr(rimported, "import_as_run", stop)
    monkeypatch.setattr("webbrowser.open", stop)
    monkeypatch.setenv("PROFILER_AUTO_CALIBRATE", "0")


# --------------------------------------------------------------------------------- the generators
_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
INTS = st.one_of(
    st.integers(-3, 5).map(str),
    st.sampled_from(["1023", "1024", "1025", "10000", str(2**31), str(2**63), str(-(2**63)), "99999999999999999999"]),
    st.sampled_from(["", "abc", "1.5", "1e3", "0x10", " 3", "٣", "-0", "+2"]),
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-0", "-1", "1e-320", "1e308", "1e309", "nan", "inf", "-inf", "", "x", "1,5"]),
)
NAMES = st.one_of(
    st.sampled_from(["cudnn_lstm", "synthetic", "torch", "fused", "train", "infer", "cpu", "seed", "cuda",
                     "auto", "ram", "disk", "process", "pyspy", "torch,process", "all", "nope", ",", ""]),
    _text,
)


def paths(saved: dict) -> st.SearchStrategy[str]:
    root = saved["root"]
    return st.one_of(
        st.sampled_from([
            "", ".", "/", "/dev/null", "/proc/self/status", str(saved["file"]), str(saved["empty"]),
            str(root / "missing" / "deeper"), str(saved["file"] / "below"), "x" * 300, f"/tmp/{'y' * 256}/z",
            str(root / ("é" * 200)), "/tmp/\udcff\udcfe", str(saved["ok"] / "run.json"),
        ]),
        _text.map(lambda t: str(root / "gen" / t)),
    )


def run_args(saved: dict) -> st.SearchStrategy[str]:
    return st.one_of(paths(saved), st.sampled_from([str(saved[k]) for k in ("ok", "damaged", "dead")]))


def probe_options() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["pyspy.rate=abc", "pyspy.rate_hz=100", "pyspy.rate_hz=-1", "pyspy.rate_hz=abc",
                         "process.rate_hz=0", "nvml.pcie_every=5", "nope.x=1", "pyspy", "=", ".=", "pyspy.=1"]),
        _text,
    )


def options(saved: dict, specs: dict[str, st.SearchStrategy[str]], flags: list[str]) -> st.SearchStrategy[list[str]]:
    pairs = st.lists(st.sampled_from(sorted(specs)).flatmap(lambda o: specs[o].map(lambda v: [o, v])), max_size=4)
    return st.tuples(pairs, st.lists(st.sampled_from(flags), max_size=2, unique=True)).map(
        lambda t: [x for pair in t[0] for x in pair] + t[1]
    )


def commands(saved: dict) -> st.SearchStrategy[list[str]]:
    P = paths(saved)
    run_common = {
        "--steps": INTS, "--warmup": INTS, "--trace-steps": INTS, "--threads": INTS, "--mode": NAMES,
        "--preset": NAMES, "--timeout": FLOATS, "--out": P, "--repeat": INTS, "--min-time": FLOATS,
        "--max-time": FLOATS, "--probes": NAMES, "--device": NAMES, "--data": NAMES, "--variant": NAMES,
    }
    trace_opts = {
        **run_common, "--scenario": st.one_of(NAMES, P), "--framework": NAMES, "--require": NAMES,
        "--probe-option": probe_options(), "--top": INTS, "--trace-budget": FLOATS, "--skip-steps": INTS,
        "--step-marker": NAMES, "--nproc": st.one_of(INTS, NAMES), "--nnodes": INTS, "--node-rank": INTS,
        "--rdzv-endpoint": st.one_of(NAMES, st.sampled_from(["localhost:0", "h:99999", ":", "a:b"])),
    }
    program = st.one_of(
        st.just([]),
        st.tuples(st.sampled_from(["python", "python3", "no-such-program-xyz", "/bin/true", "/", ""]),
                  st.lists(st.one_of(P, st.sampled_from(["-c", "-m", "-u", "-W", str(saved["script"])])),
                           max_size=2)).map(lambda t: ["--", t[0], *t[1]]),
    )
    trace = st.tuples(options(saved, trace_opts, ["--json", "-q", "--detail", "--no-inject"]), program).map(
        lambda t: ["trace", *t[0], *t[1]])
    compare = options(saved, {**run_common, "--scenario": st.one_of(NAMES, P), "--frameworks": NAMES},
                      ["--json"]).map(lambda a: ["compare", *a])
    scale = options(saved, {
        "--scenario": st.one_of(NAMES, P), "--frameworks": NAMES, "--variant": NAMES,
        "--threads": st.one_of(INTS, st.sampled_from(["1,2,4", "1,,2", "0,1", "1,2000", ",", "4,2,2"])),
        "--repeat": INTS, "--mode": NAMES, "--preset": NAMES, "--steps": INTS, "--warmup": INTS,
        "--trace-steps": INTS, "--timeout": FLOATS, "--out": P,
    }, ["--json", "--pin"]).map(lambda a: ["scale", *a])
    report = st.tuples(run_args(saved), options(saved, {
        "--out": P, "--trace-budget": FLOATS, "--top": INTS, "--html": P,
        "--format": st.sampled_from(["json", "markdown", "csv", "html", "terminal", "nope", ""]),
        "--output": P,
    }, ["--json", "-q", "--detail", "--reanalyse", "--force"])).map(lambda t: ["report", t[0], *t[1]])
    explain = st.tuples(run_args(saved), run_args(saved), options(saved, {
        "--variant-a": NAMES, "--variant-b": NAMES, "--out": P}, ["--json", "--force"])).map(
        lambda t: ["explain", t[0], t[1], *t[2]])
    # a query with no statement in it ('', ';', a comment) is left to the pinned test below
    sql = st.tuples(run_args(saved), st.one_of(st.sampled_from([
        "select 1", "select count(*) from events", "select * from nope", "garbage", "drop table events",
        "select name, sum(dur) from events group by 1 order by 2 desc"]),
        _text.filter(lambda q: any(c.isalnum() for c in q) and "/*" not in q and "--" not in q)), options(saved, {
        # --threads above a few is left out: sql has no upper bound of its own and DuckDB takes
        # seconds to start 10,000 threads (reported; the run commands refuse above MAX_THREADS)
        "--limit": INTS, "--memory-limit": st.sampled_from(["2GB", "1", "abc", "", "-1GB"]),
        "--threads": st.sampled_from(["-1", "0", "1", "2", "abc", "", "1.5"]),
    }, ["--csv", "--json"])).map(lambda t: ["sql", t[0], t[1], *t[2]])
    other = st.one_of(
        st.just(["list"]), st.just(["list", "--json"]), st.just(["doctor"]), st.just([]), st.just(["--help"]),
        st.just(["--version"]), st.lists(NAMES, min_size=1, max_size=3),
        st.sampled_from(["trace", "compare", "scale", "report", "explain", "calibrate", "sql"]).map(
            lambda c: [c, "--bogus"]),
    )
    return st.one_of(trace, trace, compare, scale, report, report, explain, sql, other)


def check_invocation(args: list[str]) -> str:
    """Run ``profiler ARGS`` in-process; assert the contract; return how it ended."""
    r = CliRunner().invoke(cli, args, catch_exceptions=True)
    if isinstance(r.exception, WouldStart):
        return "would start"
    assert r.exception is None or isinstance(r.exception, SystemExit), (
        f"profiler {args!r} raised {type(r.exception).__name__}: {r.exception}"
    )
    assert r.exit_code in EXIT_CODES, (args, r.exit_code, r.output[-500:])
    out = r.output + (r.stderr if r.stderr_bytes is not None else "")
    assert "Traceback" not in out, (args, out[-2000:])
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error")]
    other = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("profiler: warning",
                                                                                      "profiler: error"))]
    if r.exit_code != 0:
        assert len(errors) == 1, (args, r.stderr)
    assert not other or r.exit_code in (0, 1), (args, r.stderr)  # only a run's own output is more
    return f"exit {r.exit_code}"


def test_generated_invocations_never_show_a_traceback(saved, nothing_starts):
    ended: dict[str, int] = {}
    t0 = time.monotonic()

    @settings(max_examples=MIN_INVOCATIONS + 100, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(commands(saved))
    def prop(args: list[str]) -> None:
        how = check_invocation(args)
        ended[how] = ended.get(how, 0) + 1

    prop()
    n = sum(ended.values())
    assert n >= MIN_INVOCATIONS, ended
    # the generators reach every outcome a user meets: accepted, usage errors, failed reads
    assert ended.get("exit 2", 0) > 100 and ended.get("exit 0", 0) + ended.get("would start", 0) > 20, ended
    print(f"{n} invocations in {time.monotonic() - t0:.1f} s: {ended}")


# Known hostile inputs from the reliability review, each pinned (the generators find them too).
@pytest.mark.parametrize(
    "args,code,message",
    [
        (["trace", "-s", "cudnn_lstm", "--trace-steps", "0"], 2, "--trace-steps must be a positive integer, got 0"),
        (["trace", "-s", "cudnn_lstm", "--warmup", "-1"], 2, "--warmup must be 0 or more, got -1"),
        (["trace", "-s", "cudnn_lstm", "--steps", "0"], 2, "--steps must be a positive integer, got 0"),
        (["trace", "-s", "cudnn_lstm", "--threads", "10000"], 2, "--threads 10000 is above the limit of 1024"),
        (["scale", "-s", "cudnn_lstm", "--threads", "1,10000"], 2, "--threads 10000 is above the limit of 1024"),
        (["compare", "-s", "cudnn_lstm", "--threads", "0"], 2, "--threads must be a positive integer, got 0"),
        (["trace", "-s", "cudnn_lstm", "--probe-option", "pyspy.rate=abc"], 2,
         "--probe-option pyspy.rate: unknown option of probe 'pyspy'; valid: exit_wait_s, native, nonblocking, rate_hz"),
        (["trace", "-s", "cudnn_lstm", "--timeout", "nan"], 2, "--timeout must be a positive finite number, got nan"),
        (["trace", "-s", "cudnn_lstm", "--max-time", "inf"], 2, "--max-time must be a positive finite number"),
        (["trace", "--", "python", "missing.py"], 127, "python: cannot open script missing.py: no such file"),
        (["trace", "--", "no-such-program-xyz"], 127, "command not found: no-such-program-xyz"),
    ],
)
def test_refused_inputs(nothing_starts, tmp_path, args, code, message):
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path)] if "--" not in args else
                           [args[0], "--out", str(tmp_path), *args[1:]])
    assert r.exit_code == code, r.output
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("profiler: error")]
    assert message in line, line


def test_warmup_zero_is_accepted(nothing_starts, tmp_path):
    r = CliRunner().invoke(cli, ["trace", "-s", "cudnn_lstm", "-f", "torch", "--warmup", "0", "--out", str(tmp_path)])
    assert isinstance(r.exception, WouldStart), r.output  # reached the run: 0 warm-up steps is allowed


def test_threads_above_the_cores_warn(nothing_starts, tmp_path):
    from profiler.core.hardware import usable_cores

    n = usable_cores() + 1
    r = CliRunner().invoke(cli, ["trace", "-s", "cudnn_lstm", "-f", "torch", "--threads", str(n), "--out", str(tmp_path)])
    assert isinstance(r.exception, WouldStart), r.output
    assert f"profiler: warning: --threads {n} is more than the {usable_cores()} core(s)" in r.stderr


@pytest.mark.parametrize("query", ["", ";", "/* */"])
def test_sql_without_a_statement_is_one_line(saved, query):
    r = CliRunner().invoke(cli, ["sql", str(saved["ok"]), query])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 2
