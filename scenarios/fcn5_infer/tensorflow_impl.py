"""TensorFlow FCN-5 inference, hand-built: one ``tf.Variable`` pair per layer and ``matmul`` →
``bias_add`` → ``sigmoid`` (softmax on the last layer) inside one ``tf.function``.

On x86 CPUs TF's graph optimizer rewrites each ``MatMul`` + ``BiasAdd`` into one oneDNN
``_MklNativeFusedMatMul`` (visible in the trace); the FLOPs are ``2·batch·Σ in·out`` either way.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import tensorflow as tf

from scenarios.data.tf_input import TfFunctionWorkload, setup


class FCN(tf.Module):
    def __init__(self, layers: list[int], seed: int) -> None:
        super().__init__(name="fcn5")
        init = tf.keras.initializers.GlorotUniform(seed=seed)
        self.w = [tf.Variable(init((a, b)), name=f"w{i}") for i, (a, b) in enumerate(pairwise(layers))]
        self.b = [tf.Variable(tf.zeros((b,)), name=f"b{i}") for i, (_, b) in enumerate(pairwise(layers))]

    @property
    def trainable_weights(self) -> list[tf.Variable]:
        return [*self.w, *self.b]

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        n = len(self.w)
        for i, (w, b) in enumerate(zip(self.w, self.b, strict=True)):
            x = tf.nn.bias_add(tf.matmul(x, w), b)
            x = tf.nn.sigmoid(x) if i < n - 1 else tf.nn.softmax(x)
        return x


def build(ctx: Any) -> TfFunctionWorkload:
    facts = setup(ctx)
    layers = [int(x) for x in ctx.params["layers"]]
    return TfFunctionWorkload(ctx, FCN(layers, ctx.spec.seed), layers[-1], facts)
