"""Records ``ddp2/rank{0,1}.pt.trace.json.gz``: real torch.profiler (Kineto) traces of a 2-rank
DistributedDataParallel CPU training loop (gloo), one file per rank as ``tensorboard_trace_handler``
writes them (each with its ``distributedInfo``).

Rank 1 is a straggler by construction: every step it runs ``EXTRA`` additional matmuls of
``SIZE``×``SIZE`` inside a ``user_annotation`` named ``extra work``, so it reaches the gradient
allreduce later and rank 0 waits there. Both ranks start their profilers at different times, so the
files' clocks need aligning (they share this machine's clock; the alignment must find ~0 offset
between the same step on both ranks). ``STEPS`` recorded steps after one warm-up step.

Run from the repository root: ``.venv/bin/python tests/data/kineto/record_ddp_traces.py``.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.profiler import ProfilerActivity, profile, record_function, schedule

STEPS, EXTRA, SIZE = 3, 12, 256
OUT = Path(__file__).with_name("ddp2")


def run(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 32), torch.randint(0, 4, (16,))
    w = torch.randn(SIZE, SIZE)
    time.sleep(0.05 * rank)  # the profilers start at different times
    out = Path(tmp) / f"rank{rank}.pt.trace.json"
    with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=0, warmup=1, active=STEPS, repeat=1),
                 on_trace_ready=lambda p: p.export_chrome_trace(str(out))) as prof:
        for _ in range(STEPS + 1):
            if rank == 1:
                with record_function("extra work"):
                    for _ in range(EXTRA):
                        w = torch.tanh(w @ w * 1e-2)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            prof.step()
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(run, args=(2, 29_561, tmp), nprocs=2, join=True)
        for r in range(2):
            raw = (Path(tmp) / f"rank{r}.pt.trace.json").read_bytes()
            (OUT / f"rank{r}.pt.trace.json.gz").write_bytes(gzip.compress(raw, mtime=0))


if __name__ == "__main__":
    main()
