"""``profiler compare``: one scenario in several frameworks, side by side, in the seed's layout.

Each framework runs in its own worker through :func:`profiler.orchestrate.plan` / ``execute`` (the
same harness, settings and probes as ``trace``), so a missing framework becomes an ``unavailable``
row and a failing worker a ``failed`` row while the others still run. This module owns:

* the pure part — :func:`select_frameworks` (``all`` / a comma list, validated), :func:`compare_rows`
  (one row per framework × variant from the run record: headline time in the scenario's unit, the
  breakdown as shares of the traced step, parameter count against the declaration),
  :func:`param_findings` (differences beyond :data:`PARAM_TOLERANCE_PCT`, reported, never hidden) and
  :func:`spread_sentence` (what explains the spread between the fastest and slowest framework);
* the outputs — ``compare.json``, ``compare.csv`` and ``compare.png`` (matplotlib, Agg backend) in the
  run directory, and :class:`CompareTable` for the terminal.

Nothing here imports a framework; matplotlib is imported only when the chart is written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.analysis.breakdown import CATEGORIES
from profiler.analysis.explain import LABELS, explain
from profiler.errors import InputError, unknown_choice
from profiler.frameworks import FRAMEWORKS
from profiler.scenario import Scenario

#: Parameter counts further than this from the declared count are reported as a finding.
PARAM_TOLERANCE_PCT = 2.0

COMPARE_JSON = "compare.json"
COMPARE_CSV = "compare.csv"
COMPARE_PNG = "compare.png"

CSV_COLUMNS = (
    "framework",
    "display",
    "variant",
    "status",
    "error",
    "step_ms",
    "step_spread_pct",
    "headline_s",
    "headline_unit",
    "items_per_s",
    "parameters",
    "expected_parameters",
    "param_delta_pct",
    *(f"{c}_pct" for c in CATEGORIES),
    *(f"{c}_ms" for c in CATEGORIES),
    "traced_step_ms",
)


@dataclass(frozen=True)
class Unavailable:
    """A framework asked for that cannot run this scenario here, with the reason."""

    framework: str
    reason: str


def default_threads() -> int:
    """The CPUs this process may run on: the thread count every framework gets unless told otherwise."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def select_frameworks(sc: Scenario, value: str | None) -> tuple[list[str], list[Unavailable]]:
    """The frameworks to run and those to show as unavailable without running.

    ``None`` or ``all``: every framework the scenario declares. A name the toolkit does not know is an
    :class:`InputError` listing the known ones; a known framework with no build for this Python (CNTK,
    Caffe) is an unavailable row; a known, installable framework the scenario has no implementation
    for is an input error naming the ones it has.
    """
    if value is None or value.strip() in ("", "all"):
        return list(sc.frameworks), []
    names = [n.strip() for n in value.split(",") if n.strip()]
    if "all" in names:
        raise InputError("--frameworks: 'all' cannot be combined with other names")
    run: list[str] = []
    skipped: list[Unavailable] = []
    for n in names:
        if n not in FRAMEWORKS:
            raise unknown_choice("framework", n, FRAMEWORKS)
        if n in run or any(u.framework == n for u in skipped):
            continue
        if sc.implementation(n) is None:
            fw = FRAMEWORKS[n]
            if fw.never_installable:
                skipped.append(Unavailable(n, fw.never_installable))
                continue
            raise InputError(
                f"scenario {sc.name} has no {n} implementation; it has: {', '.join(sc.frameworks)}"
            )
        run.append(n)
    if not run and not skipped:
        raise InputError("--frameworks: no framework given")
    return run, skipped


def _first_line(s: str | None) -> str | None:
    if not s:
        return s
    lines = [ln.strip() for ln in str(s).splitlines() if ln.strip()]
    return lines[0] if lines else None


def headline_unit(sc_dict: dict[str, Any]) -> str:
    """``"1000 images"`` for inference scenarios reported per items, else ``"step"``."""
    return str(sc_dict.get("unit") or "step")


