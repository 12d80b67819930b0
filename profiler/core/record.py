"""The one typed run record behind every output: ``run.json``, every ``--json`` document, every renderer.

:class:`RunRecord` holds the header, one :class:`VariantEntry` per worker (or per variant that could
not run), the comparisons and the command's own section; it owns its dictionary form
(:meth:`RunRecord.to_dict`, :meth:`RunRecord.from_dict`) and :data:`SCHEMA`, checked on load. Entries
are built only by :meth:`VariantEntry.from_job`, :meth:`VariantEntry.skipped` and
:meth:`VariantEntry.not_started`; the analysis adds figures with :meth:`VariantEntry.update`.
Not measured is ``None``, never 0. :func:`json_document` is every command's ``--json`` document
(``schema.json`` beside this module). See ``docs/architecture.md`` ("The run record").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError

#: The version of run.json and of every --json document. Bumped when a field changes meaning.
SCHEMA = "profiler/2"
#: Older run.json versions this code still reads (their fields are a subset of today's).
READABLE_SCHEMAS = ("profiler-run/1", SCHEMA)
SCHEMA_FILE = Path(__file__).with_name("schema.json")

#: Kinds of run record (``kind``): what produced it.
KINDS = ("trace", "compare", "scale", "import", "command")


def _typed(annotation: Any, value: Any) -> Any:
    """``value`` if it has the field's type (from its annotation), else ``None``: a damaged record
    loads with the damaged fields unknown instead of breaking every renderer that reads it."""
    t = str(annotation)
    if t.startswith("str"):
        return value if isinstance(value, str) else None
    if t.startswith(("int", "float")):
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if t.startswith("dict"):
        return value if isinstance(value, dict) else None
    if t.startswith("list"):
        return value if isinstance(value, list) else None
    return value


@dataclass
class StepStats:
    """Step times of one variant in ms: where they came from and how sure we are."""

    median: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    spread_pct: float | None = None  # (max - min) / median
    n_steps: int = 0
    n_processes: int = 0
    ci95: list[float] | None = None  # 95% confidence interval of the median
    mad: float | None = None  # median absolute deviation
    iqr: float | None = None
    per_process: list[float] | None = None  # each process's median
    #: which statistic the headline (``median`` field's reader) should quote: ``median`` of clean
    #: steps (our runs), ``mean`` (a trace's steps, or a multi-modal distribution: throughput)
    statistic: str | None = None
    #: a multi-modal distribution's modes (``statistic`` is then ``mean``): ``[{"center_ms", "share", "n"}]``
    modes: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> StepStats | None:
        if not isinstance(d, dict):
            return None
        kw = {f.name: _typed(f.type, d[f.name]) for f in dataclasses.fields(cls) if f.name in d}
        kw = {k: v for k, v in kw.items() if v is not None}
        if "n" in d and "n_steps" not in d:  # version 1
            kw["n_steps"] = d["n"]
            kw.setdefault("n_processes", 1 if d["n"] else 0)
        return cls(**kw)


#: Fields of an entry that hold step statistics.
_STATS_FIELDS = ("step_ms", "traced_step_ms")


@dataclass
class VariantEntry:
    """One measured worker (or a variant that could not run here, with the reason)."""

    scenario: str
    framework: str
    variant: str
    mode: str | None = None
    preset: str | None = None
    key: str | None = None
    device: str | None = None
    threads: int | None = None
    status: str = "ok"  # ok | failed | timeout | interrupted | unavailable | exited N | killed
    error: str | None = None
    exit_code: int | None = None
    pid: int | None = None
    wall_s: float | None = None
    phases_ms: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)
    events: str | None = None  # events.npz, relative to the run directory
    worker_dir: str | None = None
    n_events: int = 0
    items_per_step: float | None = None
    # figures (the analysis fills these)
    step_ms: StepStats | None = None  # clean steps: the headline
    traced_step_ms: StepStats | None = None
    tracing_overhead_pct: float | None = None
    per_unit_ms: float | None = None
    breakdown: dict[str, Any] | None = None
    breakdown_ms: dict[str, float | None] | None = None
    top_ops: list[dict[str, Any]] | None = None
    dispatch: dict[str, Any] | None = None
    probe_summary: dict[str, Any] | None = None
    cost_model: dict[str, Any] | None = None
    roofline: dict[str, Any] | None = None
    gpu: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    #: command-specific facts: ``sweep`` (scale's point), ``distributed`` (ranks), ``imported`` (a
    #: foreign trace), ``repeats`` (the worker processes behind the figures) …
    sections: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def skipped(cls, scenario: str, framework: str, variant: str, mode: str | None, preset: str | None,
                reason: str, status: str = "unavailable") -> VariantEntry:
        """A variant that cannot run here (``reason`` starts with ``unavailable:``) or was not started."""
        return cls(scenario, framework, variant, mode, preset, status=status, error=reason)

    @classmethod
    def not_started(cls, key: str, workload: Any, why: str = "interrupted") -> VariantEntry:
        e = cls.skipped(workload.scenario, workload.framework, workload.variant, workload.mode,
                        workload.preset, f"not started: {why}", status="interrupted")
        e.key = key
        return e

    @classmethod
    def from_job(cls, key: str, workload: Any, **kw: Any) -> VariantEntry:
        return cls(
            scenario=workload.scenario,
            framework=workload.framework,
            variant=workload.variant,
            mode=workload.mode,
            preset=workload.preset,
            key=key,
            device=workload.device,
            threads=workload.threads,
            **kw,
        )

    def update(self, figures: dict[str, Any]) -> None:
        """Take the analysis' figures (keys named as the fields; anything else into ``sections``)."""
        names = {f.name for f in dataclasses.fields(self)}
        for k, v in figures.items():
            if k in _STATS_FIELDS:
                v = v if isinstance(v, StepStats) or v is None else StepStats.from_dict(v)
            if k in names:
                setattr(self, k, v)
            else:
                self.sections[k] = v

    # ------------------------------------------------------------------ reading
    @property
    def label(self) -> str:
        return f"{self.framework}/{self.variant}"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def median_ms(self) -> float | None:
        return self.step_ms.median if self.step_ms else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "sections":
                continue
            v = getattr(self, f.name)
            d[f.name] = v.to_dict() if isinstance(v, StepStats) else v
        d.update(self.sections)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VariantEntry:
        if not isinstance(d, dict):
            raise TypeError(f"variant entry is a {type(d).__name__}, not an object")
        names = {f.name for f in dataclasses.fields(cls)} - {"sections"}
        kw = {k: d[k] for k in names if (k in d and d[k] is not None) or (k in ("error",) and k in d)}
        for k in ("phases_ms", "info", "probes"):
            if not isinstance(kw.get(k), dict):
                kw.pop(k, None)
        if not isinstance(kw.get("warnings"), list):
            kw.pop("warnings", None)
        for k in _STATS_FIELDS:
            if k in kw:
                kw[k] = StepStats.from_dict(kw[k])
        for k in ("scenario", "framework", "variant"):
            kw[k] = str(d.get(k) if d.get(k) is not None else "?")
        e = cls(**kw)
        e.sections = {k: v for k, v in d.items() if k not in names}
        return e


