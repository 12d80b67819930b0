"""FCN-5 inference in MXNet Gluon: a ``HybridSequential`` of ``Dense`` layers.

Hidden layers use sigmoid, as in DLBench's FCN-5; the output layer is linear and the softmax is
applied to its result, so every framework computes the same function. Layer widths come from the
preset (``ctx.params["layers"]``). Variants: ``hybridized`` and ``imperative``
(:mod:`scenarios.gluon_workload`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from scenarios.gluon_workload import GluonWorkload, gluon


def make_net(layers: list[int]) -> gluon.HybridBlock:
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        widths = list(pairwise(layers))
        for i, (a, b) in enumerate(widths):
            last = i == len(widths) - 1
            net.add(gluon.nn.Dense(b, in_units=a, activation=None if last else "sigmoid"))
    return net


def build(ctx: Any) -> GluonWorkload:
    layers = [int(x) for x in ctx.params["layers"]]
    return GluonWorkload(
        ctx, lambda: make_net(layers), (layers[0],), classes=layers[-1], train=False, softmax_output=True
    )
