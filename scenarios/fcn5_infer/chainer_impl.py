"""FCN-5 inference in Chainer: ``chainer.Sequential`` of ``L.Linear`` layers with ``F.sigmoid``
between them and a softmax on the output, widths from the preset (``ctx.params["layers"]``).
The step is :class:`scenarios.chainer_workload.ChainerWorkload`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import chainer
import chainer.functions as F
import chainer.links as L

from scenarios.chainer_workload import ChainerWorkload


def make_model(layers: list[int]) -> chainer.Sequential:
    widths = list(pairwise(layers))
    parts: list[Any] = []
    for i, (a, b) in enumerate(widths):
        parts.append(L.Linear(a, b))
        if i < len(widths) - 1:
            parts.append(F.sigmoid)
    return chainer.Sequential(*parts)


def build(ctx: Any) -> ChainerWorkload:
    layers = [int(x) for x in ctx.params["layers"]]
    return ChainerWorkload(
        ctx,
        lambda: make_model(layers),
        (layers[0],),
        classes=layers[-1],
        train=False,
        forward=lambda m, x: F.softmax(m(x)),
    )