@dataclass
class RunRecord:
    """Everything one invocation measured (``run.json``)."""

    id: str
    kind: str
    created: str
    command: list[str]
    scenario: dict[str, Any]
    settings: dict[str, Any]
    host: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    variants: list[VariantEntry] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trace: str | None = None  # the Chrome trace's file name in the run directory
    probes: dict[str, Any] = field(default_factory=dict)
    probe_selection: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    plots: dict[str, Any] = field(default_factory=dict)
    #: command-specific sections: ``compare``, ``scaling`` (scale's series and fits),
    #: ``world_sizes`` (1 vs N ranks), ``trace_budget``, ``files`` …
    sections: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    @property
    def scenario_name(self) -> str:
        return str(self.scenario.get("name", "?"))

    @property
    def unit(self) -> str:
        return str(self.scenario.get("unit") or "step")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": self.schema}
        for f in dataclasses.fields(self):
            if f.name in ("sections", "schema"):
                continue
            v = getattr(self, f.name)
            d[f.name] = [e.to_dict() for e in v] if f.name == "variants" else v
        d.update(self.sections)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "run record") -> RunRecord:
        if not isinstance(d, dict):
            raise InputError(f"{where}: not a run record (a JSON {type(d).__name__})")
        schema = d.get("schema")
        if schema not in READABLE_SCHEMAS:
            _, _, n = str(schema).rpartition("/")
            newer = n.isdigit() and int(n) > int(SCHEMA.rpartition("/")[2])
            raise InputError(
                f"{where}: run record schema {schema!r} is "
                + ("newer than this profiler reads" if newer else "not one this profiler reads")
                + f" ({', '.join(READABLE_SCHEMAS)})"
                + ("; upgrade profiler to read it" if newer else "; re-run to refresh it")
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"sections", "schema"}
        try:
            kw = {f.name: _typed(f.type, d[f.name]) for f in dataclasses.fields(cls) if f.name in names and f.name in d}
            kw = {k: v for k, v in kw.items() if v is not None}
            kw["variants"] = [VariantEntry.from_dict(v) for v in d.get("variants") or []]
            for k in ("id", "kind", "created"):
                kw[k] = str(d.get(k, "?"))
            kw.setdefault("command", [])
            kw.setdefault("scenario", {"name": "?"})
            kw.setdefault("settings", {})
            rec = cls(**kw)
        except (TypeError, ValueError) as e:
            raise InputError(f"{where}: malformed run record ({e})") from None
        rec.sections = {k: v for k, v in d.items() if k not in names and k not in ("schema", "schema_version")}
        if "scaling" in rec.sections and rec.kind != "scale":  # version 1 named the ranks' table so
            rec.sections["world_sizes"] = rec.sections.pop("scaling")
        return rec

    def variant(self, label: str) -> VariantEntry | None:
        return next((v for v in self.variants if v.label == label), None)


