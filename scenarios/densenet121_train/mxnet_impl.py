"""DenseNet-121 training in MXNet Gluon: ``gluon.model_zoo.vision.densenet121(pretrained=False)``.

Gluon's DenseNet ends its features with ``AvgPool2D(pool_size=7)``, which assumes 224-pixel inputs
(a 7×7 final map); the ``cpu`` preset's smaller images leave a 2×2 map that a 7×7 window cannot
cover. It is swapped for ``GlobalAvgPool2D``, which is the same operation on a 7×7 map and has no
parameters, so the network and its 7.98 M parameters are unchanged. Variants: ``hybridized`` and
``imperative`` (:mod:`scenarios.gluon_workload`).
"""

from __future__ import annotations

from typing import Any

from scenarios.gluon_workload import GluonWorkload, gluon


def make_net(classes: int) -> gluon.HybridBlock:
    from mxnet.gluon.model_zoo import vision

    net = vision.densenet121(pretrained=False, classes=classes)
    features = gluon.nn.HybridSequential(prefix=net.features.prefix)
    with features.name_scope():
        for layer in net.features:
            features.add(gluon.nn.GlobalAvgPool2D() if isinstance(layer, gluon.nn.AvgPool2D) else layer)
    net.features = features
    return net


def build(ctx: Any) -> GluonWorkload:
    p = ctx.params
    size, classes = int(p["image_size"]), int(p.get("classes", 1000))
    return GluonWorkload(ctx, lambda: make_net(classes), (3, size, size), classes=classes, train=True)
