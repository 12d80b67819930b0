"""PyTorch DenseNet-121 training: ``torchvision.models.densenet121`` with random weights, SGD + momentum."""

from __future__ import annotations

from typing import Any

import torchvision

from scenarios.data.torch_input import TorchModelWorkload, setup


def build(ctx: Any) -> TorchModelWorkload:
    setup(ctx)
    classes = int(ctx.params.get("classes", 1000))
    model = torchvision.models.densenet121(weights=None, num_classes=classes)
    return TorchModelWorkload(ctx, model, classes=classes)