# ------------------------------------------------------------------------------ --json documents
def json_document(record: RunRecord, run_dir: Path | str | None, **extra: Any) -> dict[str, Any]:
    """The ``--json`` document of any command (``schema.json``): the same keys everywhere.

    ``variants`` holds one entry per measured worker with the same keys for every command;
    command-specific tables (compare's ``rows``, scale's ``series``, the ranks' ``world_sizes``) go
    under their own key beside it (``extra`` and the record's sections).
    """
    run_path = Path(run_dir) if run_dir is not None else None
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": record.kind,
        "run_dir": str(run_path) if run_path is not None else None,
        "status": record.status,
        "warnings": list(record.warnings),
        "trace": str(run_path / record.trace) if record.trace and run_path is not None else record.trace,
        "scenario": record.scenario_name,
        "unit": record.unit,
        "settings": record.settings,
        "variants": [variant_document(v) for v in record.variants],
        "comparisons": [comparison_document(c) for c in record.comparisons],
    }
    for k, val in record.sections.items():  # world_sizes, trace_budget, and every other run section
        doc.setdefault(k, val)
    doc.update(extra)
    return doc


def _stats_doc(s: StepStats | None) -> dict[str, Any] | None:
    return s.to_dict() if s is not None else None


def variant_document(v: VariantEntry) -> dict[str, Any]:
    bd = v.breakdown or {}
    doc = {
        "scenario": v.scenario,
        "framework": v.framework,
        "variant": v.variant,
        "mode": v.mode,
        "preset": v.preset,
        "device": v.device,
        "threads": v.threads,
        "status": v.status,
        "error": v.error,
        "step_ms": _stats_doc(v.step_ms),
        "traced_step_ms": _stats_doc(v.traced_step_ms),
        "tracing_overhead_pct": v.tracing_overhead_pct,
        "per_unit_ms": v.per_unit_ms,
        "breakdown_ms": v.breakdown_ms,
        "breakdown_of": bd.get("describes"),
        "traced_breakdown_ms": bd.get("traced_ms"),
        "residual_pct": bd.get("residual_pct"),
        "not_measured": bd.get("not_measured"),
        "input_bound": (bd.get("input_bound") or {}).get("verdict"),
        "warnings": list(v.warnings),
    }
    doc["compensation_residual_pct"] = ((bd.get("compensation") or {}).get("residual_pct")
                                        if isinstance(bd.get("compensation"), dict) else None)
    # everything else run.json holds (every registered section: breakdown, gpu, roofline, top_ops …)
    for k, val in v.to_dict().items():
        doc.setdefault(k, val)
    return doc


COMPARISON_KEYS = ("fast", "slow", "speedup", "ratio_ci95", "verdict", "gap_ms", "main_category", "sentence")


def comparison_document(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c.get(k) for k in COMPARISON_KEYS}


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())
