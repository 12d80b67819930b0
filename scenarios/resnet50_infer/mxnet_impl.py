"""ResNet-50 inference in MXNet Gluon: ``gluon.model_zoo.vision.resnet50_v1(pretrained=False)``.

The scenario cuts ResNet-50 after the global average pool (DeepLearningFrameworks' inference
benchmark), which in Gluon is the model's ``features`` block: every layer except the 1000-class
``output`` Dense. Random weights, no download. Variants: ``hybridized`` and ``imperative``
(:mod:`scenarios.gluon_workload`).
"""

from __future__ import annotations

from typing import Any

from scenarios.gluon_workload import GluonWorkload, gluon


def make_net() -> gluon.HybridBlock:
    from mxnet.gluon.model_zoo import vision

    return vision.resnet50_v1(pretrained=False).features


def build(ctx: Any) -> GluonWorkload:
    p = ctx.params
    size = int(p["image_size"])
    return GluonWorkload(ctx, make_net, (3, size, size), classes=int(p.get("classes", 1000)), train=False)
