"""Keras RNN classifier (Keras 3 on TensorFlow, the seed's "Keras(TF)" row): fused layer vs unrolled cell.

* ``fused`` — ``keras.layers.LSTM`` / ``keras.layers.GRU`` with their defaults. On a GPU Keras runs
  them as one cuDNN kernel (``CudnnRNNV3``); on a CPU Keras has no fused kernel and runs the cell's
  ops inside a ``tf.while_loop`` (one ``MatMul`` pair and the gate ops per iteration), so on this
  machine "fused" means "one graph loop", not one kernel — the trace shows it.
* ``unfused`` — ``keras.layers.RNN(LSTMCell/GRUCell, unroll=True)``: the cell unrolled into
  ``seq_len`` copies of its ops, the flexible form (a cell can be changed freely, e.g. layer norm).

Both are stepped with ``train_on_batch`` / ``predict_on_batch`` after ``compile`` (XLA off).
"""

from __future__ import annotations

from typing import Any

from scenarios.data.tf_input import setup, sync_devices, trainable_parameters
from scenarios.rnn.tensorflow_rnn import token_batches


def make_model(cell: str, variant: str, seq_len: int, vocab: int, embed: int, hidden: int, classes: int) -> Any:
    import keras

    if cell not in ("lstm", "gru"):
        raise ValueError(f"unknown cell {cell!r}; valid: lstm, gru")
    if variant == "fused":
        rnn = keras.layers.LSTM(hidden) if cell == "lstm" else keras.layers.GRU(hidden)
    elif variant == "unfused":
        c = keras.layers.LSTMCell(hidden) if cell == "lstm" else keras.layers.GRUCell(hidden)
        rnn = keras.layers.RNN(c, unroll=True)
    else:
        raise ValueError(f"unknown variant {variant!r}; valid: fused, unfused")
    return keras.Sequential(
        [
            keras.Input((seq_len,), dtype="int32"),
            keras.layers.Embedding(vocab, embed),
            rnn,
            keras.layers.Dense(classes),
        ]
    )


class KerasRNNWorkload:
    def __init__(self, ctx: Any) -> None:
        import keras

        facts = setup(ctx)
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.train = spec.mode == "train"
        self.model = make_model(
            p["cell"], spec.variant, p["seq_len"], p["vocab"], p["embed"], p["hidden"], p["classes"]
        )
        if self.train:
            self.model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=False,
            )
        self.batches = token_batches(ctx)
        self._i = 0
        self.info = {
            "parameters": trainable_parameters(self.model),
            "cell": p["cell"],
            "rnn_kernels": (
                "cuDNN (CudnnRNNV3) on a GPU; on CPU the cell's ops in a tf.while_loop"
                if spec.variant == "fused"
                else "the cell's ops unrolled seq_len times"
            ),
            "step": "keras " + ("train_on_batch" if self.train else "predict_on_batch"),
            "keras_version": keras.__version__,
            "data": "ram",
            **facts,
        }

    def step(self) -> None:
        with self.ctx.region("data_loading", "next_batch (ram)"):
            x, y = self.batches[self._i % len(self.batches)]
            self._i += 1
        if self.train:
            self.model.train_on_batch(x, y)
        else:
            self.model.predict_on_batch(x)

    def sync(self) -> None:
        sync_devices()


def build(ctx: Any) -> KerasRNNWorkload:
    return KerasRNNWorkload(ctx)
