"""Data-parallel runs under torch.distributed, parent side (no framework import): launch, merge.

:func:`launches` validates ``--nproc``/``--nnodes``/``--node-rank``/``--rdzv-endpoint`` and checks
node 0's port before anything starts; :func:`expand_jobs` makes one job per world size;
:func:`run_distributed_job` starts ``python -m torch.distributed.run`` with static rendezvous, each
rank running :mod:`profiler.run.rank`, then puts the ranks' events on one clock, merges them and
attaches the per-rank analysis (:func:`collect_ranks`). A failed job names the first rank that
failed. What runs, clocks, faults: ``docs/distributed.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.analysis.breakdown import step_windows
from profiler.analysis.ranks import (
    align_clocks,
    comm_overlap,
    merge_ranks,
    root_cause,
    straggler_cost_of,
    straggler_report,
)
from profiler.analysis.variant import analyse_variant
from profiler.core.calibration import load_cached
from profiler.core.clock import epoch_offset_ns
from profiler.core.errors import InputError
from profiler.core.events import EventTable
from profiler.core.lifeline import spawn
from profiler.core.protocol import EVENTS_FILE, LAUNCHER_LOG, PROGRESS_FD_ENV, RESULT_FILE, SHUTDOWN_TIMEOUT_S
from profiler.core.record import VariantEntry
from profiler.run.process import JobOutcome, WorkerJob, end_group, kill_tree, thread_env, write_spec


# =============================================================================== parent side
@dataclass(frozen=True)
class Launch:
    """How one job is launched: ranks per node, nodes, this node's rank, rendezvous endpoint."""

    nproc: int
    nnodes: int = 1
    node_rank: int = 0
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port is chosen when the job starts (single node only)
    backend: str = "gloo"

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "world_size": self.world_size}


def parse_nproc(value: str) -> list[int]:
    """``"2"`` → ``[2]``; ``"1,2,4"`` → ``[1, 2, 4]``."""
    out = []
    for part in value.split(","):
        p = part.strip()
        if not p.isdigit() or int(p) < 1:
            raise InputError(f"--nproc: expected positive integers separated by commas, got {value!r}")
        out.append(int(p))
    if len(set(out)) != len(out):
        raise InputError(f"--nproc: {value!r} repeats a count")
    return out


