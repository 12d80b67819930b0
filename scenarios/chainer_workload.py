"""Chainer workloads shared by the image and MLP scenarios (no SCENARIO here).

One :class:`ChainerWorkload` drives every Chainer implementation: a ``chainer.Link`` built by the
scenario's ``chainer_impl`` module, trained with ``MomentumSGD`` (lr 0.01, momentum 0.9) and softmax
cross-entropy, or run for inference with ``train=False`` and backprop disabled. Chainer runs
define-by-run on NumPy (CuPy on a GPU), so a step's work is done when ``step()`` returns on a CPU;
``sync()`` waits for the CUDA stream when arrays live on a GPU.

Chainer's optimizer update runs as plain array code rather than as Chainer functions, so the function
hooks of the ``chainer`` probe do not see it; the step records it as an ``op`` span
(``optimizer.update (MomentumSGD)``), an elementwise pass over every parameter.

Input (``--data``):

* ``ram`` — a small pool of batches made once as arrays;
* ``disk`` — the shared synthetic dataset (:mod:`scenarios.data`) decoded every epoch by Chainer's
  ``MultiprocessIterator`` (worker processes), the page cache evicted before each epoch. Worker
  processes record their decode spans (:mod:`scenarios.data.spans`); the main thread's wait for a
  batch is the ``data_loading`` region.

Thread settings: Chainer's CPU work is NumPy's BLAS, which takes ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` from the environment the parent sets before the worker starts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import chainer
import chainer.functions as F
import numpy as np

from profiler.core.clock import now_ns

#: Environment variables through which NumPy's BLAS (Chainer's CPU backend) takes its thread count.
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def chainer_info() -> dict[str, Any]:
    """Versions and thread settings as Chainer and NumPy see them."""
    from chainer.backends import cuda

    blas = None
    try:  # numpy 1.26 describes its BLAS build here
        cfg = np.show_config(mode="dicts")
        blas = (cfg.get("Build Dependencies", {}).get("blas", {}) or {}).get("name")
    except Exception:
        pass
    return {
        "chainer_version": chainer.__version__,
        "numpy_version": np.__version__,
        "numpy_blas": blas,
        "cupy_available": bool(cuda.available),
        "blas_threads": {k: os.environ.get(k) for k in BLAS_THREAD_VARS},
    }


class _FileDataset(chainer.dataset.DatasetMixin):
    """The shared disk dataset, decoded per item inside the iterator's worker processes."""

    def __init__(self, ds: Any, span_dir: str, image: bool) -> None:
        from scenarios.data.dataset import DecodedFiles

        self.files = DecodedFiles(ds, span_dir, image, np.int32)

    def __len__(self) -> int:
        return len(self.files)

    def get_example(self, i: int) -> tuple[np.ndarray, Any]:
        return self.files.item(i)


