"""Several worker processes of one variant → one variant entry.

:func:`profiler.run.plan.repeat_jobs` lays out ``--repeat N`` processes per variant, interleaved;
:class:`Group` collects their outcomes as they finish and :meth:`Group.entry` merges them: the
breakdown, top ops and probe figures come from the traced process (the first; or the first that
succeeded when it failed), the headline step statistics from the clean steps of every process that
succeeded (:func:`profiler.analysis.stats.step_stats`), and the noise warnings from each process's
machine window and the step times (:mod:`profiler.analysis.noise`). A variant whose processes all
failed keeps the failure of its first; one failed process among several is reported and the others
are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.analysis.compensation import rescale_to_median
from profiler.analysis.noise import (
    overhead_warning,
    sample_warnings,
    traced_window_warnings,
    windows_warnings,
)
from profiler.analysis.stats import headline_ms, step_stats
from profiler.analysis.variant import breakdown_reliability
from profiler.core.hardware import usable_cores
from profiler.core.record import StepStats, VariantEntry
from profiler.core.rundir import RunDir
from profiler.core.scenario import Scenario
from profiler.run.process import JobOutcome


def clean_ms(outcome: JobOutcome) -> list[float]:
    """The clean step times (ms) a worker reported in its result."""
    return [v / 1e6 for v in outcome.result.get("step_ns") or [] if isinstance(v, (int, float))]


def process_entry(outcome: JobOutcome) -> VariantEntry:
    """A small entry for one process (progress display): its status and its own step statistics."""
    e = VariantEntry.from_job(outcome.job.key, outcome.job.workload, status=outcome.status, error=outcome.error)
    e.step_ms = StepStats(**step_stats([clean_ms(outcome)]))
    return e


@dataclass
class Group:
    """The processes of one variant, in the order they ran."""

    key: str
    outcomes: list[JobOutcome] = field(default_factory=list)
    _primary: tuple[int, VariantEntry] | None = None

    def primary_index(self) -> int:
        for i, o in enumerate(self.outcomes):
            if o.status == "ok":
                return i
        return 0

    def entry(self, run: RunDir, sc: Scenario, analyse: Any) -> VariantEntry:
        """The merged entry; ``analyse(outcome, run, sc)`` is the single-process analysis."""
        i = self.primary_index()
        if self._primary is None or self._primary[0] != i:
            self._primary = (i, analyse(self.outcomes[i], run, sc))
        base = self._primary[1]
        e = VariantEntry.from_dict(base.to_dict())  # a copy: the cached analysis stays as it was
        e.key = self.key
        ok = [o for o in self.outcomes if o.status == "ok"]
        cores = usable_cores()
        threads = e.threads  # None: the framework's default (compared with the cores)
        procs: list[dict[str, Any]] = []
        warnings: list[str] = []
        label = e.label
        for n, o in enumerate(self.outcomes, 1):
            ms = clean_ms(o)
            window = o.window
            procs.append({
                "key": o.job.key, "pid": o.result.get("pid"), "status": o.status, "error": o.error,
                "traced": bool(o.job.trace_steps), "wall_s": round(o.wall_s, 3),
                "measured_s": o.result.get("measured_s"), "n_steps": len(ms),
                "median_ms": step_stats([ms])["median"], "step_ms": [round(x, 4) for x in ms],
                "window": window, "trace_window": o.trace_window,
            })
            if o.status != "ok" and ok:
                warnings.append(f"{label}: process {n} of {len(self.outcomes)} {o.status}: {o.error}; "
                                f"the other {len(ok)} are used")
        warnings += windows_warnings(label, [o.window for o in ok], cores, threads)
        warnings += traced_window_warnings(label, self.outcomes[i].trace_window, cores)  # the breakdown's steps
        per = [clean_ms(o) for o in ok]
        if ok and not any(per):  # the steps are only in the events (a command, ranks): as analysed
            e.status = "ok"
        elif ok:
            st = step_stats(per)
            e.status = "ok"
            e.step_ms = StepStats(**st)
            own, pooled = headline_ms(base.step_ms), headline_ms(st)
            if e.per_unit_ms is not None and own and pooled:
                # the per-unit headline (s / 1000 images) is the pooled statistic's, as the ms/step beside it
                e.per_unit_ms = e.per_unit_ms * pooled / own
            # the breakdown was fitted to the traced process's own clean steps: now the pooled headline
            e.breakdown, e.breakdown_ms = rescale_to_median(e.breakdown, e.breakdown_ms, st)
            if i != 0 and self.outcomes[0].status != "ok":
                e.error = None
                warnings.append(f"{label}: the traced process failed; the breakdown is from process {i + 1}'s "
                                "clean steps")
            # traced against clean in the headline's statistic (means, where the steps follow a pattern)
            tr = getattr(e.traced_step_ms, st["statistic"]) if e.traced_step_ms else None
            if tr and pooled:
                e.tracing_overhead_pct = 100.0 * (tr / pooled - 1)
            warnings += sample_warnings(label, per, st)
            warnings += overhead_warning(label, e.tracing_overhead_pct)
            if e.probe_summary and isinstance(e.probe_summary.get("process"), dict):
                busy = [p["window"]["busy_threads"] for p in procs
                        if p["window"] and p["window"].get("busy_threads") is not None]
                if busy:  # the busy-thread count of `scale`'s rule, over the clean steps
                    e.probe_summary["process"]["busy_threads"] = max(busy)
        stopped = [n for n, o in enumerate(self.outcomes, 1) if o.status == "interrupted"]
        if stopped and ok:  # Ctrl-C: the run is interrupted, what finished is kept
            e.status = "interrupted"
            e.error = (f"interrupted in process {stopped[0]} of {len(self.outcomes)}; figures from the "
                       f"{len(ok)} that finished")
        e.warnings = list(dict.fromkeys([*e.warnings, *warnings]))
        if e.breakdown:  # the machine's disturbances, now that every process's warnings are known
            e.breakdown["reliability"] = breakdown_reliability(
                e.warnings, e.step_ms, e.info, e.sections.get("disturbed_traced_steps"),
                e.traced_step_ms.n_steps if e.traced_step_ms else 0)
        e.sections["repeats"] = {"processes": procs, "n_processes": len(self.outcomes), "n_ok": len(ok)}
        return e
