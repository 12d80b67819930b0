"""A tiny data-parallel training workload for the distributed tests (a user scenario file).

A 3-layer MLP on random data, wrapped by ``profiler.run.rank.ddp_wrap`` (DistributedDataParallel
under the launcher, the bare model otherwise). Small buckets give several allreduces per step.

Presets: ``cpu`` (plain); ``straggler`` (the last rank of a multi-rank world sleeps in a
``data_loading`` region every step, so it is the slow one and data loading is why); ``crash``
(rank 1 raises during its 5th step); ``kill`` (rank 1 SIGKILLs itself there: no chance to save).
"""

from __future__ import annotations

import os
import signal
import time

from profiler.core.scenario import Implementation, Scenario, Variant

_BASE = {"batch": 32, "features": 64, "hidden": 256, "classes": 10, "bucket_cap_mb": 0.05,
         "warmup": 2, "steps": 6, "trace_steps": 3}

SCENARIO = Scenario(
    name="ddp_tiny",
    summary="tiny MLP, data-parallel under torch.distributed (test workload)",
    implementations=(Implementation("torch", (Variant("ddp", "MLP in DistributedDataParallel"),)),),
    presets={
        "cpu": dict(_BASE),
        "straggler": {**_BASE, "delay_ms": 40},
        "crash": {**_BASE, "crash_rank": 1, "crash_step": 5},
        "kill": {**_BASE, "crash_rank": 1, "crash_step": 5, "crash_hard": True},
    },
    modes=("train",),
)


class _Workload:
    def __init__(self, ctx) -> None:
        import torch
        from torch import nn

        from profiler.run.rank import ddp_wrap

        p = ctx.params
        self.ctx = ctx
        # under NCCL the launcher's rank harness has already made this rank's GPU the current one
        self.device = torch.device("cuda" if ctx.spec.device == "cuda" else "cpu")
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        torch.manual_seed(0)  # same initial weights on every rank (DDP broadcasts rank 0's anyway)
        model = nn.Sequential(
            nn.Linear(p["features"], p["hidden"]),
            nn.ReLU(),
            nn.Linear(p["hidden"], p["hidden"]),
            nn.ReLU(),
            nn.Linear(p["hidden"], p["classes"]),
        ).to(self.device)
        self.model = ddp_wrap(model, ctx, bucket_cap_mb=p["bucket_cap_mb"])
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(self.rank + 1)  # each rank its own shard of the data
        self.x = torch.randn(p["batch"], p["features"], generator=g).to(self.device)
        self.y = torch.randint(0, p["classes"], (p["batch"],), generator=g).to(self.device)
        self.loss = nn.CrossEntropyLoss()
        self.n = 0
        self.delay = p.get("delay_ms", 0) / 1000.0 if self.world > 1 and self.rank == self.world - 1 else 0.0
        self.crash_at = p.get("crash_step") if self.rank == p.get("crash_rank", -1) else None
        self.info = {"params": sum(t.numel() for t in model.parameters()), "world_size": self.world}

    def step(self) -> None:
        self.n += 1
        if self.crash_at is not None and self.n == self.crash_at:
            if self.ctx.params.get("crash_hard"):
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure on rank {self.rank} at step {self.n}")
        if self.delay:
            with self.ctx.region("data_loading", "slow input"):
                time.sleep(self.delay)
        self.opt.zero_grad(set_to_none=True)
        out = self.model(self.x)
        self.loss(out, self.y).backward()
        self.opt.step()

    def sync(self) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize()


def build(ctx):
    return _Workload(ctx)