class ChainerWorkload:
    def __init__(
        self,
        ctx: Any,
        make_model: Callable[[], chainer.Link],
        input_shape: tuple[int, ...],
        classes: int,
        train: bool,
        forward: Callable[[chainer.Link, Any], Any] | None = None,
        parameters: int | None = None,
    ) -> None:
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.train = train
        self.batch = int(p["batch"])
        if spec.variant != "default":
            raise ValueError(f"unknown Chainer variant {spec.variant!r} (default)")
        np.random.seed(spec.seed)
        self.model = make_model()
        self.device = chainer.get_device("@cupy:0" if spec.device == "cuda" else "@numpy")
        self.model.to_device(self.device)
        self.forward = forward or (lambda m, x: m(x))
        self.opt = None
        if train:
            self.opt = chainer.optimizers.MomentumSGD(lr=0.01, momentum=0.9)
            self.opt.setup(self.model)
        self.data_mode = spec.data
        self._span_dir: str | None = None
        self._iter: Any = None
        self._epoch_started = False
        self.epochs = 0
        if spec.data == "disk":
            self._open_disk(
                p, spec.seed, image=len(input_shape) == 3, workers=int(p.get("loader_workers", 2))
            )
        else:
            rng = np.random.default_rng(spec.seed)
            self.pool = [
                (
                    self.device.send(rng.random((self.batch, *input_shape), dtype=np.float32)),
                    self.device.send(rng.integers(0, classes, self.batch).astype(np.int32)),
                )
                for _ in range(2)
            ]
        self._i = 0
        n_params = parameters if parameters is not None else int(sum(q.size for q in self.model.params()))
        self.info: dict[str, Any] = {
            "parameters": n_params,
            "input_shape": [self.batch, *input_shape],
            "data": spec.data,
            **chainer_info(),
        }
        if "expected_params" in p:
            self.info["expected_params"] = int(p["expected_params"])

    # ------------------------------------------------------------------ input
    def _open_disk(self, p: dict[str, Any], seed: int, image: bool, workers: int) -> None:
        from scenarios.data.dataset import dataset_for

        self.dataset = dataset_for(p, seed)
        base = getattr(self.ctx.spec, "work_dir", None)
        self._span_dir = tempfile.mkdtemp(
            prefix="chainer-loader-", dir=base if base and os.path.isdir(base) else None
        )
        # Without shared_mem the iterator decodes a first batch in this process to size its shared
        # memory; giving the size (one decoded float32 example, plus room for the label) keeps every
        # decode in the worker processes.
        example_bytes = int(np.prod(self.dataset.shape)) * 4
        self._iter = chainer.iterators.MultiprocessIterator(
            _FileDataset(self.dataset, self._span_dir, image),
            self.batch,
            repeat=False,
            shuffle=False,
            n_processes=workers,
            shared_mem=example_bytes + 4096,
        )

    def _evict(self) -> None:
        from scenarios.data.cache import evict

        t0 = now_ns()
        ev = evict(self.dataset.paths()).as_dict()
        self.ctx.record_span(
            "data_loading", "evict page cache", t0, now_ns() - t0, os.getpid(), 0, epoch=self.epochs, **ev
        )
        self.epochs += 1

    def _next_batch(self) -> tuple[Any, Any]:
        if self.data_mode != "disk":
            with self.ctx.region("data_loading", "next_batch (ram)"):
                b = self.pool[self._i % len(self.pool)]
                self._i += 1
                return b
        with self.ctx.region("data_loading", "next_batch (disk, chainer MultiprocessIterator)"):
            if not self._epoch_started:
                # The iterator starts its prefetch on the first next(); evicting first makes the
                # whole first epoch read from disk. Later epochs: evict, then reset.
                self._evict()
                self._epoch_started = True
            while True:
                try:
                    items = next(self._iter)
                except StopIteration:
                    self._evict()
                    self._iter.reset()
                    continue
                if len(items) == self.batch:
                    break
                # a short last batch would change the step's shape: skip it, as Gluon's rollover does
            x, t = chainer.dataset.concat_examples(items, self.device)
            return x, t

    # ------------------------------------------------------------------- step
    def step(self) -> None:
        x, t = self._next_batch()
        if self.train:
            assert self.opt is not None
            loss = F.softmax_cross_entropy(self.forward(self.model, x), t)
            self.model.cleargrads()
            loss.backward()
            with self.ctx.region("op", f"optimizer.update ({type(self.opt).__name__})"):
                self.opt.update()
        else:
            with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
                self.forward(self.model, x)

    def sync(self) -> None:
        if self.device.xp is not np:
            self.device.device.synchronize()

    def close(self) -> None:
        if self._iter is not None:
            self._iter.finalize()
        if self._span_dir:
            from scenarios.data.spans import collect

            spans = collect(self._span_dir)
            for pid in sorted({s.pid for s in spans}):
                self.ctx.name_process(pid, f"Chainer MultiprocessIterator worker (pid {pid})")
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
