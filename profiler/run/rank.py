"""One rank of a data-parallel run, inside the process ``torchrun`` starts (imports torch).

:func:`rank_main` (``python -m profiler.run.rank SPEC``) joins the process group, exchanges clock
readings, runs the worker harness (:class:`RankHarness`) and saves into ``workers/<key>/rank<R>/``.
Scenario implementations call :func:`ddp_wrap` on their model: DDP with a timed allreduce hook
(:mod:`profiler.probes.collectives`) under the launcher, the model itself otherwise. A rank that
raises saves and exits non-zero; SIGTERM becomes :class:`RankStopped`, so a stopped rank saves too.
The parent side is :mod:`profiler.run.torchrun`. See ``docs/distributed.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.core.clock import now_ns
from profiler.core.protocol import (
    CLOCK_END_ROUNDS,
    CLOCK_ROUNDS,
    EVENTS_FILE,
    PG_TIMEOUT_S,
    RESULT_FILE,
    WorkerSpec,
)
from profiler.run.worker import Harness


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
                "the workload neither called profiler.run.rank.ddp_wrap nor exposes .model: "
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
            from profiler.core.files import atomic_write_json

            atomic_write_json(self.out_dir / RESULT_FILE, self.result)
            if st.nnodes > 1:
                self.gather_to_rank0()
        except Exception as e:  # the run itself is saved; say what the epilogue lost
            self.result["finish_error"] = f"{type(e).__name__}: {e}"
            from profiler.core.files import atomic_write_json

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
            from profiler.core.parquet import SIBLINGS, table_path

            # the event store's side tables first and its events file (the manifest) last, as rank 0
            # writes them in this order: a store whose events file is there is whole
            store = [table_path(EVENTS_FILE, t).name for t in SIBLINGS] + [EVENTS_FILE]
            files = {
                n: (self.out_dir / n).read_bytes()
                for n in (*store, RESULT_FILE, "stderr.log")
                if (self.out_dir / n).exists()
            }
            header = json.dumps({"rank": st.rank, "sizes": {n: len(b) for n, b in files.items()}})
            blob = header.encode() + b"\n" + b"".join(files.values())
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(st.world_size)]
        dist.all_gather(sizes, torch.tensor([len(blob)], dtype=torch.int64), group=st.group)
        if st.rank != 0:
            if blob:
                dist.send(torch.frombuffer(bytearray(blob), dtype=torch.uint8), dst=0, group=st.group)
        else:
            from profiler.core.files import atomic_write_bytes

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
        # a sender leaves only once rank 0 holds every file: one that tore its process group down
        # sooner could take bytes still in flight with it, and leave rank 0 waiting on them
        dist.barrier(group=st.group)

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
    """Entry point of one rank (``python -m profiler.run.rank SPEC``, started by the launcher)."""
    global _HARNESS
    import threading

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or "RANK" not in os.environ:
        print("usage: torchrun ... -m profiler.run.rank SPEC_JSON (RANK must be set)", file=sys.stderr)
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
    # Run as a script this module is ``__main__``; a scenario's ``from profiler.run.rank import
    # ddp_wrap`` must find this very module (and its rank state), not import a second copy.
    sys.modules.setdefault("profiler.run.rank", sys.modules[__name__])
    sys.exit(rank_main())