def compare_rows(record: dict[str, Any], extra: list[Unavailable] = ()) -> list[dict[str, Any]]:
    """One row per framework × variant of a run record, in the scenario's framework order.

    ``headline_s`` is the clean-step median scaled to the scenario's unit (seconds per 1000 images for
    ``resnet50_infer``, seconds per step otherwise). Breakdown shares are percentages of the traced
    step (they sum to 100 up to the residual); ``*_ms`` are the traced milliseconds per step.
    """
    sc = record.get("scenario") or {}
    unit = headline_unit(sc)
    settings = record.get("settings") or {}
    expected = (settings.get("params") or {}).get("expected_params")
    order = [i["framework"] for i in sc.get("implementations", [])]
    rows: list[dict[str, Any]] = []
    for v in record.get("variants", []):
        fw = v.get("framework")
        row: dict[str, Any] = {
            "framework": fw,
            "display": FRAMEWORKS[fw].display if fw in FRAMEWORKS else fw,
            "variant": v.get("variant"),
            "status": v.get("status"),
            "error": _first_line(v.get("error")),
            "headline_unit": unit,
        }
        st = v.get("step_ms") or {}
        med = st.get("median")
        row["step_ms"] = med
        row["step_spread_pct"] = st.get("spread_pct")
        row["traced_step_ms"] = (v.get("traced_step_ms") or {}).get("median")
        items = v.get("items_per_step")
        if med and unit != "step" and v.get("per_unit_ms") is not None:
            row["headline_s"] = v["per_unit_ms"] / 1000.0
        elif med:
            row["headline_s"] = med / 1000.0
        else:
            row["headline_s"] = None
        row["items_per_s"] = (float(items) * 1000.0 / med) if (med and items) else None
        params = (v.get("info") or {}).get("parameters")
        row["parameters"] = params
        row["expected_parameters"] = expected
        row["param_delta_pct"] = (
            100.0 * (params - expected) / expected if (params is not None and expected) else None
        )
        bd = v.get("breakdown") or {}
        bms = bd.get("ms") or v.get("breakdown_ms") or {}
        total = (bd.get("step_ms") or sum(bms.values())) if bms else None
        for c in CATEGORIES:
            ms = bms.get(c) if bms else None
            row[f"{c}_ms"] = ms
            row[f"{c}_pct"] = (100.0 * ms / total) if (ms is not None and total) else None
        rows.append(row)
    for u in extra:
        rows.append(
            {
                "framework": u.framework,
                "display": FRAMEWORKS[u.framework].display,
                "variant": "–",
                "status": "unavailable",
                "error": f"unavailable: {u.reason}",
                "headline_unit": unit,
            }
        )
    rank = {fw: i for i, fw in enumerate(order)}
    rows.sort(key=lambda r: (rank.get(r["framework"], len(rank)), str(r.get("variant"))))
    return [{k: r.get(k) for k in CSV_COLUMNS} for r in rows]


def param_findings(rows: list[dict[str, Any]], tolerance_pct: float = PARAM_TOLERANCE_PCT) -> list[str]:
    """Sentences for every framework whose model differs from the declared size (or, with no
    declaration, from the first framework's) by more than ``tolerance_pct``."""
    have = [r for r in rows if r.get("parameters") is not None]
    if not have:
        return []
    out: list[str] = []
    for r in have:
        ref = r.get("expected_parameters") or have[0]["parameters"]
        ref_name = "the declared" if r.get("expected_parameters") else f"{have[0]['display']}'s"
        if not ref:
            continue
        d = 100.0 * (r["parameters"] - ref) / ref
        if abs(d) > tolerance_pct:
            out.append(
                f"{r['display']}/{r['variant']} has {r['parameters']:,} parameters, {d:+.1f}% from "
                f"{ref_name} {ref:,}: its model is not the same network, so its time is not comparable"
            )
    missing = [r for r in rows if r.get("status") == "ok" and r.get("parameters") is None]
    for r in missing:
        out.append(f"{r['display']}/{r['variant']} did not report its parameter count")
    return out


def _label(v: dict[str, Any]) -> str:
    fw = v.get("framework")
    disp = FRAMEWORKS[fw].display if fw in FRAMEWORKS else fw
    return f"{disp}/{v.get('variant')}"


def spread_sentence(record: dict[str, Any]) -> str:
    """One sentence on the spread: fastest vs slowest framework and which category explains the gap."""
    ok = [
        v
        for v in record.get("variants", [])
        if v.get("status") == "ok" and (v.get("step_ms") or {}).get("median")
    ]
    if not ok:
        return "No framework completed, so there is no spread to explain."
    if len(ok) == 1:
        return f"Only {_label(ok[0])} completed, so there is nothing to compare it with."
    fast = min(ok, key=lambda v: v["step_ms"]["median"])
    slow = max(ok, key=lambda v: v["step_ms"]["median"])
    ratio = slow["step_ms"]["median"] / fast["step_ms"]["median"]
    head = (
        f"{_label(fast)} is fastest and {_label(slow)} slowest ({ratio:.2f}× the time per step, "
        f"{fast['step_ms']['median']:.1f} vs {slow['step_ms']['median']:.1f} ms)"
    )
    e = explain(fast, slow)
    if e is None:
        return head + "; no traced breakdown for both, so the gap is not split by category."
    if e["traced_gap_ms"] <= 0:
        return head + "; their traced steps are not slower, so the clean-step gap is within tracing noise."
    main = e["main_category"]
    share = e["category_share_pct"][main]
    second = sorted(
        (c for c in CATEGORIES if c != main and e["category_delta_ms"][c] > 0),
        key=lambda c: -e["category_delta_ms"][c],
    )
    tail = f", then {LABELS[second[0]]} ({e['category_share_pct'][second[0]]:.0f}%)" if second else ""
    return f"{head}; {share:.0f}% of the traced gap is {LABELS[main]} ({e['category_delta_ms'][main]:+.1f} ms/step){tail}."


