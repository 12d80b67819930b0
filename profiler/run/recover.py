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

from profiler.core.errors import InputError
from profiler.core.events import EventTable
from profiler.core.files import read_json
from profiler.core.protocol import EVENTS_FILE, RESULT_FILE, SPEC_FILE, WorkerSpec
from profiler.core.record import RunRecord
from profiler.core.rundir import WORKERS_DIR, RunDir
from profiler.core.scenario import Scenario
from profiler.run.owner import owner_alive

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
    from profiler.run.process import JobOutcome, WorkerJob

    sc_dict = record.scenario if isinstance(record.scenario, dict) else {}
    try:
        sc = Scenario.from_dict(sc_dict)
    except Exception:  # a damaged declaration: the analysis needs only the unit
        unit = sc_dict.get("unit")
        sc = Scenario(name=str(sc_dict.get("name", "?")), summary="", implementations=(), presets={},
                      unit=unit if isinstance(unit, str) else "step")
    have = {v.key for v in record.variants if v.key}
    _remove_partial_files(run)
    # killed while saving (after its workers ended): the trace is rebuilt from what they saved too
    kept = [] if record.trace else _saved_events(record, run)
    tables: list[EventTable] = []
    workers = run.path / WORKERS_DIR
    for d in sorted(workers.iterdir()) if workers.is_dir() else []:
        if d.name in have or not (d / SPEC_FILE).exists():
            continue
        try:
            spec = WorkerSpec.from_json((d / SPEC_FILE).read_text())
            result = read_json(d / RESULT_FILE, "worker result") if (d / RESULT_FILE).exists() else {}
            events = EventTable.load(d / EVENTS_FILE) if (d / EVENTS_FILE).exists() else EventTable()
        except (InputError, OSError, ValueError, TypeError, KeyError):
            continue  # nothing readable was left there
        status = KILLED if result.get("status") in (None, "running") else str(result.get("status"))
        job = WorkerJob(key=d.name, workload=spec.workload, module=spec.module)
        outcome = JobOutcome(job, status, result if isinstance(result, dict) else {}, events, d, None, why)
        record.variants.append(variant_entry(outcome, run, sc))
        tables.append(events)
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
