"""Keras FCN-5 inference: ``keras.Sequential`` of ``Dense`` layers (sigmoid, softmax on the last),
stepped with ``predict_on_batch`` (the seed's "Keras(TF)" row)."""

from __future__ import annotations

from typing import Any

from scenarios.data.tf_input import KerasWorkload, setup


def make_model(layers: list[int]) -> Any:
    import keras

    n = len(layers) - 1
    return keras.Sequential(
        [keras.Input((layers[0],))]
        + [keras.layers.Dense(w, activation="sigmoid" if i < n - 1 else "softmax") for i, w in enumerate(layers[1:])]
    )


def build(ctx: Any) -> KerasWorkload:
    facts = setup(ctx)
    layers = [int(x) for x in ctx.params["layers"]]
    return KerasWorkload(ctx, make_model(layers), layers[-1], facts)
