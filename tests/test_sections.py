"""The registry of report sections and the renderers behind one interface: every registered section
appears in every renderer, results are typed (a damaged field is named when the record is loaded),
each section says which pure function computes it, and the schema names every section."""

from __future__ import annotations

import copy
import csv
import importlib
import io
import json
from pathlib import Path

import pytest

from profiler.core.record import RunRecord, load_schema
from profiler.render.base import RenderOptions
from profiler.render.registry import FORMATS, choose, renderers
from profiler.sections.blocks import Line, Table
from profiler.sections.document import build
from profiler.sections.registry import RUN, VARIANT, sections
from profiler.sections.typed import SectionError, dump

FIXTURE = Path(__file__).resolve().parent / "data" / "records" / "every_section.json"


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def report(raw):
    return build(RunRecord.from_dict(copy.deepcopy(raw)), "/runs/fixture")


RECORDS = sorted(FIXTURE.parent.glob("*.json"))


@pytest.fixture(scope="module")
def reports() -> dict[str, object]:
    """Every stored record (one per run kind) as its typed report."""
    return {p.stem: build(RunRecord.from_dict(json.loads(p.read_text())), "/runs/fixture") for p in RECORDS}


def _has(rep, key: str) -> bool:
    return key in rep.results or any(key in p.results for p in rep.variants)


def test_the_stored_records_hold_every_registered_section(reports) -> None:
    missing = [s.key for s in sections() if not any(_has(r, s.key) for r in reports.values())]
    assert not missing, f"no stored record in tests/data/records/ shows {missing} (make_every_section.py)"


def test_registry_order_and_scopes() -> None:
    keys = [s.key for s in sections()]
    assert len(keys) == len(set(keys))
    assert all(s.scope in (VARIANT, RUN) for s in sections())
    assert keys[0] == "first"  # what to fix first opens every output
    assert [s.order for s in sections()] == sorted(s.order for s in sections())


@pytest.mark.parametrize("s", sections(), ids=lambda s: s.key)
def test_each_section_names_the_function_that_computes_it(s) -> None:
    mod, _, attr = s.computed_by.rpartition(".")
    try:
        obj = importlib.import_module(mod)
    except ModuleNotFoundError:  # a method: module.Class.method
        mod, _, cls = mod.rpartition(".")
        obj = getattr(importlib.import_module(mod), cls)
    assert callable(getattr(obj, attr)), s.computed_by


def _marker_blocks(report, key):
    """The blocks a section shows in the fixture (in the first place it has any)."""
    for p in report.variants:
        for sec, blocks in report.variant_blocks(p):
            if sec.key == key:
                return blocks
    for sec, blocks in report.run_blocks():
        if sec.key == key:
            return blocks
    return ()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_section_appears_in_every_renderer(reports, fmt) -> None:
    missing = []
    for s in sections():
        name, report = next(((n, r) for n, r in reports.items() if _marker_blocks(r, s.key)),
                            next((n, r) for n, r in reports.items() if _has(r, s.key)))
        text = renderers()[fmt].render(report, RenderOptions(detail=True, width=200))
        blocks = _marker_blocks(report, s.key)
        assert blocks, f"section {s.key} shows nothing on {name}.json"
        if fmt == "json":
            doc = json.loads(text)
            ok = (s.key in doc if s.scope == RUN
                  else any(s.raw_value(v) is not None for v in doc["variants"]) if s.raw is not None
                  else any(s.key in v for v in doc["variants"]))
        elif fmt == "csv":
            tables = [b for b in blocks if isinstance(b, Table)]
            ok = not tables or f",{s.key}," in text
        elif fmt == "html":
            ok = f'data-section="{s.key}"' in text
        else:
            first = blocks[0]
            needle = first.text if isinstance(first, Line) else first.title
            ok = needle[:40] in " ".join(text.split())  # the terminal wraps long lines
        if not ok:
            missing.append(f"{s.key} ({name})")
    assert not missing, f"{fmt} lacks {missing}"


def test_typed_results_round_trip_to_the_run_record(raw, report) -> None:
    from profiler.sections.registry import section

    for i, p in enumerate(report.variants):
        for key, result in p.results.items():
            if key in ("warnings",):  # gathered from two fields of the entry
                continue
            assert dump(result) == section(key).raw_value(raw["variants"][i]), key
    for key in ("comparisons", "trace_budget", "world_sizes"):
        assert dump(report.results[key]) == raw[key], key


@pytest.mark.parametrize(("path", "value", "named"), [
    (("variants", 0, "launches", "launch_delay_us", "median"), "abc", "variants[0].launches.launch_delay_us.median"),
    (("variants", 1, "breakdown", "ms"), [1, 2], "variants[1].breakdown.ms"),
    (("variants", 0, "distributed", "ranks", 1, "rank"), "one", "variants[0].distributed.ranks[1].rank"),
    (("comparisons", 0, "speedup"), None, "run.comparisons[0].speedup"),
])
def test_a_damaged_section_is_named_when_loaded(raw, path, value, named) -> None:
    bad = copy.deepcopy(raw)
    d = bad
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value
    with pytest.raises(SectionError) as e:
        build(RunRecord.from_dict(bad))
    assert named in str(e.value)


def test_schema_names_every_section() -> None:
    schema = load_schema()["$defs"]
    variant = schema["variant"]["properties"]
    run = schema["run_document"]["properties"]
    # a section read from inside another (gpu_queue in gpu) is described by that one's fragment
    assert [s.key for s in sections() if s.scope == VARIANT and s.raw is None and s.key not in variant] == []
    assert [s.key for s in sections() if s.scope == RUN and s.key not in run] == []


