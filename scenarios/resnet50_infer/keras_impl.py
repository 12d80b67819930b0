"""Keras ResNet-50 inference: ``keras.applications.ResNet50(weights=None, include_top=False,
pooling="avg")`` with ``predict_on_batch`` (the seed's "Keras(TF)" row)."""

from __future__ import annotations

from typing import Any

from scenarios.data.tf_input import KerasWorkload, setup
from scenarios.resnet50_infer.tensorflow_impl import make_model


def build(ctx: Any) -> KerasWorkload:
    facts = setup(ctx)
    return KerasWorkload(ctx, make_model(ctx), int(ctx.params.get("classes", 1000)), facts)
