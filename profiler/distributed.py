"""Data-parallel runs under torch.distributed: launch, one profiled harness per rank, merge.

Parent side (no framework import):

* :func:`launches` validates ``--nproc N[,M...] --nnodes M --node-rank R --rdzv-endpoint HOST:PORT``
  and checks, before anything starts, that node 0's rendezvous port is free;
* :func:`expand_jobs` turns each planned worker job into one job per world size;
* :func:`run_distributed_job` starts PyTorch's own launcher (``python -m torch.distributed.run``,
  i.e. ``torchrun``) with static rendezvous on ``HOST:PORT``; every rank it starts runs
  ``python -m profiler.distributed SPEC``, the worker harness of :mod:`profiler.worker` with the
  process group around it. When the launcher ends, the ranks' events are put on one clock and
  merged (one process per rank), and the per-rank analysis (step times, breakdown, overlap,
  straggler, failure) is attached to the job's result.

Rank side (imports torch): :func:`rank_main` joins the process group (gloo on CPU, NCCL on GPU;
a gloo group for the toolkit's own exchanges either way), exchanges clock readings, runs the
harness, and saves into ``workers/<key>/rank<R>/``. Scenario implementations call
:func:`ddp_wrap` on their model: under the launcher it returns the model in
DistributedDataParallel with a timed allreduce hook (:mod:`profiler.probes.collectives`);
otherwise the model itself, so one implementation serves both kinds of run.

Faults: a rank that raises saves what it collected and exits non-zero; the launcher then stops the
others (SIGTERM, which a rank turns into an exception so that it saves too); the job is recorded as
failed with the first rank that failed and its error (:func:`profiler.analysis.ranks.root_cause`).
Ranks on other nodes send their files to rank 0 over the process group at the end of a successful
run, so node 0's run directory holds every rank.
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

from profiler.clock import epoch_offset_ns, now_ns
from profiler.errors import InputError
from profiler.events import EventTable
from profiler.protocol import EVENTS_FILE, PROGRESS_FD_ENV, RESULT_FILE, WorkerSpec
from profiler.runner import JobOutcome, WorkerJob, kill_tree, thread_env, write_spec
from profiler.worker import Harness

LAUNCHER_LOG = "launcher.log"
#: ping-pong rounds per rank of the clock exchange at start and at the end of a run
CLOCK_ROUNDS = 16
CLOCK_END_ROUNDS = 8
#: seconds a collective may wait for a peer before the backend gives up
PG_TIMEOUT_S = 180.0
#: seconds the launcher waits for the other ranks to save after it stopped them
SHUTDOWN_TIMEOUT_S = 20


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
) -> tuple[list[WorkerJob], list[dict[str, Any]]]:
    """One job per (planned job, world size), keyed ``<key>-ws<N>``; and the jobs left out.

    Only torch jobs run distributed. A non-torch framework the user named (``explicit``) is an
    error; one that came from the scenario's default list is skipped with the reason.
    """
    out = []
    skipped: list[dict[str, Any]] = []
    for job in jobs:
        if job.workload.framework != "torch":
            reason = f"distributed runs use torch.distributed; {job.workload.framework} has no launcher here"
            if explicit:
                raise InputError(f"--nproc: {reason} (use --framework torch)")
            wl = job.workload
            skipped.append({"scenario": wl.scenario, "framework": wl.framework, "variant": wl.variant,
                            "mode": wl.mode, "preset": wl.preset, "status": "unavailable",
                            "error": f"unavailable: {reason}"})
            continue
        backend = "nccl" if job.workload.device == "cuda" else "gloo"
        if backend == "nccl":
            from profiler.hardware import gpus

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
        "profiler.distributed",
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
        proc = subprocess.Popen(
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
    from profiler.analysis.breakdown import step_windows
    from profiler.analysis.ranks import align_clocks, comm_overlap, merge_ranks, root_cause, straggler_report
    from profiler.orchestrate import analyse_variant

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
            a = analyse_variant(merged, {"pid": pids[r], "device": wl.device})
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
        "failure": cause,
    }
    if la.nnodes > 1 and la.node_rank != 0:
        summary["note"] = "this node's ranks only; node 0's run directory holds every rank"
    ref = min((r for r in results if results[r]), default=None)
    result = dict(results[ref]) if ref is not None else {}
    result.pop("rank", None)
    result["distributed"] = summary
    return JobOutcome(job, status, result, merged, worker_dir, code, error, {}, wall_s)


# ================================================================================= rank side
class RankStopped(Exception):
    """Raised in a rank when the launcher stops it (SIGTERM): another rank failed or a timeout."""


@dataclass
class RankState:
    rank: int
    world_size: int
    local_rank: int
    node_rank: int
    nnodes: int
    backend: str
    host: str
    pid: int
    group: Any = None  # the gloo group for the toolkit's exchanges (None: the default group)
    recorder: Any = None
    clock_rounds: dict[str, list[list[int]]] = dataclasses.field(default_factory=dict)
    clock_end_rounds: dict[str, list[list[int]]] = dataclasses.field(default_factory=dict)
    hosts: list[str] = dataclasses.field(default_factory=list)
    threads: int | None = None
    ddp: str | None = None  # how the model got into DDP: "ddp_wrap", "harness", or None

    def info(self) -> dict[str, Any]:
        d = {
            k: getattr(self, k)
            for k in ("rank", "world_size", "local_rank", "node_rank", "nnodes", "backend", "host",
                      "hosts", "clock_rounds", "clock_end_rounds", "threads", "ddp")
        }
        d["ddp_wrapped"] = self.recorder is not None and len(self.recorder) > 0
        return d


_STATE: RankState | None = None


def rank_state() -> RankState | None:
    """This process's rank under the launcher, ``None`` in a plain worker."""
    return _STATE


