"""TensorFlow DenseNet-121 training: ``keras.applications.DenseNet121(weights=None)`` stepped by a
``tf.function`` (``GradientTape`` + SGD with momentum), the seed's "TensorFlow" row.

The classifier emits logits (``classifier_activation=None``) and the loss applies the softmax, as
torch's ``CrossEntropyLoss`` does, so both frameworks do the same arithmetic per step.
"""

from __future__ import annotations

from typing import Any

from scenarios.data.tf_input import TfFunctionWorkload, setup


def make_model(ctx: Any) -> Any:
    import keras

    p = ctx.params
    size = int(p["image_size"])
    return keras.applications.DenseNet121(
        weights=None,
        input_shape=(size, size, 3),
        classes=int(p.get("classes", 1000)),
        classifier_activation=None,
    )


def build(ctx: Any) -> TfFunctionWorkload:
    facts = setup(ctx)
    return TfFunctionWorkload(ctx, make_model(ctx), int(ctx.params.get("classes", 1000)), facts)