def compare_result(record: dict[str, Any], extra: list[Unavailable] = ()) -> dict[str, Any]:
    """The ``compare.json`` document for a run record."""
    rows = compare_rows(record, extra)
    sc = record.get("scenario") or {}
    settings = record.get("settings") or {}
    return {
        "scenario": sc.get("name"),
        "origin": sc.get("origin"),
        "unit": headline_unit(sc),
        "mode": settings.get("mode"),
        "settings": settings,
        "rows": rows,
        "param_findings": param_findings(rows),
        "spread": spread_sentence(record),
    }


# ----------------------------------------------------------------------------------------- outputs
def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in result["rows"]:
        w.writerow([_fmt(r.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Bar per framework × variant: the headline time, split by the traced breakdown's shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {
        "data_loading": "#b04fc4",
        "communication": "#3fb0c4",
        "memory_io": "#e0b92e",
        "compute": "#4caf50",
        "framework_overhead": "#e05a4f",
        "idle": "#9e9e9e",
    }
    rows = result["rows"]
    labels = [f"{r['display']}\n{r['variant']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(rows) + 2), 4.2), dpi=110)
    xs = list(range(len(rows)))
    for x, r in zip(xs, rows, strict=True):
        h = r.get("headline_s")
        if h is None:
            ax.text(x, 0, r.get("status") or "–", ha="center", va="bottom", rotation=90, fontsize=8)
            continue
        pcts = [r.get(f"{c}_pct") for c in CATEGORIES]
        if all(p is None for p in pcts):
            ax.bar(x, h, color="#607d8b")
            continue
        bottom = 0.0
        for c, p in zip(CATEGORIES, pcts, strict=True):
            seg = h * (p or 0.0) / 100.0
            if seg > 0:
                ax.bar(x, seg, bottom=bottom, color=colors[c])
                bottom += seg
    unit = result["unit"]
    ax.set_ylabel(f"seconds per {unit}")
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_title(f"{result['scenario']} · {result.get('mode')} · preset {result['settings'].get('preset')}")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=colors[c], label=LABELS[c]) for c in CATEGORIES],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(result: dict[str, Any], run_path: Path) -> dict[str, str]:
    """compare.json, compare.csv and compare.png in the run directory; returns their file names."""
    from profiler.rundir import atomic_write_json, atomic_write_text

    atomic_write_json(run_path / COMPARE_JSON, result)
    atomic_write_text(run_path / COMPARE_CSV, to_csv(result))
    files = {"json": COMPARE_JSON, "csv": COMPARE_CSV}
    try:
        write_chart(result, run_path / COMPARE_PNG)
        files["png"] = COMPARE_PNG
    except ImportError as e:  # the chart is optional; the table and files are not
        files["png_error"] = f"unavailable: matplotlib ({e})"
    return files


class CompareTable:
    """Rich renderable of a compare result: the seed-layout table, findings and the spread sentence."""

    def __init__(self, result: dict[str, Any], run_dir: str | None = None) -> None:
        self.result = result
        self.run_dir = run_dir

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.table import Table
        from rich.text import Text

        from profiler.report import breakdown_bar

        r = self.result
        s = r.get("settings") or {}
        p = s.get("params") or {}
        sizes = ", ".join(f"{k} {p[k]}" for k in ("batch", "image_size", "layers") if k in p)
        yield Text.from_markup(
            f"[bold]{r['scenario']}[/] · {r.get('mode')} · preset {s.get('preset')} · data {s.get('data')} "
            f"· device {s.get('device')} · threads {s.get('threads') or 'default'} · {sizes} · "
            f"{s.get('warmup')} warm-up, {s.get('steps')} measured, {s.get('trace_steps')} traced steps"
        )
        unit = r["unit"]
        short = {
            "data_loading": "data",
            "communication": "comm",
            "memory_io": "mem",
            "compute": "comp",
            "framework_overhead": "fw",
            "idle": "idle",
        }
        # Two tables rather than one wide one: the figures, then the breakdowns (and why a row has
        # none), so that both read at 80 columns.
        t = Table(title=None, show_lines=False)
        t.add_column("framework · variant", no_wrap=True)
        t.add_column(f"s / {unit}" if unit != "step" else "s / step", justify="right")
        t.add_column("ms / step", justify="right")
        t.add_column("items / s", justify="right")
        t.add_column("params", justify="right")
        bt = Table(title=None, show_lines=False)
        bt.add_column("framework · variant", no_wrap=True)
        bt.add_column("breakdown of the traced step")
        for row in r["rows"]:
            name = f"{row['display']} · {row['variant']}"
            if row["status"] != "ok":
                err = row.get("error") or ""
                msg = err if err.startswith(str(row["status"])) else f"{row['status']}: {err}"
                t.add_row(name, Text(str(row["status"]), style="red"), "–", "–", "–")
                bt.add_row(name, Text(msg, style="red"))
                continue
            d = row.get("param_delta_pct")
            params = Text(f"{row['parameters'] / 1e6:.2f} M" if row.get("parameters") else "–")
            if d is not None and abs(d) > PARAM_TOLERANCE_PCT:
                params = Text(f"{row['parameters'] / 1e6:.2f} M ({d:+.1f}%)", style="red")
            t.add_row(
                name,
                f"{row['headline_s']:.3f}" if row.get("headline_s") is not None else "–",
                f"{row['step_ms']:.1f}" if row.get("step_ms") is not None else "–",
                f"{row['items_per_s']:.1f}" if row.get("items_per_s") is not None else "–",
                params,
            )
            if all(row.get(f"{c}_pct") is None for c in CATEGORIES):
                bt.add_row(name, Text("no breakdown (no tracer ran)", style="bright_black"))
                continue
            pcts = {c: row.get(f"{c}_pct") or 0.0 for c in CATEGORIES}
            bar = breakdown_bar(pcts, width=20)
            top = sorted((c for c in CATEGORIES if pcts[c] >= 1.0), key=lambda c: -pcts[c])[:3]
            bar.append(" " + " ".join(f"{short[c]} {pcts[c]:.0f}%" for c in top))
            bt.add_row(name, bar)
        yield t
        yield bt
        yield Text(
            "breakdown: " + ", ".join(f"{short[c]} = {LABELS[c]}" for c in CATEGORIES),
            style="bright_black",
        )
        for f in r.get("param_findings", []):
            yield Text(f"parameters: {f}", style="yellow")
        yield Text(r["spread"])
        if self.run_dir:
            yield Text(f"run directory: {self.run_dir} ({COMPARE_CSV}, {COMPARE_JSON}, {COMPARE_PNG})")


def run_compare(
    p: Any, skipped: list[Unavailable] = (), progress: Any = None, on_job_done: Any = None
) -> tuple[dict[str, Any], Any, dict[str, Any], dict[str, str]]:
    """Execute a :class:`profiler.orchestrate.Plan`, then write the comparison into its run directory.

    Returns (run record, RunDir, compare result, output file names).
    """
    from profiler.orchestrate import execute

    record, run = execute(p, progress=progress, on_job_done=on_job_done)
    result = compare_result(record, list(skipped))
    files = write_outputs(result, run.path)
    record["kind"] = "compare"
    record["compare"] = {
        "files": files,
        "spread": result["spread"],
        "param_findings": result["param_findings"],
        "unavailable": [{"framework": u.framework, "reason": u.reason} for u in skipped],
    }
    run.write_record(record)
    return record, run, result, files


def saved_result(record: dict[str, Any]) -> dict[str, Any]:
    """The compare result of a saved ``compare`` run record (what ``profiler report`` re-renders)."""
    extra = [
        Unavailable(u["framework"], u["reason"])
        for u in (record.get("compare") or {}).get("unavailable", [])
        if isinstance(u, dict) and u.get("framework") in FRAMEWORKS
    ]
    return compare_result(record, extra)


def json_document(result: dict[str, Any], run_path: Path, files: dict[str, str]) -> str:
    """The ``--json`` document: the compare result plus where its files are."""
    doc = {
        "run_dir": str(run_path),
        "files": {k: str(run_path / v) if not k.endswith("error") else v for k, v in files.items()},
        **result,
    }
    return json.dumps(doc, indent=2, default=str)