def ddp_wrap(model: Any, ctx: Any, **ddp_kwargs: Any) -> Any:
    """``model`` in DistributedDataParallel with timed bucket allreduces, when run by the launcher.

    In a plain (single-process) worker the model is returned unchanged. ``ddp_kwargs`` go to
    DistributedDataParallel (e.g. ``bucket_cap_mb``); on NCCL ``device_ids`` defaults to this rank's
    GPU. The model must already be on its device.
    """
    st = _STATE
    if st is None:
        return model
    from torch.nn.parallel import DistributedDataParallel

    from profiler.probes.collectives import timed_allreduce_hook

    if st.backend == "nccl":
        ddp_kwargs.setdefault("device_ids", [st.local_rank])
    ddp = DistributedDataParallel(model, **ddp_kwargs)
    ddp.register_comm_hook((st.recorder, None), timed_allreduce_hook)
    st.ddp = st.ddp or "ddp_wrap"
    if ctx is not None and hasattr(ctx, "log"):
        ctx.log(f"rank {st.rank}/{st.world_size}: model in DistributedDataParallel ({st.backend})")
    return ddp


def _host_id() -> str:
    """Host name and boot id: equal for two ranks exactly when they read the same CLOCK_MONOTONIC."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "?"
    return f"{socket.gethostname()}/{boot[:8]}"


def _clock_exchange(group: Any, rank: int, world: int, rounds: int) -> dict[str, list[list[int]]]:
    """Ping-pong rounds between rank 0 and every other rank; every rank gets all of them.

    Row ``(t1, t2, t3, t4)``: rank 0 sends at t1, rank r receives at t2 and replies at t3, rank 0
    receives at t4 (see :func:`profiler.analysis.ranks.pingpong_offset`). Keys are str(rank): the
    result goes through JSON.
    """
    import torch
    import torch.distributed as dist

    buf = torch.zeros(4, dtype=torch.int64)
    samples: dict[str, list[list[int]]] = {}
    for peer in range(1, world):
        if rank == 0:
            rows = []
            for _ in range(rounds):
                buf[0] = now_ns()
                dist.send(buf, dst=peer, group=group)
                dist.recv(buf, src=peer, group=group)
                t4 = now_ns()
                rows.append([int(buf[0]), int(buf[1]), int(buf[2]), t4])
            samples[str(peer)] = rows
        elif rank == peer:
            for _ in range(rounds):
                dist.recv(buf, src=0, group=group)
                buf[1] = now_ns()
                buf[2] = now_ns()
                dist.send(buf, dst=0, group=group)
    box = [samples]
    dist.broadcast_object_list(box, src=0, group=group)
    return box[0]


class RankHarness(Harness):
    """The worker harness with a process group around it."""

    def __init__(self, spec: WorkerSpec, out_dir: Path, env: dict[str, str]) -> None:
        super().__init__(spec, out_dir)
        self.env = env
        self.saving = False
        self.st: RankState | None = None
        self.rank = int(env["RANK"])
        wl = spec.workload
        self.b.name_process(self.pid, f"rank {self.rank} · {wl.framework} · {wl.variant} · {wl.mode}")

    def setup(self) -> None:
        global _STATE
        from datetime import timedelta

        import torch
        import torch.distributed as dist

        from profiler.probes.collectives import CollectiveRecorder

        e = self.env
        backend = "nccl" if self.spec.workload.device == "cuda" else "gloo"
        local_rank = int(e.get("LOCAL_RANK", 0))
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        timeout = timedelta(seconds=PG_TIMEOUT_S)
        dist.init_process_group(backend, timeout=timeout)
        group = None if backend == "gloo" else dist.new_group(backend="gloo", timeout=timeout)
        world = dist.get_world_size()
        st = RankState(
            rank=dist.get_rank(),
            world_size=world,
            local_rank=local_rank,
            node_rank=int(e.get("GROUP_RANK", 0)),
            nnodes=int(e.get("GROUP_WORLD_SIZE", 1)),
            backend=backend,
            host=_host_id(),
            pid=self.pid,
            group=group,
            recorder=CollectiveRecorder(self.pid, world, backend),
            threads=torch.get_num_threads(),
        )
        hosts: list[Any] = [None] * world
        dist.all_gather_object(hosts, st.host, group=group)
        st.hosts = [str(h) for h in hosts]
        st.clock_rounds = _clock_exchange(group, st.rank, world, CLOCK_ROUNDS)
        self.st = _STATE = st

    def after_build(self, workload: Any, ctx: Any) -> Any:
        """Wrap ``workload.model`` in DDP when the implementation did not call :func:`ddp_wrap`.

        The optimizer built on the bare module keeps working: DDP holds the same parameters.
        """
        st = self.st
        if st is None or st.ddp is not None or self.spec.workload.mode != "train":
            return workload
        import torch

        model = getattr(workload, "model", None)
        if isinstance(model, torch.nn.Module) and not isinstance(
            model, torch.nn.parallel.DistributedDataParallel
        ):
            workload.model = ddp_wrap(model, ctx)
            st.ddp = "harness"
        else:
            self.result["ddp_warning"] = (
                "the workload neither called profiler.distributed.ddp_wrap nor exposes .model: "
                "ranks trained independently (no gradient allreduce)"
            )
        return workload

    def run(self) -> int:
        self.phase("connect")
        try:
            self.setup()
        except BaseException as e:  # saved and reported like any harness failure
            self.result["status"] = "failed"
            self.result["error"] = f"process group: {type(e).__name__}: {e}".strip()
            self.end_phase()
            self.save()
            return 1
        code = super().run()
        if code == 0:
            self.finish()
        return code

    def finish(self) -> None:
        """After a successful run: the closing clock exchange and, across nodes, the file gather."""
        import torch
        import torch.distributed as dist

        st = self.st
        assert st is not None
        try:
            ok = torch.ones(1, dtype=torch.int64)
            dist.all_reduce(ok, op=dist.ReduceOp.MIN, group=st.group)
            if int(ok.item()) != 1:
                return
            st.clock_end_rounds = _clock_exchange(st.group, st.rank, st.world_size, CLOCK_END_ROUNDS)
            self.result["rank"] = st.info()
            from profiler.rundir import atomic_write_json

            atomic_write_json(self.out_dir / RESULT_FILE, self.result)
            if st.nnodes > 1:
                self.gather_to_rank0()
        except Exception as e:  # the run itself is saved; say what the epilogue lost
            self.result["finish_error"] = f"{type(e).__name__}: {e}"
            from profiler.rundir import atomic_write_json

            atomic_write_json(self.out_dir / RESULT_FILE, self.result)

    def gather_to_rank0(self) -> None:
        """Ranks of other nodes send their files to rank 0, which stores them beside its own.

        Plain tensors over the process group, no pickling: every rank first shares how many bytes it
        will send (0 on node 0), then each sender ships one uint8 tensor — a JSON header of file names
        and sizes, a newline, and the files' bytes — which rank 0 receives rank by rank.
        """
        import torch
        import torch.distributed as dist

        st = self.st
        assert st is not None
        blob = b""
        if st.node_rank != 0:
            files = {
                n: (self.out_dir / n).read_bytes()
                for n in (EVENTS_FILE, RESULT_FILE, "stderr.log")
                if (self.out_dir / n).exists()
            }
            header = json.dumps({"rank": st.rank, "sizes": {n: len(b) for n, b in files.items()}})
            blob = header.encode() + b"\n" + b"".join(files.values())
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(st.world_size)]
        dist.all_gather(sizes, torch.tensor([len(blob)], dtype=torch.int64), group=st.group)
        if st.rank != 0:
            if blob:
                dist.send(torch.frombuffer(bytearray(blob), dtype=torch.uint8), dst=0, group=st.group)
            return
        from profiler.rundir import atomic_write_bytes

        for src, n in enumerate(int(t.item()) for t in sizes):
            if src == 0 or n == 0:
                continue
            buf = torch.empty(n, dtype=torch.uint8)
            dist.recv(buf, src=src, group=st.group)
            data = buf.numpy().tobytes()
            head, _, body = data.partition(b"\n")
            meta = json.loads(head)
            d = self.out_dir.parent / f"rank{int(meta['rank'])}"
            offset = 0
            for name, size in meta["sizes"].items():
                atomic_write_bytes(d / Path(name).name, body[offset : offset + size])
                offset += size

    def save(self) -> None:
        self.saving = True
        st = self.st
        if st is not None:
            if st.recorder is not None:
                self.probe_tables.append(st.recorder.table())
                self.result["probes"]["collectives"] = {"ran": True, **st.recorder.info()}
            self.result["rank"] = st.info()
        else:
            self.result["rank"] = {"rank": self.rank, "host": _host_id()}
        self.result["ended_ns"] = now_ns()
        super().save()
        self.saving = False


_HARNESS: RankHarness | None = None


def _on_sigterm(signum: int, frame: Any) -> None:
    if _HARNESS is not None and _HARNESS.saving:
        return  # let the save finish; the launcher's SIGKILL comes later
    raise RankStopped("stopped by the launcher (SIGTERM): another rank failed or the run was stopped")


def rank_main(argv: list[str] | None = None) -> int:
    """Entry point of one rank (``python -m profiler.distributed SPEC``, started by the launcher)."""
    global _HARNESS
    import threading

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or "RANK" not in os.environ:
        print("usage: torchrun ... -m profiler.distributed SPEC_JSON (RANK must be set)", file=sys.stderr)
        return 2
    spec_path = Path(argv[0])
    spec = WorkerSpec.from_json(spec_path.read_text())
    out_dir = spec_path.parent / f"rank{int(os.environ['RANK'])}"
    out_dir.mkdir(parents=True, exist_ok=True)
    # the launcher interleaves every rank's output; each rank keeps its own logs instead
    for fd, name in ((1, "stdout.log"), (2, "stderr.log")):
        f = os.open(out_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    threading.current_thread().name = "profiler-worker"
    _HARNESS = RankHarness(spec, out_dir, dict(os.environ))
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = _HARNESS.run()
    try:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # a peer already gone; nothing left to save
        pass
    return code


if __name__ == "__main__":
    # Run as a script this module is ``__main__``; a scenario's ``from profiler.distributed import
    # ddp_wrap`` must find this very module (and its rank state), not import a second copy.
    sys.modules.setdefault("profiler.distributed", sys.modules[__name__])
    sys.exit(rank_main())
