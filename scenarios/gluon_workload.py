"""MXNet Gluon workloads shared by the image and MLP scenarios (no SCENARIO here).

One :class:`GluonWorkload` drives every MXNet implementation: a Gluon block built by the scenario's
``mxnet_impl`` module, run imperatively or hybridized (``net.hybridize(static_alloc=True)``: one
cached static graph with preallocated memory), training with ``gluon.Trainer`` (SGD, momentum 0.9)
and softmax cross-entropy, or inference with autograd off. MXNet queues every operator on its
engine threads and returns at once, so ``sync()`` is ``mx.nd.waitall()``: the step ends when its
work has run.

Input (``--data``):

* ``ram`` — a small pool of batches made once as NDArrays; fetching one is the loading cost;
* ``disk`` — the shared synthetic dataset (:mod:`scenarios.data`) decoded every epoch by a Gluon
  ``DataLoader`` with worker processes, the page cache evicted before each epoch. Each worker
  process records its decode spans (:mod:`scenarios.data.spans`); the main thread's wait for a
  batch is the ``data_loading`` region that the breakdown counts.

MXNet reads its thread settings (``MXNET_CPU_WORKER_NTHREADS``, ``OMP_NUM_THREADS``) from the
environment when it loads; the parent sets them before the worker starts, and :func:`mxnet_info`
records what MXNet itself sees.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from profiler.core.compat import import_mxnet

mx = import_mxnet()
from mxnet import autograd, gluon  # noqa: E402  (after the numpy aliases are restored)

#: Environment variables through which MXNet takes its thread settings.
MXNET_THREAD_VARS = ("MXNET_CPU_WORKER_NTHREADS", "OMP_NUM_THREADS", "MXNET_ENGINE_TYPE")


def mxnet_info() -> dict[str, Any]:
    """What MXNet reports about itself: version, build features, thread settings it reads."""
    feats = mx.runtime.Features()
    return {
        "mxnet_version": mx.__version__,
        "mxnet_features": sorted(
            n for n in ("MKLDNN", "OPENMP", "BLAS_OPEN", "BLAS_MKL", "CUDA", "CUDNN") if feats.is_enabled(n)
        ),
        # mx.util.getenv reads the variable through MXNet's own library: the value MXNet acts on.
        "mxnet_threads": {k: mx.util.getenv(k) for k in MXNET_THREAD_VARS},
        "mxnet_gpus": mx.context.num_gpus(),
    }


def trainable_parameters(net: gluon.Block) -> int:
    """Parameters that receive gradients (batch-norm running statistics are not among them)."""
    return int(sum(int(np.prod(p.shape)) for p in net.collect_params().values() if p.grad_req != "null"))


class _FileDataset(gluon.data.Dataset):
    """The shared disk dataset, decoded per item inside Gluon's loader processes."""

    def __init__(self, ds: Any, span_dir: str, image: bool) -> None:
        from scenarios.data.dataset import DecodedFiles

        self.files = DecodedFiles(ds, span_dir, image, np.float32)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        return self.files.item(i)


