"""The TensorFlow/Keras side of the scenarios: process settings, the data modes, and the two step styles.

Imported only by ``scenarios/*/tensorflow_impl.py``, ``scenarios/*/keras_impl.py`` and the TF RNN
modules (it imports TensorFlow).

* :func:`setup` — thread pools, seeds and device visibility, applied *before* anything is built
  (TF fixes its thread pools when the first op runs; later calls raise or are ignored).
* :class:`TfBatches` — the next ``(x, y)`` batch:

  - ``ram``: two synthetic batches made once in memory;
  - ``disk``: a ``tf.data`` pipeline over the files of :func:`scenarios.data.dataset.dataset_for`:
    ``read_file`` → ``decode_jpeg`` (images; TF's own decoder) or the raw float32 payload of the
    ``.npy`` files (arrays) → ``batch`` → ``prefetch``, with ``loader_workers`` parallel map calls
    (TF threads, not processes). The page cache is evicted and a fresh iterator made at every
    epoch, so every epoch starts cold.

  The step's wait for the next batch is a ``data_loading`` span either way.
* :class:`TfFunctionWorkload` — the seed's "TensorFlow" row: a ``tf.function``-compiled step
  (``GradientTape`` + SGD with momentum for training, a forward pass for inference).
* :class:`KerasWorkload` — the seed's "Keras(TF)" row: ``model.compile`` then ``train_on_batch`` /
  ``predict_on_batch``, Keras's own compiled train/predict functions (XLA off, as in TF's default).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from profiler.core.errors import UnavailableError
from scenarios.data.batches import EpochBatches
from scenarios.data.dataset import Dataset, dataset_for


def setup(ctx: Any) -> dict[str, Any]:
    """Thread pools, seeds, device visibility; returns facts for ``info``. Call before building."""
    spec = ctx.spec
    facts: dict[str, Any] = {}
    if spec.threads:
        # Intra-op: threads one op (a GEMM, a convolution) may use. Inter-op: ops run concurrently.
        # The parent also sets OMP/MKL/TF env vars; these calls are what TF's runtime reads.
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(spec.threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(spec.threads))
        except RuntimeError as e:  # TF ran an op already (never in a fresh worker): say so, go on
            facts["threads_note"] = f"thread pools not changed: {e}"
            ctx.log(f"TensorFlow thread settings not applied: {e}")
    gpus = tf.config.list_physical_devices("GPU")
    if spec.device == "cuda" and not gpus:
        raise UnavailableError("TensorFlow sees no GPU here (a CPU-only build, or no CUDA device)")
    if spec.device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")  # --device cpu means the CPU even on a GPU machine
    tf.keras.utils.set_random_seed(spec.seed)
    return {
        **facts,
        "tf_version": tf.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "device_name": (gpus[0].name if spec.device == "cuda" else "cpu"),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 CPUs)"),
    }


def trainable_parameters(model: Any) -> int:
    """Trainable weights (batch-norm moving statistics are non-trainable and not counted)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def sync_devices() -> None:
    """Wait for queued device work; on CPU every op has finished when a tf.function returns."""
    fn = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    if fn is not None and tf.config.list_logical_devices("GPU"):
        fn()


def _input_shape(p: dict[str, Any]) -> tuple[int, ...]:
    if "image_size" in p:
        s = int(p["image_size"])
        return (s, s, 3)  # NHWC: TF's native layout on CPU
    return (int(p["layers"][0]),)


