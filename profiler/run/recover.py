"""Runs whose ``profiler`` process died without finishing (SIGKILL, an out-of-memory kill).

Such a run's ``run.json`` still says ``running``. Every record names the process that writes it
(``owner``: pid, host, start time, from :func:`profiler.run.owner.owner_process`), so the next ``profiler report`` can
tell a run still in progress from one whose writer is gone: :func:`recover_stale` then builds the
entries of its workers from what they saved (their checkpoints or final ``result.json`` and
``events.npz``), marks the run ``killed`` and saves the record, so nothing collected is lost. A run
killed while saving (after its workers) also gets its trace rebuilt from what they saved, and the
temporary files of the writes it never finished are removed.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from profiler.core.errors import InputError
from profiler.core.events import EventTable
from profiler.core.files import read_json
from profiler.core.protocol import EVENTS_FILE, RESULT_FILE, SPEC_FILE, WorkerSpec
from profiler.core.record import RunRecord, VariantEntry
from profiler.core.rundir import WORKERS_DIR, RunDir
from profiler.core.scenario import Scenario
from profiler.run.owner import owner_alive
from profiler.run.process import JobOutcome, WorkerJob

KILLED = "killed"


def recover_stale(record: RunRecord, run: RunDir) -> bool:
    """A ``running`` record whose writer is gone: report it ``killed`` with what its workers saved.
    A ``failed`` record without its ``failure`` section (marked in place when the disk had no room
    for a new ``run.json``: profiler.run.execute.fail_run) gets the workers it missed the same way,
    and stays ``failed``.

    Returns True when the record was recovered (and rewritten)."""
    owner = record.sections.get("owner")
    if not isinstance(owner, dict) or owner_alive(owner) is not False:
        return False
    if record.status == "failed" and "failure" not in record.sections:
        return _recover(record, run, "failed",
                        "the run could not be saved (the disk was full); reported: what its workers saved")
    if record.status != "running":
        return False
    return _recover(record, run, KILLED, f"profiler (pid {owner.get('pid')}) was killed before the run "
                                         "finished; reported: what was saved by then")


def _recover(record: RunRecord, run: RunDir, final: str, why: str) -> bool:
    """Entries for the workers the record misses, from what they saved; then finish and save it."""
    from profiler.run.command import settle_counts
    from profiler.run.execute import finish_record, variant_entry
    from profiler.run.repeats import Group

    sc_dict = record.scenario if isinstance(record.scenario, dict) else {}
    try:
        sc = Scenario.from_dict(sc_dict)
    except Exception:  # a damaged declaration: the analysis needs only the unit
        unit = sc_dict.get("unit")
        sc = Scenario(name=str(sc_dict.get("name", "?")), summary="", implementations=(), presets={},
                      unit=unit if isinstance(unit, str) else "step")
    at = {v.key: i for i, v in enumerate(record.variants) if v.key}
    _remove_partial_files(run)
    # killed while saving (after its workers ended): the trace is rebuilt from what they saved too
    kept = [] if record.trace else _saved_events(record, run)
    tables: list[EventTable] = []
    for key, dirs in _worker_groups(run.path / WORKERS_DIR).items():
        if key in at and _recorded(record.variants[at[key]], dirs):
            continue
        outcomes = [o for d in dirs if (o := _saved_outcome(d, why)) is not None]
        if not outcomes:
            continue  # nothing readable was left there
        if len(dirs) == 1:
            entry = variant_entry(outcomes[0], run, sc)
        else:  # a --repeat variant: its processes merged as the run merges them
            g = Group(key, outcomes)
            entry = g.entry(run, sc, variant_entry)
            outcomes = [outcomes[g.primary_index()]]
        if key in at:
            record.variants[at[key]] = entry
        else:
            record.variants.append(entry)
        tables.append(outcomes[0].events)
    if "command" in record.settings or record.settings.get("api"):
        settle_counts(record)
    if final != KILLED and not tables:
        return False  # nothing more to report than the record says
    finish_record(record, run, kept + tables, record.scenario_name)
    record.status = final
    record.warnings.append(why)
    if final != KILLED:
        record.sections["failure"] = {"reason": why, "errno": None, "path": None}
    run.write_record(record)
    return True


#: a ``--repeat`` variant's later processes: ``KEY.pN`` (profiler.run.plan.repeat_jobs)
_REPEAT_DIR = re.compile(r"^(?P<key>.+)\.p(?P<n>\d+)$")
#: a variant measured again in a fresh worker (profiler.run.remeasure): its first measurement stands
_AGAIN_SUFFIX = "-again"


def _worker_groups(workers: Path) -> dict[str, list[Path]]:
    """The worker folders that saved a spec, by the variant they measured: a ``--repeat`` variant's
    ``KEY.pN`` under ``KEY`` (its first process first), a re-measure's ``KEY-again`` left out."""
    dirs = [d for d in sorted(workers.iterdir()) if (d / SPEC_FILE).exists()] if workers.is_dir() else []
    names = {d.name for d in dirs}
    groups: dict[str, list[tuple[int, Path]]] = {}
    for d in dirs:
        if d.name.endswith(_AGAIN_SUFFIX) and d.name[: -len(_AGAIN_SUFFIX)] in names:
            continue
        m = _REPEAT_DIR.match(d.name)
        if m and m["key"] in names:
            groups.setdefault(m["key"], []).append((int(m["n"]), d))
        else:
            groups.setdefault(d.name, []).append((1, d))
    return {k: [d for _, d in sorted(v)] for k, v in groups.items()}


def _recorded(entry: VariantEntry, dirs: list[Path]) -> bool:
    """Whether the record's entry already holds every process of these folders."""
    if len(dirs) == 1:
        return True
    procs = (entry.sections.get("repeats") or {}).get("processes") or []
    return {d.name for d in dirs} <= {p.get("key") for p in procs if isinstance(p, dict)}


def _saved_outcome(d: Path, why: str) -> JobOutcome | None:
    """One worker's outcome from what it saved (its spec, last result and events); ``None`` when
    nothing readable was left."""
    try:
        spec = WorkerSpec.from_json((d / SPEC_FILE).read_text())
        result = read_json(d / RESULT_FILE, "worker result") if (d / RESULT_FILE).exists() else {}
        events = EventTable.load(d / EVENTS_FILE) if (d / EVENTS_FILE).exists() else EventTable()
    except (InputError, OSError, ValueError, TypeError, KeyError):
        return None
    result = result if isinstance(result, dict) else {}
    status = KILLED if result.get("status") in (None, "running") else str(result.get("status"))
    job = WorkerJob(key=d.name, workload=spec.workload, module=spec.module)
    return JobOutcome(job, status, result, events, d, None, why)


def _remove_partial_files(run: RunDir) -> None:
    """The temporary files of writes its dead writer never finished (``.NAME.*.tmp``, from
    :func:`profiler.core.files.temp_for`): the complete files stay, the partial ones go."""
    for p in run.path.rglob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


def _saved_events(record: RunRecord, run: RunDir) -> list[EventTable]:
    """The events of the entries the record already has, as their workers saved them."""
    out = []
    for v in record.variants:
        if v.events and (run.path / v.events).is_file():
            with contextlib.suppress(InputError, OSError, ValueError, TypeError, KeyError):
                out.append(EventTable.load(run.path / v.events))
    return out
