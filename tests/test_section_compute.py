"""Sections are computed through the registry (sections/compute.py): a section registered with a
``compute`` function reaches a run's record, its ``--json`` document and every renderer with no
change to the analysis or to the callers; ``computed_by`` is drawn from the function."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiler.analysis.breakdown import step_windows
from profiler.analysis.variant import VariantInputs, analyse_variant, variant_inputs
from profiler.core.events import OP, STEP, EventBuilder, EventTable
from profiler.render.base import RenderOptions
from profiler.render.registry import renderers
from profiler.sections import registry
from profiler.sections.blocks import Block, Line
from profiler.sections.compute import analyse, compute_run, compute_variant
from profiler.sections.registry import RUN, VARIANT, Section, View, calls

TRACE = Path(__file__).resolve().parent / "data" / "kineto" / "torch_cpu_small.json"


# ----------------------------------------------------------------- a throwaway section of each scope
@dataclass(frozen=True)
class OpsPerStep:
    ops: int
    steps: int


def ops_per_step(events: EventTable, pid: int | None, steps: list[Any]) -> dict[str, int]:
    """The op spans of ``pid`` that start inside the steps, and how many steps there are."""
    sp = events.spans
    rows = events.cat_mask(OP) & ((sp["pid"] == pid) if pid is not None else True)
    start = sp["start_ns"][rows]
    inside = np.zeros(len(start), bool)
    for w in steps:
        inside |= (start >= w.start_ns) & (start < w.end_ns)
    return {"ops": int(inside.sum()), "steps": len(steps)}


def show_ops(r: OpsPerStep, view: View) -> tuple[Block, ...]:
    return (Line(f"throwaway section: {r.ops} ops in {r.steps} steps"),)


@dataclass(frozen=True)
class Entries:
    n: int


def entries_measured(variants: Any) -> dict[str, int]:
    return {"n": len(variants)}


def show_entries(r: Entries, view: View) -> tuple[Block, ...]:
    return (Line(f"throwaway run section: {r.n} entries"),)


OPS = Section(key="ops_per_step", title="ops per step", scope=VARIANT, model=OpsPerStep, show=show_ops,
              compute=calls(ops_per_step, VariantInputs.in_steps), when=VariantInputs.has_steps, order=99)
ENTRIES = Section(key="entries_measured", title="entries", scope=RUN, model=Entries, show=show_entries,
                  compute=calls(entries_measured, lambda run: (run.variants,)), order=99)


@pytest.fixture
def registered(monkeypatch):
    """The registry with the two throwaway sections added, as their modules would add them."""
    real = registry.sections()
    monkeypatch.setattr(registry, "sections", lambda: (*real, OPS, ENTRIES))


# ----------------------------------------------------------------- the tests
def test_a_registered_section_reaches_the_record_and_every_output_of_a_run(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILER_CACHE_DIR", str(tmp_path / "cache"))
    from profiler.run.imported import import_as_run
    from profiler.sections.document import build

    record, run = import_as_run(TRACE, tmp_path)
    (v,) = record.variants
    events = run.load_events(v)
    expected = ops_per_step(events, v.pid, variant_inputs(events, v.to_dict()).steps)
    assert expected["ops"] > 0 and expected["steps"] >= 1
    assert v.sections["ops_per_step"] == expected
    assert record.sections["entries_measured"] == {"n": 1}
    saved = json.loads(run.run_file.read_text())  # run.json as written
    assert saved["variants"][0]["ops_per_step"] == expected and saved["entries_measured"] == {"n": 1}

    report = build(record, str(run.path))
    doc = json.loads(renderers()["json"].render(report, RenderOptions()))
    assert doc["variants"][0]["ops_per_step"] == expected and doc["entries_measured"] == {"n": 1}
    for fmt in ("terminal", "markdown", "html"):
        text = " ".join(renderers()[fmt].render(report, RenderOptions(detail=True, width=200)).split())
        assert f"throwaway section: {expected['ops']} ops in {expected['steps']} steps" in text, fmt
        assert "throwaway run section: 1 entries" in text, fmt


def test_the_loop_leaves_out_a_section_with_nothing_to_compute(registered) -> None:
    b = EventBuilder()
    b.span(OP, "aten::add", 0, 1_000, 1, 0)  # an op, but no step
    inputs = variant_inputs(b.build(), {"pid": 1})
    assert not inputs.has_steps()
    assert "ops_per_step" not in compute_variant(inputs)
    assert "probe_summary" in compute_variant(inputs)  # computed with or without steps


def test_analyse_is_the_core_figures_plus_every_section(registered) -> None:
    b = EventBuilder()
    for i in range(4):
        b.span(STEP, f"step {i}", i * 10_000_000, 10_000_000, 1, 0, args={"index": i, "traced": i >= 2})
        b.span(OP, "aten::mm", i * 10_000_000 + 1_000, 2_000_000, 1, 0)
    table = b.build()
    core = analyse_variant(table, {"pid": 1, "framework": "torch"})
    out = analyse(table, {"pid": 1, "framework": "torch"})
    assert {k: out[k] for k in core} == core
    computed = {s.key for s in registry.variant_sections() if s.compute is not None}
    assert set(out) - set(core) == computed and not computed & set(core)
    assert out["ops_per_step"] == {"ops": 2, "steps": 2}  # the traced steps the breakdown describes
    assert out["ops_per_step"] == ops_per_step(table, 1, step_windows(table, 1, traced=True))


def test_run_sections_are_computed_from_the_entries(registered) -> None:
    from profiler.analysis.variant import RunInputs

    out = compute_run(RunInputs(({"framework": "torch"}, {"framework": "jax"})))
    assert out["entries_measured"] == {"n": 2} and out["comparisons"] == [] and "world_sizes" not in out
    assert "world_sizes" in compute_run(RunInputs((), by_world_size=True))


def test_computed_by_is_drawn_from_the_compute_function() -> None:
    assert OPS.computed_by == f"{__name__}.ops_per_step"
    assert registry.section("top_ops").computed_by == "profiler.analysis.ops.op_table"
    assert registry.section("comparisons").computed_by == "profiler.analysis.variant.comparisons"
    with pytest.raises(ValueError, match="is not its compute"):
        Section(key="x", title="x", scope=VARIANT, model=OpsPerStep, show=show_ops,
                compute=calls(ops_per_step, VariantInputs.in_steps), computed_by="somewhere.else")
    with pytest.raises(ValueError, match="no compute and no computed_by"):
        Section(key="x", title="x", scope=VARIANT, model=OpsPerStep, show=show_ops)
