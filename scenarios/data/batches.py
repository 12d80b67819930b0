"""Batches for a workload's step, the same way in every framework (framework-free).

``--data ram``: a small pool of batches made once in memory; fetching one is the whole data-loading
cost. ``--data disk``: the framework's own loader over the dataset files, epoch by epoch, with the
page cache evicted before each epoch so that disk means disk. Either way the step's wait for its
batch is a ``data_loading`` region. A framework's input class sets ``ctx``, ``mode``, ``pool``,
``ds``, ``steps_per_epoch`` and ``info``, and supplies :meth:`EpochBatches._epoch_iterator`.
"""

from __future__ import annotations

from typing import Any

from scenarios.data.cache import evict_for_epoch


class EpochBatches:
    #: how the disk loader is named in the data-loading region
    loader_name = "disk"

    ctx: Any
    mode: str
    pool: list[Any]
    ds: Any
    steps_per_epoch: int
    info: dict[str, Any]
    _i = 0  # next batch of the RAM pool
    _left = 0  # batches left in the current epoch
    epochs = 0
    _it: Any = None

    def _epoch_iterator(self) -> Any:
        """A fresh iterator over one epoch of the framework's loader."""
        raise NotImplementedError

    def _on_device(self, batch: Any) -> Any:
        """A batch from the loader, moved to where the step runs (identity by default)."""
        return batch

    def _new_epoch(self) -> None:
        self._it = None  # shut down the last epoch's loader (and its workers) before evicting
        evict_for_epoch(self.ctx, self.ds.paths(), self.info, self.epochs)
        self.epochs += 1
        self.info["epochs"] = self.epochs
        self._it = self._epoch_iterator()
        self._left = self.steps_per_epoch

    def next(self) -> Any:
        if self.mode == "ram":
            with self.ctx.region("data_loading", "next_batch (ram)"):
                b = self.pool[self._i % len(self.pool)]
                self._i += 1
                return b
        if self._left == 0:
            self._new_epoch()
        with self.ctx.region("data_loading", f"next_batch ({self.loader_name})", epoch=self.epochs):
            b = next(self._it)
            self._left -= 1
            return self._on_device(b)
