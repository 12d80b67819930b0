"""MXNet Gluon RNN classifier: fused ``gluon.rnn.LSTM``/``GRU`` vs the cells unrolled step by step.

* ``fused``   — ``gluon.rnn.LSTM``/``gluon.rnn.GRU``: one ``RNN`` operator for the whole sequence
  (cuDNN on a GPU; MXNet's fused CPU kernel, oneDNN where built with it, on a CPU);
* ``unfused`` — ``gluon.rnn.LSTMCell``/``GRUCell`` ``.unroll()``: per time step two
  ``FullyConnected`` GEMMs plus the gate slicing and elementwise activations as separate operators,
  each one engine operation and one pass over memory.

Both are hybridized (``static_alloc=True``) so the comparison is fused vs unfused *kernels*, not
Python dispatch: a hybridized unroll is still one operator per gate operation per time step. The
cells use Gluon's gate layouts (LSTM i, f, g, o; GRU r, z, n as cuDNN defines it), so both variants
compute the same function family with the same parameter count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenarios.gluon_workload import autograd, gluon, mx, mxnet_info, trainable_parameters


class RNNClassifier(gluon.HybridBlock):
    """Embedding → RNN over time (layout TNC) → the last step's output → Dense."""

    def __init__(
        self, cell: str, variant: str, vocab: int, embed: int, hidden: int, classes: int, seq_len: int
    ) -> None:
        super().__init__()
        self.seq_len, self.variant = seq_len, variant
        with self.name_scope():
            self.embedding = gluon.nn.Embedding(vocab, embed)
            if variant == "fused":
                layer = gluon.rnn.LSTM if cell == "lstm" else gluon.rnn.GRU
                self.rnn = layer(hidden, layout="TNC", input_size=embed)
            elif variant == "unfused":
                cls = gluon.rnn.LSTMCell if cell == "lstm" else gluon.rnn.GRUCell
                self.rnn = cls(hidden, input_size=embed)
            else:
                raise ValueError(f"unknown variant {variant!r} (fused, unfused)")
            self.head = gluon.nn.Dense(classes, in_units=hidden)

    def hybrid_forward(self, F: Any, tokens: Any) -> Any:  # tokens: (seq, batch)
        x = self.embedding(tokens)
        if self.variant == "fused":
            out = self.rnn(x)
        else:
            out, _ = self.rnn.unroll(self.seq_len, x, layout="TNC", merge_outputs=True)
        last = F.squeeze(F.slice_axis(out, axis=0, begin=self.seq_len - 1, end=self.seq_len), axis=0)
        return self.head(last)


class MxnetRNNWorkload:
    def __init__(self, ctx: Any) -> None:
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        self.train = spec.mode == "train"
        if spec.device == "cuda" and mx.context.num_gpus() == 0:
            raise RuntimeError("this MXNet build has no CUDA support (mx.context.num_gpus() == 0)")
        self.dev = mx.gpu(0) if spec.device == "cuda" else mx.cpu()
        mx.random.seed(spec.seed)
        seq, batch = int(p["seq_len"]), int(p["batch"])
        self.batch = batch
        self.net = RNNClassifier(
            p["cell"],
            spec.variant,
            int(p["vocab"]),
            int(p["embed"]),
            int(p["hidden"]),
            int(p["classes"]),
            seq,
        )
        self.net.initialize(mx.init.Xavier(), ctx=self.dev)
        self.net.hybridize(static_alloc=True)
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.trainer = (
            gluon.Trainer(self.net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
            if self.train
            else None
        )
        # A small pool of synthetic batches made once in memory ("--data ram"), as the torch version.
        rng = np.random.default_rng(spec.seed)
        self.batches = [
            (
                mx.nd.array(rng.integers(0, int(p["vocab"]), (seq, batch)), ctx=self.dev),
                mx.nd.array(rng.integers(0, int(p["classes"]), batch), ctx=self.dev),
            )
            for _ in range(4)
        ]
        self.net(self.batches[0][0]).wait_to_read()  # resolves deferred shapes so they can be counted
        self._i = 0
        self.info = {"parameters": trainable_parameters(self.net), "cell": p["cell"], **mxnet_info()}

    def _next_batch(self) -> tuple[Any, Any]:
        with self.ctx.region("data_loading", "next_batch (ram)"):
            b = self.batches[self._i % len(self.batches)]
            self._i += 1
            return b

    def step(self) -> None:
        x, y = self._next_batch()
        if self.train:
            assert self.trainer is not None
            with autograd.record():
                loss = self.loss(self.net(x), y)
            loss.backward()
            self.trainer.step(self.batch)
        else:
            self.net(x)

    def sync(self) -> None:
        mx.nd.waitall()


def build(ctx: Any) -> MxnetRNNWorkload:
    return MxnetRNNWorkload(ctx)
