"""The torch side of the data modes, shared by the torch implementations of the image and MLP scenarios.

Imported only by ``scenarios/*/torch_impl.py`` (it imports torch). :class:`TorchBatches` gives the
next ``(x, y)`` batch on the workload's device:

* ``ram``: a small pool of synthetic batches made once in memory.
* ``disk``: a ``DataLoader`` with ``loader_workers`` worker processes over the files written by
  :func:`scenarios.data.dataset.dataset_for`; each item is read and decoded in a worker, and each
  worker records ``read`` and ``decode`` spans under its own pid (:mod:`scenarios.data.spans`). The
  page cache is evicted before every epoch; workers are not persistent, so every epoch starts cold,
  as a first pass over a dataset larger than memory would.

The measured process's wait for the next batch is a ``data_loading`` span either way.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from typing import Any

import numpy as np
import torch

from scenarios.data.batches import EpochBatches
from scenarios.data.cache import filesystem_type
from scenarios.data.dataset import Dataset, dataset_for, decode_image_bytes, load_array_bytes
from scenarios.data.spans import SpanLog, collect


class FileDataset(torch.utils.data.Dataset):
    """Items read and decoded from the dataset's files, timed inside whichever process runs them."""

    def __init__(self, ds: Dataset, log: SpanLog) -> None:
        self.ds = ds
        self.log = log

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path = self.ds.path(i)
        t0 = time.monotonic_ns()
        with open(path, "rb") as f:
            data = f.read()
        t1 = time.monotonic_ns()
        if self.ds.kind == "image":
            arr = decode_image_bytes(data)
            # HWC uint8 -> CHW float in [0, 1]: the usual ToTensor conversion.
            x = torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)
        else:
            x = torch.from_numpy(load_array_bytes(data))
        t2 = time.monotonic_ns()
        self.log.add("read", t0, t1 - t0, file=self.ds.files[i], bytes=len(data))
        self.log.add("decode", t1, t2 - t1, file=self.ds.files[i])
        return x, self.ds.labels[i]


class TorchBatches(EpochBatches):
    """The next input batch for a torch workload, from memory or from disk."""

    def __init__(self, ctx: Any, device: torch.device, classes: int) -> None:
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.device = device
        self.batch = int(p["batch"])
        self.mode = spec.data
        self.info: dict[str, Any] = {"data": spec.data}
        self._i = 0
        self._it: Any = None
        if spec.data == "ram":
            g = torch.Generator().manual_seed(spec.seed)
            shape = (
                (3, int(p["image_size"]), int(p["image_size"]))
                if "image_size" in p
                else (int(p["layers"][0]),)
            )
            self.pool = [
                (
                    torch.rand((self.batch, *shape), generator=g).to(device),
                    torch.randint(0, classes, (self.batch,), generator=g).to(device),
                )
                for _ in range(2)
            ]
            return
        if spec.data != "disk":
            raise ValueError(f"unknown data mode {spec.data!r}; valid: ram, disk")
        self.ds = dataset_for(p, spec.seed)
        if len(self.ds) < self.batch:
            raise ValueError(f"dataset of {len(self.ds)} items is smaller than one batch of {self.batch}")
        # Loader span files are scratch: the spans end up in the run's events.
        self.span_dir = tempfile.mkdtemp(prefix="profiler-loader-spans-")
        self.workers = int(p.get("loader_workers", 2))
        self.loader = torch.utils.data.DataLoader(
            FileDataset(self.ds, SpanLog(self.span_dir)),
            batch_size=self.batch,
            shuffle=True,
            drop_last=True,
            num_workers=self.workers,
            generator=torch.Generator().manual_seed(spec.seed),
        )
        self.steps_per_epoch = len(self.ds) // self.batch
        self._left = 0  # batches left in the current epoch
        self.epochs = 0
        self.info.update(
            {
                "dataset": str(self.ds.root),
                "dataset_items": len(self.ds),
                "dataset_bytes": self.ds.nbytes(),
                "loader_workers": self.workers,
                "steps_per_epoch": self.steps_per_epoch,
                # tmpfs/ramfs: eviction cannot work there, "disk" would be memory
                "dataset_filesystem": filesystem_type(self.ds.root),
            }
        )

    def _epoch_iterator(self) -> Any:
        return iter(self.loader)

    def _on_device(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def close(self) -> None:
        """Stop the loader workers and merge the spans they recorded into the run."""
        if self.mode != "disk":
            return
        self._it = None
        spans = collect(self.span_dir)
        shutil.rmtree(self.span_dir, ignore_errors=True)
        pids = sorted({s.pid for s in spans})
        for n, pid in enumerate(pids):
            if hasattr(self.ctx, "name_process"):
                self.ctx.name_process(pid, f"DataLoader worker {n} (pid {pid})")
        if hasattr(self.ctx, "record_span"):
            for s in spans:
                self.ctx.record_span("data_loading", s.name, s.start_ns, s.dur_ns, s.pid, s.tid, **s.args)
        self.info["loader_spans"] = len(spans)
        self.info["loader_pids"] = len(pids)
        if spans:
            self.info["loader_busy_ms"] = float(np.sum([s.dur_ns for s in spans]) / 1e6)


class TorchModelWorkload:
    """One model, one optimizer (training) or none (inference), fed by :class:`TorchBatches`."""

    def __init__(self, ctx: Any, model: torch.nn.Module, classes: int) -> None:
        spec = ctx.spec
        self.ctx = ctx
        self.device = torch.device("cuda" if spec.device == "cuda" else "cpu")
        self.train = spec.mode == "train"
        self.model = model.to(self.device)
        self.model.train(self.train)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9) if self.train else None
        self.loss = torch.nn.CrossEntropyLoss()
        self.batches = TorchBatches(ctx, self.device, classes)
        self.info: dict[str, Any] = {
            # Trainable parameters; batch-norm running statistics are buffers and not counted, as
            # Keras counts them as non-trainable weights (compare checks this figure across frameworks).
            "parameters": sum(t.numel() for t in self.model.parameters()),
            "torch_threads": torch.get_num_threads(),
            "device_name": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
            **self.batches.info,
        }

    def step(self) -> None:
        x, y = self.batches.next()
        if self.train:
            assert self.opt is not None
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(x), y).backward()
            self.opt.step()
        else:
            with torch.inference_mode():
                self.model(x)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def close(self) -> None:
        self.batches.close()
        self.info.update(self.batches.info)


def setup(ctx: Any) -> None:
    """Thread count and seed, before the model is built."""
    if ctx.spec.threads:
        torch.set_num_threads(int(ctx.spec.threads))
    torch.manual_seed(ctx.spec.seed)