class GluonWorkload:
    def __init__(
        self,
        ctx: Any,
        make_net: Callable[[], gluon.HybridBlock],
        input_shape: tuple[int, ...],
        classes: int,
        train: bool,
        softmax_output: bool = False,
    ) -> None:
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.train = train
        self.softmax_output = softmax_output
        if spec.device == "cuda" and mx.context.num_gpus() == 0:
            raise RuntimeError("this MXNet build has no CUDA support (mx.context.num_gpus() == 0)")
        self.dev = mx.gpu(0) if spec.device == "cuda" else mx.cpu()
        mx.random.seed(spec.seed)
        np.random.seed(spec.seed)
        self.batch = int(p["batch"])
        self.net = make_net()
        self.net.initialize(mx.init.Xavier(), ctx=self.dev)
        if spec.variant == "hybridized":
            self.net.hybridize(static_alloc=True)
        elif spec.variant != "imperative":
            raise ValueError(f"unknown MXNet variant {spec.variant!r} (hybridized, imperative)")
        # One forward pass resolves Gluon's deferred parameter shapes, so they can be counted.
        self.net(mx.nd.zeros((self.batch, *input_shape), ctx=self.dev)).wait_to_read()
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.trainer = (
            gluon.Trainer(self.net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
            if train
            else None
        )
        self.data_mode = spec.data
        self._span_dir: str | None = None
        self._loader: Any = None
        self._it: Any = None
        self.epochs = 0
        if spec.data == "disk":
            self._open_disk(
                p, spec.seed, image=len(input_shape) == 3, workers=int(p.get("loader_workers", 2))
            )
        else:
            rng = np.random.default_rng(spec.seed)
            self.pool = [
                (
                    mx.nd.array(rng.random((self.batch, *input_shape), dtype=np.float32), ctx=self.dev),
                    mx.nd.array(rng.integers(0, classes, self.batch), ctx=self.dev),
                )
                for _ in range(2)
            ]
        self._i = 0
        self.info: dict[str, Any] = {
            "parameters": trainable_parameters(self.net),
            "input_shape": [self.batch, *input_shape],
            "data": spec.data,
            **mxnet_info(),
        }
        if "expected_params" in p:
            self.info["expected_params"] = int(p["expected_params"])

    # ------------------------------------------------------------------ input
    def _open_disk(self, p: dict[str, Any], seed: int, image: bool, workers: int) -> None:
        from scenarios.data.dataset import dataset_for

        self.dataset = dataset_for(p, seed)
        base = getattr(self.ctx.spec, "work_dir", None) or tempfile.gettempdir()
        self._span_dir = tempfile.mkdtemp(prefix="mxnet-loader-", dir=base if os.path.isdir(base) else None)
        self._loader = gluon.data.DataLoader(
            _FileDataset(self.dataset, self._span_dir, image),
            batch_size=self.batch,
            shuffle=False,
            last_batch="rollover",
            num_workers=workers,
        )

    def _new_epoch(self) -> None:
        from profiler.core.clock import now_ns
        from scenarios.data.cache import evict

        # Evict before the loader's processes start reading the epoch: disk means disk.
        t0 = now_ns()
        ev = evict(self.dataset.paths()).as_dict()
        self.ctx.record_span(
            "data_loading", "evict page cache", t0, now_ns() - t0, os.getpid(), 0, epoch=self.epochs, **ev
        )
        self.epochs += 1
        self._it = iter(self._loader)

    def _next_batch(self) -> tuple[Any, Any]:
        if self.data_mode != "disk":
            with self.ctx.region("data_loading", "next_batch (ram)"):
                b = self.pool[self._i % len(self.pool)]
                self._i += 1
                return b
        with self.ctx.region("data_loading", "next_batch (disk, gluon DataLoader)"):
            while True:
                if self._it is None:
                    self._new_epoch()
                try:
                    x, y = next(self._it)
                    break
                except StopIteration:
                    self._it = None
            return x.as_in_context(self.dev), y.as_in_context(self.dev)

    # ------------------------------------------------------------------- step
    def step(self) -> None:
        x, y = self._next_batch()
        if self.train:
            assert self.trainer is not None
            with autograd.record():
                loss = self.loss(self.net(x), y)
            loss.backward()
            self.trainer.step(self.batch)
        else:
            out = self.net(x)
            if self.softmax_output:
                out = mx.nd.softmax(out)

    def sync(self) -> None:
        mx.nd.waitall()

    def close(self) -> None:
        mx.nd.waitall()
        if self._loader is not None:
            self._it = None  # lets Gluon shut its worker pool down
        if self._span_dir:
            from scenarios.data.spans import collect

            # Decode spans written by the loader processes, on their own pids (their own tracks).
            spans = collect(self._span_dir)
            for pid in sorted({s.pid for s in spans}):
                self.ctx.name_process(pid, f"Gluon DataLoader worker (pid {pid})")
            for s in spans:
                self.ctx.record_span("data_loading", s.name, s.start_ns, s.dur_ns, s.pid, s.tid, **s.args)
            # recorded in run.json: the harness reads info again after close()
            self.info["epochs"] = self.epochs
            self.info["loader_processes"] = len({s.pid for s in spans})
            self.info["loader_decodes"] = len(spans)
            try:
                os.rmdir(self._span_dir)
            except OSError:
                pass
