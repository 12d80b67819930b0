"""ResNet-50 inference in Chainer: ``chainer.links.ResNet50Layers(pretrained_model=None)``.

``pretrained_model=None`` initialises every weight randomly and downloads nothing. The scenario cuts
ResNet-50 after the global average pool: ``forward(x, layers=["pool5"])`` stops there, so the
1000-class ``fc6`` layer never runs and its parameters are not counted. Chainer's ``conv1`` carries
a bias (the other zoos' first convolution does not), which adds 64 parameters; the count is recorded
as built.
"""

from __future__ import annotations

from typing import Any

import chainer

from scenarios.chainer_workload import ChainerWorkload


def make_model() -> chainer.Link:
    return chainer.links.ResNet50Layers(pretrained_model=None)


def features(model: chainer.Link, x: Any) -> Any:
    return model.forward(x, layers=["pool5"])["pool5"]


def build(ctx: Any) -> ChainerWorkload:
    p = ctx.params
    size = int(p["image_size"])
    model = make_model()
    used = int(sum(q.size for name, q in model.namedparams() if not name.startswith("/fc6/")))
    return ChainerWorkload(
        ctx,
        lambda: model,
        (3, size, size),
        classes=int(p.get("classes", 1000)),
        train=False,
        forward=features,
        parameters=used,
    )