class TfBatches(EpochBatches):
    """The next input batch for a TF or Keras workload, from memory or through ``tf.data``."""

    def __init__(self, ctx: Any, classes: int) -> None:
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.batch = int(p["batch"])
        self.mode = spec.data
        self.shape = _input_shape(p)
        self.info: dict[str, Any] = {"data": spec.data}
        self._i = 0
        if spec.data == "ram":
            g = tf.random.Generator.from_seed(spec.seed)
            self.pool = [
                (
                    g.uniform((self.batch, *self.shape)),
                    g.uniform((self.batch,), 0, classes, dtype=tf.int32),
                )
                for _ in range(2)
            ]
            return
        if spec.data != "disk":
            raise ValueError(f"unknown data mode {spec.data!r}; valid: ram, disk")
        self.ds = dataset_for(p, spec.seed)
        if len(self.ds) < self.batch:
            raise ValueError(f"dataset of {len(self.ds)} items is smaller than one batch of {self.batch}")
        self.workers = int(p.get("loader_workers", 2))
        self.pipeline = self._pipeline(self.ds, spec.seed)
        self.steps_per_epoch = len(self.ds) // self.batch
        self._left = 0
        self._it: Any = None
        self.epochs = 0
        self.info.update(
            {
                "dataset": str(self.ds.root),
                "dataset_items": len(self.ds),
                "dataset_bytes": self.ds.nbytes(),
                "loader": f"tf.data, {self.workers} parallel map calls, prefetch 1",
                "steps_per_epoch": self.steps_per_epoch,
            }
        )

    def _pipeline(self, ds: Dataset, seed: int) -> tf.data.Dataset:
        paths = [str(x) for x in ds.paths()]
        labels = np.asarray(ds.labels, dtype=np.int32)
        if ds.kind == "image":
            size = self.shape[0]

            def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
                img = tf.image.convert_image_dtype(img, tf.float32)  # uint8 -> [0, 1], like ToTensor
                return tf.ensure_shape(img, (size, size, 3)), label

        else:
            # .npy = a header then the raw little-endian float32 payload; every file of a dataset has
            # the same shape, so the same header length: read it once, slice it off in the graph.
            with open(paths[0], "rb") as f:
                head = f.read(10)
            major = head[6]
            hlen = int.from_bytes(head[8:10], "little") + 10 if major == 1 else None
            if hlen is None:
                raise ValueError(f"{paths[0]}: unsupported .npy version {major}")
            feats = self.shape[0]

            def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                raw = tf.strings.substr(tf.io.read_file(path), hlen, feats * 4)
                return tf.reshape(tf.io.decode_raw(raw, tf.float32), (feats,)), label

        return (
            tf.data.Dataset.from_tensor_slices((paths, labels))
            .shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
            .map(load, num_parallel_calls=self.workers, deterministic=False)
            .batch(self.batch, drop_remainder=True)
            .prefetch(1)
        )

    loader_name = "tf.data"

    def _epoch_iterator(self) -> Any:
        return iter(self.pipeline)

    def close(self) -> None:
        self._it = None


class TfFunctionWorkload:
    """A Keras-built model driven by a ``tf.function`` step (the seed's "TensorFlow" row)."""

    def __init__(self, ctx: Any, model: Any, classes: int, facts: dict[str, Any]) -> None:
        self.ctx = ctx
        self.model = model
        self.train = ctx.spec.mode == "train"
        self.batches = TfBatches(ctx, classes)
        # autograph=False: the steps have no tensor-dependent Python control flow, so AutoGraph's
        # source rewriting only lengthens the first (excluded) step: DenseNet-121 training traced in
        # 14.5 instead of 17.4 CPU-s, the same graph either way.
        if self.train:
            self.opt = tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
            self.loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self._fn = tf.function(self._train_step, autograph=False)
        else:
            self._fn = tf.function(self._infer_step, autograph=False)
        self.info: dict[str, Any] = {
            "parameters": trainable_parameters(model),
            "step": "tf.function (" + ("GradientTape + SGD momentum" if self.train else "forward") + ")",
            **facts,
            **self.batches.info,
        }

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = self.loss(y, self.model(x, training=True))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return loss

    def _infer_step(self, x: tf.Tensor) -> tf.Tensor:
        return self.model(x, training=False)

    def step(self) -> None:
        x, y = self.batches.next()
        if self.train:
            self._fn(x, y)
        else:
            self._fn(x)

    def sync(self) -> None:
        sync_devices()

    def close(self) -> None:
        self.batches.close()
        self.info.update(self.batches.info)


class KerasWorkload:
    """A compiled Keras model stepped with ``train_on_batch`` / ``predict_on_batch`` ("Keras(TF)")."""

    def __init__(self, ctx: Any, model: Any, classes: int, facts: dict[str, Any]) -> None:
        import keras

        self.ctx = ctx
        self.model = model
        self.train = ctx.spec.mode == "train"
        self.batches = TfBatches(ctx, classes)
        if self.train:
            model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=False,
            )
        self.info: dict[str, Any] = {
            "parameters": trainable_parameters(model),
            "step": "keras " + ("train_on_batch" if self.train else "predict_on_batch"),
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
            **facts,
            **self.batches.info,
        }

    def step(self) -> None:
        x, y = self.batches.next()
        if self.train:
            self.model.train_on_batch(x, y)  # returns the loss as numpy: the step has finished
        else:
            self.model.predict_on_batch(x)

    def sync(self) -> None:
        sync_devices()

    def close(self) -> None:
        self.batches.close()
        self.info.update(self.batches.info)
