"""Per-unit headlines (s / 1000 images, items / s) and the compare charts derive from the pooled
median shown beside them, not from the first process's own figure.

The record here is what ``compare --repeat 3`` stores: three processes' clean steps pooled into
``step_ms`` (by :func:`profiler.analysis.stats.step_stats`, as the repeat harness does) while
``per_unit_ms`` still holds the first process's median scaled to the unit. The expected figures are
computed in the test from the raw steps with :mod:`statistics`.
"""

from __future__ import annotations

import io
import re
import statistics
from typing import Any

import pytest
from rich.console import Console

from profiler.analysis.compare import compare_result, headline_seconds, unit_items
from profiler.analysis.stats import step_stats
from profiler.core.registry import builtin_scenarios
from profiler.export.compare import chart_bars, headline_interval, to_csv
from profiler.report.compare import CompareTable

BATCH = 250
# three processes of one variant: the first one fast (a quiet moment), the other two slower, so the
# first process's median and the pooled median differ by far more than rounding
PROCS = [
    [42.1, 41.8, 43.0, 42.5, 42.2],
    [60.3, 59.9, 61.2, 60.8, 59.5],
    [58.7, 62.0, 59.9, 60.1, 61.4],
]


def _record() -> dict[str, Any]:
    sc = builtin_scenarios()["resnet50_infer"].to_dict()
    sc["unit"] = "1000 images"
    st = step_stats(PROCS)
    first = statistics.median(PROCS[0])
    ms = {"data_loading": 0.0, "communication": 0.0, "memory_io": 10.0, "compute": 40.0,
          "framework_overhead": 10.0, "idle": 0.0}  # fmt: skip
    v = {
        "framework": "keras", "variant": "default", "status": "ok", "error": None,
        "step_ms": st,
        "items_per_step": BATCH,
        "per_unit_ms": first * 1000 / BATCH,  # the first process's figure, as the variant analysis leaves it
        "info": {"parameters": 25_636_712},
        "breakdown": {"ms": ms, "step_ms": sum(ms.values())},
        "traced_step_ms": {"median": 61.0},
    }  # fmt: skip
    return {
        "scenario": sc,
        "settings": {"mode": "infer", "preset": "cpu", "data": "ram", "device": "cpu", "repeat": 3,
                     "params": {"batch": BATCH, "image_size": 64}, "steps": 5, "warmup": 1, "trace_steps": 1},
        "variants": [v],
    }  # fmt: skip


def _pooled_median() -> float:
    return statistics.median([x for p in PROCS for x in p])


def test_headline_is_the_pooled_median_in_the_unit() -> None:
    rec = _record()
    row = compare_result(rec)["rows"][0]
    pooled = _pooled_median()
    assert row["step_ms"] == pytest.approx(pooled)
    assert row["n_processes"] == 3
    # s / 1000 images = pooled ms/step × 1000 / batch / 1000
    assert row["headline_s"] == pytest.approx(pooled * 1000 / BATCH / 1000)
    # ... and not the first process's figure that the record also carries
    first = rec["variants"][0]["per_unit_ms"] / 1000
    assert abs(row["headline_s"] - first) > 0.2 * first
    assert row["items_per_s"] == pytest.approx(BATCH * 1000 / pooled)
    # the headline and items/s are the same statistic: their product is the unit's item count
    assert row["headline_s"] * row["items_per_s"] == pytest.approx(1000.0)


def test_headline_interval_scales_the_pooled_ci() -> None:
    row = compare_result(_record())["rows"][0]
    lo, hi = headline_interval(row)
    st = step_stats(PROCS)
    assert lo == pytest.approx(st["ci95"][0] * 1000 / BATCH / 1000)
    assert hi == pytest.approx(st["ci95"][1] * 1000 / BATCH / 1000)
    assert lo <= row["headline_s"] <= hi


def test_chart_bars_are_the_pooled_headline() -> None:
    res = compare_result(_record())
    (bar,) = chart_bars(res)
    expect = _pooled_median() * 1000 / BATCH / 1000
    assert bar["headline_s"] == pytest.approx(expect)
    # the stacked segments add up to the bar (the breakdown's shares sum to 100 here)
    assert sum(bar["segments"].values()) == pytest.approx(expect)
    assert bar["segments"]["compute"] == pytest.approx(expect * 40 / 60)
    assert bar["ci"] == headline_interval(res["rows"][0])


def test_html_chart_and_table_show_the_pooled_headline() -> None:
    from profiler.export.html import compare_svg

    res = compare_result(_record())
    expect = _pooled_median() * 1000 / BATCH / 1000
    svg = compare_svg(res)
    labels = [float(x) for x in re.findall(r'text-anchor="middle">([0-9.]+)</text>', svg)]
    assert any(x == pytest.approx(expect, rel=0.01) for x in labels), labels
    buf = io.StringIO()
    Console(file=buf, width=160, color_system=None).print(CompareTable(res))
    assert f"{expect:.3f}" in buf.getvalue()
    csv_text = to_csv(res)
    assert f"{expect:.6g}" in csv_text


