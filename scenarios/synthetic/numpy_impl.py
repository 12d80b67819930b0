"""The ``synthetic`` step in numpy: wait, matmul, copy, each marked with what it costs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class SyntheticStep:
    def __init__(self, ctx: Any) -> None:
        p = ctx.params
        self.ctx = ctx
        self.wait_s = float(p["wait_ms"]) / 1e3
        n = int(p["n"])
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((n, n), dtype=np.float32)
        self.b = rng.standard_normal((n, n), dtype=np.float32)
        self.c = np.empty((n, n), np.float32)
        words = int(p["copy_mb"]) * 2**20 // 4
        self.src = np.ones(words, np.float32)
        self.dst = np.empty_like(self.src)
        self.matmul_flops = 2.0 * n**3
        self.matmul_bytes = 3.0 * 4 * n * n
        self.copy_bytes = 2.0 * self.src.nbytes  # read + write
        self.info = {
            "wait_ms": float(p["wait_ms"]),
            "matmul_flops": self.matmul_flops,
            "matmul_bytes": self.matmul_bytes,
            "copy_bytes": self.copy_bytes,
        }

    def step(self) -> None:
        with self.ctx.region("data_loading", "wait for batch", expected_ms=self.wait_s * 1e3):
            time.sleep(self.wait_s)
        with self.ctx.region("op", "matmul", flops=self.matmul_flops, bytes=self.matmul_bytes):
            np.matmul(self.a, self.b, out=self.c)
        with self.ctx.region("op", "copy", flops=0.0, bytes=self.copy_bytes):
            np.copyto(self.dst, self.src)


def build(ctx: Any) -> SyntheticStep:
    return SyntheticStep(ctx)
