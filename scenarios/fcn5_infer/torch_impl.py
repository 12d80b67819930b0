"""PyTorch FCN-5: ``Linear`` layers with sigmoid between them and a softmax output, widths from the preset."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from torch import nn

from scenarios.data.torch_input import TorchModelWorkload, setup


def make_fcn(layers: list[int]) -> nn.Sequential:
    mods: list[nn.Module] = []
    pairs = list(pairwise(layers))
    for i, (a, b) in enumerate(pairs):
        mods.append(nn.Linear(a, b))
        mods.append(nn.Sigmoid() if i < len(pairs) - 1 else nn.Softmax(dim=1))
    return nn.Sequential(*mods)


def build(ctx: Any) -> TorchModelWorkload:
    setup(ctx)
    layers = [int(x) for x in ctx.params["layers"]]
    return TorchModelWorkload(ctx, make_fcn(layers), classes=layers[-1])
