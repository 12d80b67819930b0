"""The ``synthetic`` step in PyTorch, dispatch-heavy: an input wait, one GEMM, thousands of tiny ops.

Each step waits ``wait_ms`` for "input" (a ``data_loading`` region), multiplies two float32 ``n``×``n``
matrices with ``torch.mm`` (2·n³ FLOPs: compute) and runs ``tiny_ops`` one-element ``torch.add``
calls, whose time is all dispatch (framework overhead): they move 12 bytes each. Under
torch.profiler every tiny op is a record, so the traced step is slowed by the tracer's per-record
cost; the compensated breakdown must recover the parts as they are timed bare. It runs on one
thread unless ``--threads`` says otherwise, so that the GEMM's bare time does not depend on how busy
the other cores are.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from scenarios.data.torch_input import setup


class DispatchHeavyStep:
    def __init__(self, ctx: Any) -> None:
        setup(ctx)
        if not ctx.spec.threads:
            torch.set_num_threads(1)
        p = ctx.params
        self.ctx = ctx
        self.wait_s = float(p["wait_ms"]) / 1e3
        n = int(p["n"])
        self.tiny_ops = int(p.get("tiny_ops", 2000))
        self.a = torch.randn(n, n)
        self.b = torch.randn(n, n)
        self.x = torch.ones(1)
        self.info = {
            "wait_ms": float(p["wait_ms"]),
            "matmul_flops": 2.0 * n**3,
            "tiny_ops": self.tiny_ops,
            "torch_threads": torch.get_num_threads(),
        }

    def step(self) -> None:
        with self.ctx.region("data_loading", "wait for batch", expected_ms=self.wait_s * 1e3):
            time.sleep(self.wait_s)
        torch.mm(self.a, self.b)
        x = self.x
        for _ in range(self.tiny_ops):
            torch.add(x, x)


def build(ctx: Any) -> DispatchHeavyStep:
    return DispatchHeavyStep(ctx)