def test_per_step_unit_and_missing_items() -> None:
    assert headline_seconds(59.9, "step", None) == pytest.approx(0.0599)
    assert headline_seconds(59.9, "1000 images", 250) == pytest.approx(59.9 * 4 / 1000)
    # a per-image headline with no item count is unknown, not a per-step time under a per-image label
    assert headline_seconds(59.9, "1000 images", None) is None
    assert headline_seconds(None, "step", None) is None
    assert unit_items("1000 images") == 1000.0 and unit_items("step") is None
    assert unit_items("images") is None


def test_repeat_harness_pools_the_per_unit_headline() -> None:
    """``trace --repeat 3``: the merged entry's ``per_unit_ms`` (the trace report's "1000 images: s")
    is the pooled median's, not the analysed process's own."""
    from types import SimpleNamespace

    from profiler.core.record import StepStats, VariantEntry
    from profiler.run.repeats import Group

    def outcome(n: int, steps: list[float]) -> SimpleNamespace:
        return SimpleNamespace(
            job=SimpleNamespace(key=f"keras-default-p{n}", trace_steps=1 if n == 0 else 0),
            result={"pid": 100 + n, "step_ns": [x * 1e6 for x in steps], "measured_s": 1.0},
            status="ok", error=None, wall_s=1.0, window=None, trace_window=None,
        )  # fmt: skip

    def analyse(o: Any, run: Any, sc: Any) -> VariantEntry:
        own = statistics.median(PROCS[0])
        return VariantEntry(key="keras-default", scenario="resnet50_infer", framework="keras", variant="default", status="ok",
                            step_ms=StepStats(**step_stats([PROCS[0]])), items_per_step=BATCH,
                            per_unit_ms=own * 1000 / BATCH)  # fmt: skip

    g = Group("keras-default", [outcome(i, p) for i, p in enumerate(PROCS)])
    e = g.entry(None, None, analyse)
    pooled = _pooled_median()
    assert e.step_ms.median == pytest.approx(pooled) and e.step_ms.n_processes == 3
    assert e.per_unit_ms == pytest.approx(pooled * 1000 / BATCH)


def test_headline_follows_the_statistic_the_record_quotes() -> None:
    # a multi-modal record whose headline is the pooled mean (throughput): s / 1000 images, items / s
    # and the ms / step column all quote the mean
    rec = _record()
    rec["variants"][0]["step_ms"]["statistic"] = "mean"
    row = compare_result(rec)["rows"][0]
    mean = statistics.fmean([x for p in PROCS for x in p])
    assert row["step_ms"] == pytest.approx(mean)
    assert row["headline_s"] == pytest.approx(mean * 1000 / BATCH / 1000)
    assert row["items_per_s"] == pytest.approx(BATCH * 1000 / mean)


def test_a_handful_of_processes_gets_an_interval_that_covers_between_process_spread() -> None:
    # three processes a run, each with its own speed (sd 0.5 ms) and steady steps around it (sd
    # 0.2): the headline's CI95 must cover the true 10 ms in about 95% of runs; a bootstrap over
    # three processes alone (10 distinct draws) covers far less — why the t-interval over the
    # processes' own medians bounds it
    import numpy as np

    from profiler.analysis.stats import bootstrap_medians, process_interval, step_stats

    rng = np.random.default_rng(7)
    runs = [[list(10 + rng.normal(0, 0.5) + rng.normal(0, 0.2, 30)) for _ in range(3)] for _ in range(60)]
    covered = sum(lo <= 10 <= hi for lo, hi in (step_stats(pp)["ci95"] for pp in runs))
    boot = [np.percentile(bootstrap_medians(pp, n_boot=400), [2.5, 97.5]) for pp in runs]
    covered_boot = sum(lo <= 10 <= hi for lo, hi in boot)
    assert covered >= 0.9 * len(runs) and covered_boot < covered, (covered, covered_boot)
    # the interval is never narrower than either part, and one process has no between-process part
    for pp in runs[:5]:
        lo, hi = step_stats(pp)["ci95"]
        t = process_interval(pp)
        assert lo <= t[0] and hi >= t[1]
    assert process_interval(runs[0][:1]) is None


def test_the_ratio_interval_is_at_least_welchs_over_the_processes() -> None:
    import math

    import numpy as np

    from profiler.analysis.stats import ratio_verdict, t975

    rng = np.random.default_rng(3)
    a = [list(m + rng.normal(0, 0.05, 20)) for m in (10.0, 10.8, 9.4)]
    b = [list(m + rng.normal(0, 0.05, 20)) for m in (11.0, 12.1, 10.2)]
    _ratio, ci, verdict = ratio_verdict(a, b)
    la, lb = np.log([np.median(g) for g in a]), np.log([np.median(g) for g in b])
    va, vb = la.var(ddof=1) / 3, lb.var(ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    d, half = lb.mean() - la.mean(), t975(df) * math.sqrt(va + vb)
    assert ci[0] <= math.exp(d - half) + 1e-12 and ci[1] >= math.exp(d + half) - 1e-12
    # 10% apart, with processes 15% apart from each other: not significant with three a side
    assert verdict == "no significant difference" and ci[0] < 1.0 < ci[1]
