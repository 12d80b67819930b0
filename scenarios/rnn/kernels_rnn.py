"""The RNN classifier on the toolkit's own kernels (framework ``numba``): ``kernels_fused``,
``kernels_unfused`` (CPU), ``kernels_fused_gpu`` and ``kernels_seq_gpu`` (need a GPU).

Same model as the torch implementation (embedding → one LSTM/GRU layer → linear head on the last
step), with the cells from :mod:`kernels.rnn_cpu` / :mod:`kernels.rnn_gpu`: the GEMMs are BLAS in both
CPU variants and only the elementwise cell differs (one fused pass vs one pass per op), so the A/B shows
what fusion alone buys. Each step is marked with ``op`` regions named so the breakdown classifies them
(``gemm …`` → compute, ``…_cell_elementwise`` → memory I/O, ``embedding gather`` → memory I/O).

**Training is not implemented**: in ``train`` mode the step runs the same forward pass and nothing
else; ``info["train"]`` says so and compare only ``infer`` runs with the other frameworks. Kernels are
compiled (or loaded from numba's cache) in ``build()``, so compile time never lands in a step.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from kernels.bytes_model import sequence_kernel_traffic, sequence_traffic
from kernels.weights import random_weights

FORWARD_ONLY = ("forward only: this implementation has no backward pass, so a train step is the "
                "inference forward pass; compare --mode infer")


class KernelRNNWorkload:
    def __init__(self, ctx: Any) -> None:
        import numba

        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.cell_kind = p["cell"]
        self.gpu = spec.variant in ("kernels_fused_gpu", "kernels_seq_gpu")
        self.whole_sequence = spec.variant == "kernels_seq_gpu"
        if spec.variant not in ("kernels_fused", "kernels_unfused", "kernels_fused_gpu", "kernels_seq_gpu"):
            raise ValueError(f"unknown variant {spec.variant!r}")
        fused = spec.variant != "kernels_unfused"
        if spec.threads:
            numba.set_num_threads(min(int(spec.threads), numba.config.NUMBA_NUM_THREADS))
        b, t_len, e, hd = p["batch"], p["seq_len"], p["embed"], p["hidden"]
        rng = np.random.default_rng(spec.seed)
        self.weights = random_weights(self.cell_kind, e, hd, seed=spec.seed)
        self.embedding = rng.standard_normal((p["vocab"], e)).astype(np.float32)
        self.head_w = rng.uniform(-hd**-0.5, hd**-0.5, (p["classes"], hd)).astype(np.float32)
        self.head_b = np.zeros(p["classes"], np.float32)
        # A small pool of synthetic token batches made once in memory ("--data ram").
        self.batches = [rng.integers(0, p["vocab"], (t_len, b)) for _ in range(4)]
        self._i = 0
        t0 = time.perf_counter()
        if self.gpu:
            self._build_gpu(b)
        else:
            from threadpoolctl import threadpool_limits

            from kernels.rnn_cpu import CPUCell, compile_all

            # The per-step GEMMs (batch × hidden × 4·hidden) are small: one BLAS thread does them
            # fastest, and a second spinning BLAS pool beside numba's own threads stalls steps for
            # 100+ ms on a 2-core machine (measured: max step 442 ms vs 11.8 ms with one BLAS thread).
            self._blas_limit = threadpool_limits(limits=1, user_api="blas")
            compile_all((self.cell_kind,))
            self.layer = CPUCell(self.weights, fused, b)
            self.out = np.empty((t_len, b, hd), np.float32)
        compile_s = time.perf_counter() - t0
        traffic = sequence_traffic(self.cell_kind, fused, t_len, b, e, hd)
        self.info = {
            "cell": self.cell_kind,
            "kernel": "input GEMM (torch.mm) + one numba.cuda launch per sequence" if self.whole_sequence
            else "numba.cuda fused cell + cuBLAS (torch.mm) GEMMs" if self.gpu
            else f"numba {'fused' if fused else 'unfused'} cell + numpy BLAS GEMMs",
            "numba_threads": numba.get_num_threads(),
            "blas_threads": None if self.gpu else 1,
            "compile_or_cache_load_s": round(compile_s, 3),
            "parameters": int(sum(a.size for a in (self.weights.w_ih, self.weights.w_hh, self.weights.b_ih,
                                                   self.weights.b_hh, self.embedding, self.head_w,
                                                   self.head_b))),
            "bytes_per_step": {k: v.bytes for k, v in traffic.items()},
            "flops_per_step": {k: v.flops for k, v in traffic.items()},
            "elementwise_passes_per_step": traffic["cell"].passes,
            **({"sequence_kernel": sequence_kernel_traffic(self.cell_kind, t_len, b, hd).as_dict()}
               if self.whole_sequence else {}),
            "device_name": self._device_name if self.gpu else "cpu",
        }
        if spec.mode == "train":
            self.info["train"] = FORWARD_ONLY
            ctx.log(f"{spec.variant}: {FORWARD_ONLY}")

    # -- GPU ----------------------------------------------------------------------------------------
    def _build_gpu(self, batch: int) -> None:
        import torch

        from kernels.rnn_gpu import GPUCell

        self.layer = GPUCell(self.weights, batch)  # raises UnavailableError without a GPU
        dev = torch.device("cuda")
        self._device_name = torch.cuda.get_device_name()
        self.t_embedding = torch.from_numpy(self.embedding).to(dev)
        self.t_head_w = torch.from_numpy(self.head_w).to(dev)
        self.t_batches = [torch.from_numpy(x).to(dev) for x in self.batches]
        self._forward = self.layer.forward_sequence if self.whole_sequence else self.layer.forward
        self._forward(self.t_embedding[self.t_batches[0]])  # compile the kernel now
        torch.cuda.synchronize()

    # -- a step -------------------------------------------------------------------------------------
    def _region(self, name: str) -> AbstractContextManager[None]:
        return self.ctx.region("op", name)

    def step(self) -> None:
        with self.ctx.region("data_loading", "next_batch (ram)"):
            k = self._i % len(self.batches)
            self._i += 1
        if self.gpu:
            hs = self._forward(self.t_embedding[self.t_batches[k]])
            self.logits = hs[-1] @ self.t_head_w.T
            return
        tokens = self.batches[k]
        with self._region("embedding gather"):
            xs = np.take(self.embedding, tokens, axis=0)  # (T, B, E), C-contiguous
        hs = self.layer.forward(xs, out=self.out, region=self._region)
        with self._region("linear head"):
            self.logits = hs[-1] @ self.head_w.T + self.head_b

    def sync(self) -> None:
        if self.gpu:
            import torch

            torch.cuda.synchronize()


def build(ctx: Any) -> KernelRNNWorkload:
    return KernelRNNWorkload(ctx)