def test_csv_is_tidy(report) -> None:
    rows = list(csv.reader(io.StringIO(renderers()["csv"].render(report, RenderOptions()))))
    assert rows[0] == ["variant", "section", "table", "row", "column", "value"]
    assert all(len(r) == 6 for r in rows)
    ms = {r[5] for r in rows if r[1] == "breakdown" and r[4] == "ms/step"}
    assert ms, "the breakdown's figures are in the CSV"


def test_markdown_tables_are_well_formed(report) -> None:
    md = renderers()["markdown"].render(report, RenderOptions())
    assert md.startswith("# profiler import")
    assert "**fix first:" in md
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---") or line.startswith("|--"):
            n = lines[i - 1].count("|")
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert lines[j].count("|") - lines[j].count("\\|") == n, lines[j]
                j += 1


def test_the_renderer_is_chosen_by_name_or_extension(tmp_path) -> None:
    assert choose("markdown", None).name == "markdown"
    assert choose(None, tmp_path / "r.md").name == "markdown"
    assert choose(None, tmp_path / "r.HTML").name == "html"
    assert choose(None, None).name == "terminal"
    with pytest.raises(Exception, match=r"no format for '\.xyz'"):
        choose(None, tmp_path / "r.xyz")


# ------------------------------------------------------------------------------ the CLI's --format / --output
@pytest.fixture()
def run_dir(tmp_path, raw) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    (d / "run.json").write_text(json.dumps(raw))
    return d


def _invoke(*args: str):
    from click.testing import CliRunner

    from profiler.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


@pytest.mark.parametrize(("name", "fmt"), [("r.md", "markdown"), ("r.html", "html"), ("r.json", "json"),
                                           ("r.csv", "csv"), ("r.txt", "terminal")])
def test_report_writes_the_format_its_output_file_names(run_dir, tmp_path, name, fmt, report) -> None:
    out = tmp_path / name
    _invoke("report", str(run_dir), "--output", str(out))
    text = out.read_text()
    options = RenderOptions(width=100, charts=f"{out.stem}-charts")  # a file's charts: in a folder beside it
    rendered = build(report.record, str(run_dir))
    assert text == renderers()[fmt].render(rendered, options)
    for rel in renderers()[fmt].files(rendered, options):  # every chart it links is there
        assert f"]({rel})" in text and (tmp_path / rel).read_text().startswith("<svg")


def test_report_json_carries_everything_the_run_record_has(run_dir, raw) -> None:
    import jsonschema

    r = _invoke("report", str(run_dir), "--format", "json")
    doc = json.loads(r.output)
    jsonschema.validate(doc, load_schema())
    for i, v in enumerate(raw["variants"]):
        for key in ("gpu", "roofline", "top_ops", "breakdown", "dispatch", "launches", "distributed"):
            if v.get(key) is not None:
                assert doc["variants"][i][key] == v[key], key
    assert doc["first"]["text"]
    assert "compensation_residual_pct" in doc["variants"][0]


def test_entries_of_one_variant_are_named_apart_by_what_differs() -> None:
    from profiler.sections.labels import distinct_labels

    one = {"framework": "torch", "variant": "default", "threads": 2, "mode": "train"}
    two = dict(one, distributed={"world_size": 2})
    other = {"framework": "torch", "variant": "fused", "threads": 4}
    assert distinct_labels([one, two, other]) == ["torch/default · 1 rank", "torch/default · 2 ranks", "torch/fused"]
    assert distinct_labels([one, dict(one, threads=4)]) == ["torch/default · 2 threads", "torch/default · 4 threads"]


def test_a_multimodal_headline_names_its_modes_and_an_unreliable_breakdown_says_why(raw) -> None:
    d = copy.deepcopy(raw)
    v = d["variants"][1]
    v["step_ms"].update(statistic="mean", mean=82.0,
                        modes=[{"center_ms": 15.0, "share": 0.5, "n": 4}, {"center_ms": 150.0, "share": 0.5, "n": 4}])
    v["breakdown"]["reliability"] = {"reliable": False, "why": ["another process took 40% of a core"]}
    report = build(RunRecord.from_dict(d), "/runs/fixture")
    for fmt in ("terminal", "html", "markdown"):
        text = " ".join(renderers()[fmt].render(report, RenderOptions(width=200)).split())
        assert "another process took 40% of a core" in text, fmt
        if fmt != "markdown":
            assert "pattern of 2 modes: 15 ms (50% of steps), 150 ms (50% of steps)" in text, fmt
    md = renderers()["markdown"].render(report, RenderOptions())
    assert "| torch/cpu_small | 82.0 | mean of 3 (2 modes) |" in md


def test_the_breakdown_says_how_the_tracer_cost_was_measured_and_what_was_held() -> None:
    from profiler.sections.breakdown import Compensation, compensation_lines

    c = Compensation(residual_pct=8.1, method="in run",
                     in_run={"per_step_ms": 3.2, "sem_ms": 0.4, "n_traced": 3, "n_clean": 10},
                     placed={"per_record_us": 1.2}, cross_check={"calibrated_us": 3.0, "agrees": False},
                     clamped={"memory_io": {"would_be_ms": 0.0, "kept_ms": 3.13, "floor_ms": 3.13}})
    first, held = (x.text for x in compensation_lines(c))
    assert first.startswith("tracer cost measured in this run: 3.200 ms per traced step (± 0.400")
    assert "1.20 µs per tracer record; calibrate says 3.00 µs (they disagree" in first
    assert held.startswith("memory I/O held at 3.130 ms (its floor from the roofline")
