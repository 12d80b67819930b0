"""Framework-free input-data helpers shared by every framework's scenario implementations.

``--data ram`` and ``--data disk`` (``WorkloadSpec.data``) mean the same thing in every framework:

* **ram** — synthetic tensors made once in memory; fetching a batch is the whole loading cost.
* **disk** — a synthetic dataset written once as real files (JPEG images via Pillow, or ``.npy``
  feature vectors for the MLP scenarios) and decoded on every epoch through the framework's own
  input pipeline (torch ``DataLoader`` with worker processes, ``tf.data``, Gluon ``DataLoader``,
  Chainer iterators), with the page cache evicted before each epoch so that disk means disk.

What to use (nothing here imports a framework; Pillow and numpy only, imported where needed):

* :func:`scenarios.data.dataset.image_dataset` / :func:`~scenarios.data.dataset.array_dataset` —
  write (once, cached) and return a :class:`~scenarios.data.dataset.Dataset`: the file list, labels
  and shape. ``dataset_dir(spec)`` picks the cache directory.
* :func:`scenarios.data.dataset.decode_image` — one file to an HWC ``uint8`` array, the same decode
  for every framework.
* :func:`scenarios.data.cache.evict` — ``posix_fadvise(POSIX_FADV_DONTNEED)`` over a dataset's
  files; call it at the start of each epoch.
* :mod:`scenarios.data.spans` — record data-loading spans from loader *worker processes* (their own
  pid) into a side file that the workload merges into the run's events (``ctx.record_span``), so
  loading that happens outside the measured process still shows in the trace.

Each framework's own input side lives next to these (it imports its framework, so only that
framework's implementation modules import it): :mod:`scenarios.data.torch_input` is the torch one
and a worked example of all of the above.
"""
