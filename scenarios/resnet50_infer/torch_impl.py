"""PyTorch ResNet-50 inference: ``torchvision.models.resnet50`` with random weights, cut after avg-pool.

Replacing ``fc`` with ``Identity`` leaves the network ending at the global average pool, as
DeepLearningFrameworks' benchmark cuts it (2048 features per image).
"""

from __future__ import annotations

from typing import Any

import torchvision
from torch import nn

from scenarios.data.torch_input import TorchModelWorkload, setup


def build(ctx: Any) -> TorchModelWorkload:
    setup(ctx)
    model = torchvision.models.resnet50(weights=None)
    model.fc = nn.Identity()
    return TorchModelWorkload(ctx, model, classes=int(ctx.params.get("classes", 1000)))