def parse_endpoint(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6addr]:PORT`` too) → ``(host, port)``."""
    m = re.fullmatch(r"\[?([^\[\]]+?)\]?:(\d+)", value.strip())
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise InputError(f"--rdzv-endpoint: expected HOST:PORT with a port in 1-65535, got {value!r}")
    return m.group(1), int(m.group(2))


def check_port_free(host: str, port: int) -> None:
    """Fail with one line naming the port when something already listens on it here."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    # SO_REUSEADDR: a port left in TIME_WAIT by an earlier run is free; a listener is not
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("", port))
    except OSError as e:
        raise InputError(
            f"--rdzv-endpoint {host}:{port}: port {port} is in use on this machine ({e.strerror}); "
            "pick another port"
        ) from None
    finally:
        s.close()


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def launches(
    nproc: str | None, nnodes: int | None, node_rank: int | None, endpoint: str | None
) -> list[Launch] | None:
    """Validated launch settings from the CLI options; ``None`` when none was given."""
    if nproc is None and nnodes is None and node_rank is None and endpoint is None:
        return None
    counts = parse_nproc(nproc) if nproc is not None else [1]
    nnodes = 1 if nnodes is None else nnodes
    node_rank = 0 if node_rank is None else node_rank
    if nnodes < 1:
        raise InputError(f"--nnodes must be a positive integer, got {nnodes}")
    if not 0 <= node_rank < nnodes:
        raise InputError(f"--node-rank must be in 0..{nnodes - 1} for --nnodes {nnodes}, got {node_rank}")
    if nnodes > 1 and endpoint is None:
        raise InputError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (node 0's address and a free port)")
    if nnodes > 1 and len(counts) > 1:
        raise InputError("--nproc with several counts (a scaling sweep) runs on one node; drop --nnodes")
    host, port = ("127.0.0.1", None) if endpoint is None else parse_endpoint(endpoint)
    if port is not None and node_rank == 0:
        check_port_free(host, port)
    return [Launch(n, nnodes, node_rank, host, port) for n in counts]


def expand_jobs(
    jobs: list[WorkerJob], plan_launches: list[Launch], explicit: bool = True
) -> tuple[list[WorkerJob], list[VariantEntry]]:
    """One job per (planned job, world size), keyed ``<key>-ws<N>``; and the jobs left out.

    Only torch jobs run distributed. A non-torch framework the user named (``explicit``) is an
    error; one that came from the scenario's default list is skipped with the reason.
    """
    out = []
    skipped: list[VariantEntry] = []
    for job in jobs:
        if job.workload.framework != "torch":
            reason = f"distributed runs use torch.distributed; {job.workload.framework} has no launcher here"
            if explicit:
                raise InputError(f"--nproc: {reason} (use --framework torch)")
            wl = job.workload
            skipped.append(VariantEntry.skipped(wl.scenario, wl.framework, wl.variant, wl.mode, wl.preset,
                                                f"unavailable: {reason}"))
            continue
        backend = "nccl" if job.workload.device == "cuda" else "gloo"
        if backend == "nccl":
            from profiler.core.hardware import gpus

            n_gpus = len(gpus()[0])
            most = max(la.nproc for la in plan_launches)
            if most > n_gpus:
                raise InputError(f"--nproc {most}: NCCL runs one rank per GPU and this node has {n_gpus}")
        for la in plan_launches:
            la = dataclasses.replace(la, backend=backend)
            out.append(dataclasses.replace(job, key=f"{job.key}-ws{la.world_size}", launch=la))
    if not out and jobs:
        raise InputError("--nproc: nothing to run distributed (only torch implementations can)")
    return out, skipped


def launcher_command(la: Launch, port: int, spec_path: Path) -> list[str]:
    """``torchrun`` (as ``python -m torch.distributed.run``) with static rendezvous."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        str(la.nnodes),
        "--nproc-per-node",
        str(la.nproc),
        "--node-rank",
        str(la.node_rank),
        "--master-addr",
        la.host,
        "--master-port",
        str(port),
        "--max-restarts",
        "0",
        "--monitor-interval",
        "0.2",
        "--shutdown-timeout",
        str(SHUTDOWN_TIMEOUT_S),
        "-m",
        "profiler.run.rank",
        str(spec_path),
    ]


def run_distributed_job(job: WorkerJob, worker_dir: Path, on_progress: Any = None) -> JobOutcome:
    """Launch the job's ranks with torch.distributed.run, wait, merge and analyse what they left."""
    la: Launch = job.launch
    spec_path = write_spec(job, worker_dir, epoch_offset_ns())
    port = la.port if la.port is not None else free_port()
    env = dict(os.environ)
    # Without --threads every rank gets one thread, for every world size: torch.distributed.run
    # would give one to each of several ranks but all cores to a single one, and the scaling table
    # must compare the same per-rank resources.
    env.update(thread_env(job.workload.threads or 1))
    env.update(job.env)
    env.pop(PROGRESS_FD_ENV, None)  # ranks are not our children: a stale fd number must not leak
    env.setdefault("PYTHONUNBUFFERED", "1")
    if on_progress:
        on_progress(job, {"phase": f"launch ×{la.world_size}"})
    t0 = time.monotonic()
    status: str | None = None
    with open(worker_dir / LAUNCHER_LOG, "wb") as log:
        proc = spawn(  # its own group; dies with us, ranks included (core/lifeline.py)
            launcher_command(la, port, spec_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=os.getcwd(),
        )
        try:
            proc.wait(timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            status = "timeout"
            kill_tree(proc, grace_s=SHUTDOWN_TIMEOUT_S + 5)
        except KeyboardInterrupt:
            status = "interrupted"
            kill_tree(proc, grace_s=SHUTDOWN_TIMEOUT_S + 5)
        finally:
            if proc.returncode is not None:
                end_group(proc)  # a rank the launcher left behind does not outlive the run
    if on_progress:
        on_progress(job, {"phase": "merge"})
    out = collect_ranks(job, worker_dir, proc.returncode, status, time.monotonic() - t0, port)
    if on_progress:
        on_progress(job, {"phase": "done", "status": out.status})
    return out


_ROOT_CAUSE_RX = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")


def _launcher_exits(log_text: str) -> dict[int, int]:
    """Exit codes per rank from the launcher's failure summary (``rank : R ... exitcode : X``)."""
    return {int(r): int(c) for r, c in _ROOT_CAUSE_RX.findall(log_text)}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _one_line(text: str | None, limit: int = 300) -> str | None:
    """The first line of an error (backend errors run over many lines), at most ``limit`` chars."""
    if not text:
        return text
    line = text.strip().splitlines()[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def collect_ranks(
    job: WorkerJob, worker_dir: Path, code: int | None, status: str | None, wall_s: float, port: int
) -> JobOutcome:
    """Merge the rank directories under ``worker_dir`` into one outcome (whatever each left)."""
    la: Launch = job.launch
    found: dict[int, Path] = {}
    for d in worker_dir.glob("rank*"):
        if d.is_dir() and d.name[4:].isdigit():
            found[int(d.name[4:])] = d
    expected = set(range(la.node_rank * la.nproc, (la.node_rank + 1) * la.nproc)) | set(found)
    results = {r: _read_json(found[r] / RESULT_FILE) if r in found else None for r in expected}
    tables: dict[int, EventTable] = {}
    load_errors: dict[int, str] = {}
    for r, d in found.items():
        if (d / EVENTS_FILE).exists():
            try:
                tables[r] = EventTable.load(d / EVENTS_FILE)
            except Exception as e:  # keep the other ranks
                load_errors[r] = str(e)
    try:
        log_text = (worker_dir / LAUNCHER_LOG).read_text(errors="replace")
    except OSError:
        log_text = ""
    exits = _launcher_exits(log_text)

    # clocks: every rank holds the same exchange; take it from the first that has one
    rank_info = {r: (res or {}).get("rank") or {} for r, res in results.items()}
    clock_src = next((rank_info[r] for r in sorted(rank_info) if rank_info[r].get("hosts")), None)
    alignment = None
    if clock_src:
        try:
            alignment = align_clocks(
                {int(k): v for k, v in (clock_src.get("clock_rounds") or {}).items()},
                clock_src["hosts"],
                {int(k): v for k, v in (clock_src.get("clock_end_rounds") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            alignment = None
    offsets = alignment.offsets_ns if alignment else {}
    wl = job.workload
    pids = {}
    for r, t in tables.items():
        pid = (results.get(r) or {}).get("pid") or next(iter(t.processes), r)
        pids[r] = int(pid)
    labels = {
        r: f"rank {r}/{la.world_size} · {rank_info[r].get('host', '?')} · {wl.framework} · {wl.variant} · {wl.mode}"
        for r in tables
    }
    merged, pids = merge_ranks(tables, pids, offsets, labels) if tables else (EventTable(), {})
    if tables:
        merged.save(worker_dir / EVENTS_FILE)

    per_rank: list[dict[str, Any]] = []
    for r in sorted(expected):
        res = results.get(r)
        rec: dict[str, Any] = {
            "rank": r,
            "host": rank_info[r].get("host"),
            "local_rank": rank_info[r].get("local_rank"),
            "pid": pids.get(r),
            "status": res.get("status") if res else None,
            "error": _one_line(res.get("error")) if res else None,
            "ended_ns": (res.get("ended_ns", 0) + offsets.get(r, 0)) if res and res.get("ended_ns") else None,
            "threads": rank_info[r].get("threads"),
            "ddp": rank_info[r].get("ddp"),
            "warning": (res or {}).get("ddp_warning"),
            "collectives": (res or {}).get("probes", {}).get("collectives"),
            "dir": os.path.relpath(found[r], worker_dir) if r in found else None,
        }
        if res is None or res.get("status") == "running":
            how = f" ({_describe_exit(exits[r])})" if r in exits else ""
            rec["error"] = (
                f"left no final result{how}; its last checkpoint is kept"
                if res is not None
                else f"left no result{how}"
            ) + (f"; events unreadable: {load_errors[r]}" if r in load_errors else "")
        if r in pids:
            a = analyse_variant(merged, {"pid": pids[r], "device": wl.device}, calibration=load_cached())
            rec["step_ms"] = (a.get("step_ms") or {}).get("median")
            rec["traced_step_ms"] = (a.get("traced_step_ms") or {}).get("median")
            rec["breakdown_ms"] = a.get("breakdown_ms")
            steps = step_windows(merged, pids[r], traced=True) or step_windows(merged, pids[r])
            rec["overlap"] = comm_overlap(merged, pids[r], steps)
        per_rank.append(rec)

    # no rank directory at all: the launcher itself failed (rendezvous, bad options): say that
    cause = root_cause(per_rank) if found else None
    if cause and cause["rank"] in exits and results.get(cause["rank"]) is not None:
        cause["exit"] = _describe_exit(exits[cause["rank"]])
    all_ok = all(p["status"] == "ok" for p in per_rank)
    if status is None:
        status = "ok" if code == 0 and all_ok else "failed"
    error = None
    if status != "ok":
        if status == "timeout":
            error = f"timed out after {job.timeout_s:g} s; launcher and ranks stopped"
        elif cause:
            error = f"rank {cause['rank']} failed: {cause['error']}"
            if cause["stopped"]:
                error += f"; stopped: rank {', '.join(map(str, cause['stopped']))}"
        else:
            tail = [ln for ln in log_text.strip().splitlines() if ln.strip()]
            error = f"launcher {_describe_exit(code if code is not None else 1)}" + (
                f": {tail[-1].strip()}" if tail else ""
            )
    steps_ms = [p["step_ms"] for p in per_rank if p.get("step_ms")]
    summary = {
        "launcher": "torch.distributed.run",
        **la.as_dict(),
        "endpoint": f"{la.host}:{port}",
        "launcher_exit_code": code,
        "launcher_log": os.path.relpath(worker_dir / LAUNCHER_LOG, worker_dir.parent.parent),
        # DDP synchronises every step: the job moves at its slowest rank's pace
        "step_ms": max(steps_ms) if steps_ms else None,
        "ranks": per_rank,
        "ranks_here": sorted(found),
        "clock": alignment.to_dict() if alignment else None,
        "straggler": straggler_report(per_rank),
        "straggler_cost": straggler_cost_of(merged, pids),
        "failure": cause,
    }
    if la.nnodes > 1 and la.node_rank != 0:
        summary["note"] = "this node's ranks only; node 0's run directory holds every rank"
    ref = min((r for r in results if results[r]), default=None)
    result = dict(results[ref]) if ref is not None else {}
    result.pop("rank", None)
    result["distributed"] = summary
    return JobOutcome(job, status, result, merged, worker_dir, code, error, {}, wall_s)
