"""A saved run opened again (run/reopen.py): ``report --reanalyse`` recomputes every entry's figures
from its saved events and the run's sections as the run that made it decided them; a run launched at
several world sizes (``--nproc 1,2``) keeps its comparisons empty and its world-size table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from profiler.cli.main import cli
from profiler.run.reopen import by_world_size, reanalysed, reopen

TRACE = Path(__file__).resolve().parent / "data" / "kineto" / "torch_cpu_small.json"


@pytest.fixture
def imported(tmp_path, monkeypatch):
    """A run saved from a small torch.profiler trace: its run directory, with its events."""
    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    from profiler.run.imported import import_as_run

    _, run = import_as_run(TRACE, tmp_path / "runs")
    return run.path


def _two_world_sizes(run_dir: Path, launched: bool) -> dict:
    """The imported entry twice, as ranks of world size 1 and 2 reading the same events; the run's
    settings keep the launches where ``launched`` (what ``trace --nproc 1,2`` writes)."""
    from profiler.run.torchrun import launches

    raw = json.loads((run_dir / "run.json").read_text())
    (v,) = raw["variants"]
    step = v["step_ms"]["median"]
    raw["variants"] = [dict(v, key=f"{v['key']}-ws{n}", distributed={"world_size": n, "step_ms": step * (1 + n / 10)})
                       for n in (1, 2)]
    if launched:
        raw["settings"]["distributed"] = [la.as_dict() for la in launches("1,2", None, None, None)]
    raw["comparisons"] = []
    (run_dir / "run.json").write_text(json.dumps(raw))
    return raw


def test_reanalysed_recomputes_the_figures_from_the_saved_events(imported) -> None:
    before = json.loads((imported / "run.json").read_text())["variants"][0]
    saved = reopen(imported, imported.parent)
    (v,) = saved.record.variants
    v.top_ops, v.breakdown, v.step_ms = None, None, None  # figures lost: only the events remain
    record = reanalysed(saved)
    assert record is saved.record
    again = record.to_dict()["variants"][0]
    assert again["breakdown"] == before["breakdown"] and again["top_ops"] == before["top_ops"]
    assert again["step_ms"]["median"] == before["step_ms"]["median"]


def test_reanalyse_of_a_run_at_several_world_sizes_keeps_comparisons_empty(imported) -> None:
    _two_world_sizes(imported, launched=True)
    saved = reopen(imported, imported.parent)
    assert by_world_size(saved.record)
    record = reanalysed(saved)
    assert record.comparisons == []
    assert [r["world_size"] for r in record.sections["world_sizes"]] == [1, 2]
    # and through the command: the --json document says the same
    r = CliRunner().invoke(cli, ["report", str(imported), "--reanalyse", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["comparisons"] == []


def test_reanalyse_of_entries_of_one_world_size_compares_them(imported) -> None:
    _two_world_sizes(imported, launched=False)  # no launches: the entries are variants side by side
    saved = reopen(imported, imported.parent)
    assert not by_world_size(saved.record)
    record = reanalysed(saved)
    assert len(record.comparisons) == 1
    assert "world_sizes" not in record.sections
