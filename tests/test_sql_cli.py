"""``profiler sql`` and ``profiler.open``: DuckDB over a run's event store, a pre-store run
(``events.npz``) and a folder of per-rank traces; figures checked against the traces' own JSON."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from profiler.cli.main import ProfilerGroup
from profiler.cli.sql import sql_cmd

DATA = Path(__file__).parent / "data" / "kineto"
SMALL = DATA / "torch_cpu_small.json"


@click.group(cls=ProfilerGroup)
def _group() -> None:
    """The command under the CLI's own error handling, registered or not in main.py."""


_group.add_command(sql_cmd)


def sql(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(_group, ["sql", *args], env=env, catch_exceptions=False)


def raw_events(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from profiler.run.imported import import_as_run

    _, run = import_as_run(SMALL, tmp_path_factory.mktemp("runs"))
    return run.path


def test_json_counts_per_name_equal_the_trace(run_dir):
    r = sql(str(run_dir), "SELECT name, count(*) AS n, sum(dur_ns) AS d FROM events GROUP BY name", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    want = Counter(e["name"] for e in raw_events(SMALL))
    assert {x["name"]: x["n"] for x in rows} == dict(want)
    durs = Counter()
    for e in raw_events(SMALL):
        durs[e["name"]] += round(e["dur"] * 1000)
    assert all(abs(x["d"] - durs[x["name"]]) <= x["n"] for x in rows)


def test_csv_and_table(run_dir):
    steps = sorted(e["name"] for e in raw_events(SMALL) if e["name"].startswith("ProfilerStep#"))
    r = sql(str(run_dir), "SELECT variant, step, name, dur_ns FROM steps ORDER BY name", "--csv")
    assert r.exit_code == 0, r.output
    got = list(csv.DictReader(io.StringIO(r.output)))
    assert [g["name"] for g in got] == steps
    assert {g["variant"] for g in got} == {"torch-torch_cpu_small"}
    r = sql(str(run_dir), "SELECT name, shapes FROM events WHERE shapes IS NOT NULL ORDER BY start_ns", "--limit", "3")
    assert r.exit_code == 0, r.output
    n = sum(1 for e in raw_events(SMALL) if e.get("args", {}).get("Input Dims"))
    assert f"{n} rows ({n - 3} not shown" in r.output
    assert "[[" in r.output  # shapes printed as text, not taken for markup


def test_query_errors_are_one_line_exit_2(run_dir):
    r = CliRunner().invoke(_group, ["sql", str(run_dir), "SELEC name FROM events"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("profiler: error: Parser Error: syntax error"), r.output
    r = CliRunner().invoke(_group, ["sql", str(run_dir), "SELECT nope FROM events"])
    assert r.exit_code == 2 and "Binder Error" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(_group, ["sql", str(run_dir / "missing"), "SELECT 1"])
    assert r.exit_code == 2 and "no such run" in r.output


def test_pre_store_run_with_events_npz_answers_the_same(run_dir, tmp_path):
    from profiler.core.events import EventTable
    from profiler.core.parquet import TABLES, table_path

    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    rec = json.loads((old / "run.json").read_text())
    v = rec["variants"][0]
    store = old / v["events"]
    EventTable.load(store).save(store.with_name("events.npz"))
    for t in TABLES:
        table_path(store, t).unlink()
    v["events"] = str(Path(v["events"]).with_name("events.npz"))
    (old / "run.json").write_text(json.dumps(rec))
    q = "SELECT category, count(*) AS n, sum(dur_ns) AS d FROM events GROUP BY 1 ORDER BY 1"
    a, b = sql(str(run_dir), q, "--json"), sql(str(old), q, "--json")
    assert a.exit_code == b.exit_code == 0, b.output
    assert json.loads(a.output) == json.loads(b.output)


def test_trace_folder_is_imported_once(tmp_path):
    folder = tmp_path / "traces"
    shutil.copytree(DATA / "ddp2", folder)
    env = {"PROFILER_CACHE_DIR": str(tmp_path / "cache")}
    q = "SELECT rank, count(*) AS n FROM events GROUP BY rank ORDER BY rank"
    r = sql(str(folder), q, "--json", "--scheduler", "in-process", env=env)
    assert r.exit_code == 0, r.output
    want = [{"rank": i, "n": len(raw_events(folder / f"rank{i}.pt.trace.json.gz"))} for i in (0, 1)]
    assert json.loads(r.output) == want
    stores = sorted((tmp_path / "cache").rglob("events.parquet"))
    assert len(stores) == 2
    mtimes = [p.stat().st_mtime_ns for p in stores]
    r = sql(str(folder), q, "--json", "--scheduler", "in-process", env=env)
    assert json.loads(r.output) == want
    assert [p.stat().st_mtime_ns for p in stores] == mtimes  # read from the store, not imported again


def test_profiler_open_gives_relations_and_arrow_tables(run_dir):
    import pyarrow as pa

    import profiler

    with profiler.open(run_dir) as run:
        ev = run.table("events")
        assert isinstance(ev, pa.Table) and ev.num_rows == len(raw_events(SMALL))
        assert ev.column_names[:6] == ["variant", "rank", "step", "category", "name", "start_ns"]
        rel = run.sql("SELECT count(*) FROM steps")
        assert rel.fetchall() == [(3,)]
        assert run.relation("counters").columns[:3] == ["variant", "ts_ns", "name"]
        with pytest.raises(profiler.core.errors.InputError, match="Parser Error"):
            run.sql("SELEC")
    assert "open" not in profiler.__all__


@pytest.mark.slow
def test_registered_in_the_cli(run_dir):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "profiler", "sql", str(run_dir), "SELECT count(*) AS n FROM steps", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"n": 3}]
    r = subprocess.run([sys.executable, "-m", "profiler", "sql", str(run_dir), "SELECT FROM WHERE"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Parser Error" in r.stderr, r.stderr
