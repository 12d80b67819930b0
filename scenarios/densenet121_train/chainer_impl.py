"""DenseNet-121 training in Chainer, with the network written from Chainer's layers
(:mod:`scenarios.densenet121_train.chainer_densenet`; Chainer's model zoo has no DenseNet).
The step is :class:`scenarios.chainer_workload.ChainerWorkload` (MomentumSGD, softmax cross-entropy).
"""

from __future__ import annotations

from typing import Any

from scenarios.chainer_workload import ChainerWorkload
from scenarios.densenet121_train.chainer_densenet import DenseNet121


def build(ctx: Any) -> ChainerWorkload:
    p = ctx.params
    size, classes = int(p["image_size"]), int(p.get("classes", 1000))
    return ChainerWorkload(ctx, lambda: DenseNet121(classes), (3, size, size), classes=classes, train=True)
