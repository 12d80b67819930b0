"""TensorFlow RNN classifier in ``tf.function``: TF's fused RNN kernels vs the same cell math as separate ops.

Variants and the TF op kernels that run (check them in the trace's top-ops table):

* ``fused`` — LSTM: one ``BlockLSTMV2`` op for the whole sequence (TF's fused LSTM kernel: per time
  step one GEMM over ``[x_t, h]`` and one pass over the gates, inside a single op; gradient
  ``BlockLSTMGradV2``, wired in by hand since TF's registered one is wrong for V2: see
  :func:`block_lstm`); GRU: one ``GRUBlockCell`` op per step (TF's fused GRU cell: both gate GEMMs
  and all gate math in one kernel; TF has no whole-sequence GRU kernel outside cuDNN), with its
  ``GRUBlockCellGrad`` gradient wired in by hand because TF registers none for it.
* ``unfused`` — the same equations as ``MatMul`` + ``AddV2`` + ``Sigmoid``/``Tanh``/``Mul`` ops per
  time step, the Python loop unrolled into the graph when the ``tf.function`` is traced (on x86
  TF's graph rewriter turns the GEMMs into oneDNN ``_MklMatMul``).

Both variants hold the same variables (input and recurrent weights apart; the fused path
concatenates them once per step call, as the kernels want ``[x, h] @ W``), so they have the same
parameter count and, with the same seed, compute the same function (a test checks this). Gate
layouts follow the fused kernels: LSTM ``i, f, c, o`` (``BlockLSTMV2``, checked numerically), GRU ``r, u`` then the
candidate ``c`` with ``h = u * h_prev + (1 - u) * c`` (``GRUBlockCell``).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from scenarios.data.tf_input import setup, sync_devices


def token_batches(ctx: Any, pool: int = 4) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """A small pool of synthetic ``(tokens[batch, seq], labels[batch])`` made once in memory."""
    p = ctx.params
    g = tf.random.Generator.from_seed(ctx.spec.seed)
    return [
        (
            g.uniform((int(p["batch"]), int(p["seq_len"])), 0, int(p["vocab"]), dtype=tf.int32),
            g.uniform((int(p["batch"]),), 0, int(p["classes"]), dtype=tf.int32),
        )
        for _ in range(pool)
    ]


@tf.custom_gradient
def block_lstm(x: tf.Tensor, cs0: tf.Tensor, h0: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> Any:
    """``BlockLSTMV2`` over the whole sequence (no peepholes), returning ``h`` of every step.

    TF registers ``BlockLSTMV2``'s gradient as the V1 ``BlockLSTMGrad`` kernel, which reads the gates
    in V1's ``i, c, f, o`` order while V2 writes them as ``i, f, c, o``: the weight gradients come
    out wrong (checked against autodiff of the same equations). ``BlockLSTMGradV2`` is used instead.
    """
    seq = tf.cast(tf.shape(x)[0], tf.int64)
    z = tf.zeros(tf.shape(b)[:1] // 4)
    i, cs, f, o, ci, co, h = tf.raw_ops.BlockLSTMV2(
        seq_len_max=seq, x=x, cs_prev=cs0, h_prev=h0, w=w, wci=z, wcf=z, wco=z, b=b,
        cell_clip=0.0, use_peephole=False,
    )  # fmt: skip

    def grad(dh: tf.Tensor) -> tuple[tf.Tensor, ...]:
        dx, dcs0, dh0, dw, _, _, _, db = tf.raw_ops.BlockLSTMGradV2(
            seq_len_max=seq, x=x, cs_prev=cs0, h_prev=h0, w=w, wci=z, wcf=z, wco=z, b=b,
            i=i, cs=cs, f=f, o=o, ci=ci, co=co, h=h, cs_grad=tf.zeros_like(cs), h_grad=dh,
            use_peephole=False,
        )  # fmt: skip
        return dx, dcs0, dh0, dw, db

    return h, grad


@tf.custom_gradient
def gru_block_cell(
    x: tf.Tensor, h: tf.Tensor, w_ru: tf.Tensor, w_c: tf.Tensor, b_ru: tf.Tensor, b_c: tf.Tensor
) -> Any:
    """One ``GRUBlockCell`` step with its gradient from ``GRUBlockCellGrad``."""
    r, u, c, h_new = tf.raw_ops.GRUBlockCell(x=x, h_prev=h, w_ru=w_ru, w_c=w_c, b_ru=b_ru, b_c=b_c)

    def grad(dh: tf.Tensor) -> tuple[tf.Tensor, ...]:
        dx, dh_prev, dc_bar, dru_bar = tf.raw_ops.GRUBlockCellGrad(
            x=x, h_prev=h, w_ru=w_ru, w_c=w_c, b_ru=b_ru, b_c=b_c, r=r, u=u, c=c, d_h=dh
        )
        # The kernel returns gradients w.r.t. the gate pre-activations; the weight gradients are
        # the GEMMs of the cell's inputs with them (as TF's removed contrib op computed them).
        dw_ru = tf.matmul(tf.concat([x, h], 1), dru_bar, transpose_a=True)
        dw_c = tf.matmul(tf.concat([x, r * h], 1), dc_bar, transpose_a=True)
        return dx, dh_prev, dw_ru, dw_c, tf.reduce_sum(dru_bar, 0), tf.reduce_sum(dc_bar, 0)

    return h_new, grad


class RNNClassifier(tf.Module):
    """Embedding → LSTM/GRU → dense, fused or unfused."""

    def __init__(self, cell: str, fused: bool, vocab: int, embed: int, hidden: int, classes: int, seed: int):
        super().__init__(name=f"{cell}_classifier")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"unknown cell {cell!r}; valid: lstm, gru")
        self.cell, self.fused, self.hidden = cell, fused, hidden
        k = hidden**-0.5
        init = tf.random_uniform_initializer(-k, k, seed=seed)
        gates = 4 if cell == "lstm" else 2
        self.embedding = tf.Variable(tf.random_uniform_initializer(-0.05, 0.05, seed=seed)((vocab, embed)))
        self.w_x = tf.Variable(init((embed, gates * hidden)), name="w_x")
        self.w_h = tf.Variable(init((hidden, gates * hidden)), name="w_h")
        self.b = tf.Variable(tf.zeros((gates * hidden,)), name="b")
        if cell == "gru":  # the candidate's own weights
            self.wc_x = tf.Variable(init((embed, hidden)), name="wc_x")
            self.wc_h = tf.Variable(init((hidden, hidden)), name="wc_h")
            self.bc = tf.Variable(tf.zeros((hidden,)), name="bc")
        self.w_out = tf.Variable(init((hidden, classes)), name="w_out")
        self.b_out = tf.Variable(tf.zeros((classes,)), name="b_out")

    def __call__(self, tokens: tf.Tensor) -> tf.Tensor:
        x = tf.transpose(tf.nn.embedding_lookup(self.embedding, tokens), (1, 0, 2))  # time-major
        run = {
            ("lstm", True): self._fused_lstm,
            ("lstm", False): self._unfused_lstm,
            ("gru", True): self._fused_gru,
            ("gru", False): self._unfused_gru,
        }[(self.cell, self.fused)]
        return tf.matmul(run(x), self.w_out) + self.b_out

    def _zeros(self, x: tf.Tensor) -> tf.Tensor:
        return tf.zeros((tf.shape(x)[1], self.hidden))

    def _fused_lstm(self, x: tf.Tensor) -> tf.Tensor:
        w = tf.concat([self.w_x, self.w_h], 0)
        return block_lstm(x, self._zeros(x), self._zeros(x), w, self.b)[-1]  # h of the last step

    def _unfused_lstm(self, x: tf.Tensor) -> tf.Tensor:
        h = c = self._zeros(x)
        for xt in tf.unstack(x):
            g = tf.matmul(xt, self.w_x) + tf.matmul(h, self.w_h) + self.b
            i, f, ci, o = tf.split(g, 4, axis=1)
            c = tf.sigmoid(i) * tf.tanh(ci) + tf.sigmoid(f) * c
            h = tf.sigmoid(o) * tf.tanh(c)
        return h

    def _fused_gru(self, x: tf.Tensor) -> tf.Tensor:
        h = self._zeros(x)
        w_ru = tf.concat([self.w_x, self.w_h], 0)
        w_c = tf.concat([self.wc_x, self.wc_h], 0)
        for xt in tf.unstack(x):
            h = gru_block_cell(xt, h, w_ru, w_c, self.b, self.bc)
        return h

    def _unfused_gru(self, x: tf.Tensor) -> tf.Tensor:
        h = self._zeros(x)
        for xt in tf.unstack(x):
            ru = tf.sigmoid(tf.matmul(xt, self.w_x) + tf.matmul(h, self.w_h) + self.b)
            r, u = tf.split(ru, 2, axis=1)
            c = tf.tanh(tf.matmul(xt, self.wc_x) + tf.matmul(r * h, self.wc_h) + self.bc)
            h = u * h + (1.0 - u) * c
        return h


class TfRNNWorkload:
    def __init__(self, ctx: Any) -> None:
        facts = setup(ctx)
        spec, p = ctx.spec, ctx.params
        if spec.variant not in ("fused", "unfused"):
            raise ValueError(f"unknown variant {spec.variant!r}; valid: fused, unfused")
        self.ctx = ctx
        self.train = spec.mode == "train"
        self.model = RNNClassifier(
            p["cell"], spec.variant == "fused", p["vocab"], p["embed"], p["hidden"], p["classes"], spec.seed
        )
        self.batches = token_batches(ctx)
        self._i = 0
        # autograph=False: the steps have no tensor-dependent Python control flow, so AutoGraph's
        # source rewriting only lengthens the first (excluded) step: DenseNet-121 training traced in
        # 14.5 instead of 17.4 CPU-s, the same graph either way.
        if self.train:
            self.opt = tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
            self.loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self._fn = tf.function(self._train_step, autograph=False)
        else:
            self._fn = tf.function(self._infer_step, autograph=False)
        kernels = {
            ("lstm", "fused"): "BlockLSTMV2 (+ BlockLSTMGradV2)",
            ("gru", "fused"): "GRUBlockCell per step (+ GRUBlockCellGrad)",
        }.get((p["cell"], spec.variant), "MatMul + elementwise ops per step")
        self.info = {
            "parameters": int(sum(int(tf.size(v)) for v in self.model.trainable_variables)),
            "cell": p["cell"],
            "rnn_kernels": kernels,
            "data": "ram",
            **facts,
        }

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = self.loss(y, self.model(x))
        vs = self.model.trainable_variables
        self.opt.apply_gradients(zip(tape.gradient(loss, vs), vs, strict=True))
        return loss

    def _infer_step(self, x: tf.Tensor) -> tf.Tensor:
        return self.model(x)

    def step(self) -> None:
        with self.ctx.region("data_loading", "next_batch (ram)"):
            x, y = self.batches[self._i % len(self.batches)]
            self._i += 1
        if self.train:
            self._fn(x, y)
        else:
            self._fn(x)

    def sync(self) -> None:
        sync_devices()


def build(ctx: Any) -> TfRNNWorkload:
    return TfRNNWorkload(ctx)
