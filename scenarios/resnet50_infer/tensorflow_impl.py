"""TensorFlow ResNet-50 inference: ``keras.applications.ResNet50(weights=None, include_top=False,
pooling="avg")`` — cut after the global average pool, 2048 features per image — called inside one
``tf.function`` (the seed's "TensorFlow" row)."""

from __future__ import annotations

from typing import Any

from scenarios.data.tf_input import TfFunctionWorkload, setup


def make_model(ctx: Any) -> Any:
    import keras

    size = int(ctx.params["image_size"])
    return keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3)
    )


def build(ctx: Any) -> TfFunctionWorkload:
    facts = setup(ctx)
    return TfFunctionWorkload(ctx, make_model(ctx), int(ctx.params.get("classes", 1000)), facts)
