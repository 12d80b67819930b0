"""Keras DenseNet-121 training: ``keras.applications.DenseNet121(weights=None)``, ``compile`` then
``train_on_batch`` (the seed's "Keras(TF)" row; Keras 3 on the TensorFlow backend)."""

from __future__ import annotations

from typing import Any

from scenarios.data.tf_input import KerasWorkload, setup
from scenarios.densenet121_train.tensorflow_impl import make_model


def build(ctx: Any) -> KerasWorkload:
    facts = setup(ctx)
    return KerasWorkload(ctx, make_model(ctx), int(ctx.params.get("classes", 1000)), facts)
