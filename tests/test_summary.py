"""The summary-first run report: one line per variant, the verdicts early, names whole, every file listed."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from profiler.core.categories import CATEGORIES
from profiler.core.record import SCHEMA, RunRecord, StepStats
from profiler.report.run import render_record
from profiler.report.summary import files_lines, run_files, short_name, uncertainty


def _variant(fw: str, name: str, median: float, pct: dict[str, float], **stats) -> dict:
    ms = {c: median * pct.get(c, 0.0) / 100 for c in CATEGORIES}
    return {
        "scenario": "demo", "framework": fw, "variant": name, "mode": "train", "preset": "cpu",
        "key": f"{fw}-{name}-train", "device": "cpu", "threads": None, "status": "ok", "error": None,
        "step_ms": {"median": median, "min": median * 0.9, "max": median * 1.2, "mean": median,
                    "spread_pct": 30.0, "n_steps": 10, **stats},
        "breakdown": {"ms": ms, "pct": {c: pct.get(c, 0.0) for c in CATEGORIES}, "step_ms": median,
                      "n_steps": 3, "basis": "host ops", "residual_ms": 0.0, "residual_pct": 0.0,
                      "not_measured": {}},
        "top_ops": [{"name": f"aten::op_number_{i}_with_a_long_name", "where": "host", "kind": "x",
                     "category": "compute", "calls_per_step": 1.0, "self_ms_per_step": 1.0 / (i + 1),
                     "total_ms_per_step": 1.0} for i in range(15)],
    }


def _record(n_variants: int = 11, n_comparisons: int = 9) -> RunRecord:
    vs = [_variant("tensorflow", f"unfused_variant_{i}", 10.0 + i, {"compute": 60, "memory_io": 30,
                                                                    "framework_overhead": 10})
          for i in range(n_variants)]
    vs.append({**_variant("numba", "kernels_fused_gpu", 1.0, {}), "status": "unavailable",
               "error": "unavailable: needs an NVIDIA GPU (none found)", "step_ms": None, "breakdown": None})
    comps = [{"fast": vs[0]["framework"] + "/" + vs[0]["variant"], "slow": f"tensorflow/unfused_variant_{i}",
              "speedup": 1.5, "category_delta_ms": {c: 0.1 for c in CATEGORIES}, "traced_gap_ms": 5.0,
              "ratio_ci95": [1.2, 1.9], "verdict": "faster", "main_category": "compute",
              "category_share_pct": {c: 60.0 if c == "compute" else 8.0 for c in CATEGORIES},
              "dispatch": {"fast": {"ops": 207.0}, "slow": {"ops": 7613.0}},
              "sentence": f"tensorflow/unfused_variant_0 is 1.5× faster than tensorflow/unfused_variant_{i} "
                          f"(10.00 vs 15.00 ms per step); 60% of the gap is compute; 7,613 op dispatches per "
                          f"step vs 207. VERDICT{i}"}
             for i in range(1, n_comparisons + 1)]
    return RunRecord.from_dict({
        "schema": SCHEMA, "id": "x", "kind": "trace", "scenario": {"name": "demo"}, "status": "ok",
        "settings": {"device": "cpu", "preset": "cpu", "mode": "train", "steps": 10, "trace_steps": 3},
        "variants": vs, "comparisons": comps, "trace": "trace.json.gz",
    })


def _render(rec: RunRecord, run_dir: str | None = None, **kw) -> list[str]:
    buf = io.StringIO()
    render_record(rec, run_dir, Console(file=buf, width=100, color_system=None), **kw)
    return buf.getvalue().splitlines()


def test_short_name_breaks_only_at_separators():
    assert short_name("torch/fused", 24) == "torch/fused"
    s = short_name("tensorflow/unfused_layernorm", 20)
    assert len(s) <= 20 and s.endswith("layernorm")
    for word in s.replace("/", " ").replace("_", " ").split():
        assert word.lstrip("…") in "tensorflow unfused layernorm".split() or len(word) == 1
    assert len(short_name("a" * 60, 10)) <= 10


def test_uncertainty_prefers_ci_then_mad_then_spread():
    assert uncertainty(StepStats(median=1.0, ci95=[0.9, 1.1], n_processes=3)).startswith("CI95 0.900–1.100")
    # one process's interval of its own steps is no CI of a rerun: the MAD is shown instead
    assert uncertainty(StepStats(median=1.0, ci95=[0.9, 1.1], mad=0.05, n_processes=1)) == "MAD 0.050"
    assert uncertainty(StepStats(median=1.0, mad=0.05)) == "MAD 0.050"
    assert uncertainty(StepStats(median=1.0, spread_pct=12.0)) == "spread 12%"


def test_verdicts_within_first_40_lines_at_100_columns():
    lines = _render(_record(11, 10))
    assert all(len(ln) <= 100 for ln in lines)
    details = lines.index("details")  # the detail panels come after the summary
    summary = "\n".join(lines[:details])
    for i in range(1, 11):  # each verdict in short: who, how much faster with its CI, why
        assert (f"t/unfused_variant_0 is 1.50× faster (CI 1.20–1.90) than t/unfused_variant_{i}; gap: 60% "
                "compute; 207 vs 7,613 dispatches/step") in " ".join(summary.split()), i
    last_verdict = max(i for i, ln in enumerate(lines[:details]) if "faster (CI" in ln)
    assert last_verdict < 40, "\n".join(lines[:45])
    assert "not run here: numba/kernels_fused_gpu" in summary
    rest = " ".join(lines[details:])
    assert all(f"VERDICT{i}" in rest for i in range(1, 11))  # the full sentences follow in the details


def test_quiet_prints_only_the_summary_and_top_sets_the_op_tables(tmp_path):
    (tmp_path / "workers" / "w1").mkdir(parents=True)
    (tmp_path / "workers" / "w1" / "pyspy.speedscope.json").write_text("{}")
    (tmp_path / "run.json").write_text("{}")
    quiet = _render(_record(), str(tmp_path), quiet=True)
    assert "details" not in quiet and not any("top ops" in ln for ln in quiet)
    assert any("pyspy.speedscope.json ×1" in ln for ln in quiet)  # every file written is listed
    default = _render(_record(2, 1), str(tmp_path))
    assert "details" in default and not any("aten::op_number_" in ln for ln in default)
    assert any("--detail" in ln for ln in default)  # the default says where the rest is
    full = _render(_record(2, 1), str(tmp_path), top=3, detail=True)
    shown = [ln for ln in full if "aten::op_number_" in ln]
    assert len(shown) == 3 * 2  # three rows per variant


def test_summary_lines_fit_the_width_with_warnings_and_long_lists_are_counted():
    rec = _record(4, 2)
    for v in rec.variants[:4]:
        v.warnings = [f"{v.variant}: warning number {k}" for k in range(12)]
    rec.warnings = [w for v in rec.variants for w in v.warnings]
    for width in (80, 100, 120):
        buf = io.StringIO()
        render_record(rec, None, Console(file=buf, width=width, color_system=None), quiet=True)
        lines = buf.getvalue().splitlines()
        rows = [ln for ln in lines if ln.rstrip().endswith("ok ⚠12")]
        assert len(rows) == 4 and all(ln.startswith("t/") for ln in rows), rows  # one line each
        assert all(len(ln) <= width for ln in lines)
        shown = [ln for ln in lines if ln.startswith("warning: ")]
        assert len(shown) == 6
        assert f"… and {len(rec.warnings) - 6} more warnings: in report.html and run.json" in lines


@pytest.mark.slow
def test_report_detail_and_top_on_the_command_line(tmp_path, cli):
    from profiler.core.rundir import RunDir

    run = RunDir.create(tmp_path, "demo")
    run.write_record(_record(2, 1))
    env = {"COLUMNS": "100"}
    plain = cli("report", str(run.path), env=env)
    detail = cli("report", str(run.path), "--detail", env=env)
    top = cli("report", str(run.path), "--top", "2", env=env)
    assert plain.returncode == detail.returncode == top.returncode == 0, plain.stderr + detail.stderr
    ops = lambda r: sum("aten::op_number_" in ln for ln in r.stdout.splitlines())  # noqa: E731
    assert (ops(plain), ops(detail), ops(top)) == (0, 2 * 10, 2 * 2)  # --top implies --detail
    for r in (plain, detail):  # the verdict within the first 40 lines either way
        assert any("than t/unfused_variant_1;" in ln for ln in r.stdout.splitlines()[:40])
        assert "VERDICT1" in r.stdout
    assert "--detail" in cli("trace", "--help").stdout


def test_files_lines_lists_every_file(tmp_path):
    for f in ("run.json", "trace.json.gz", "workers/a/events.npz", "workers/b/events.npz"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    files = run_files(tmp_path)
    assert len(files) == 4
    text = "\n".join(files_lines(files))
    assert "run.json" in text and "trace.json.gz" in text and "events.npz ×2" in text
