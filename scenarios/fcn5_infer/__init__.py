"""``fcn5_infer``: DLBench's fully connected FCN-5, CPU inference (seed table 3).

The synthetic FCN-5 is 26752 → 2048 → 2048 → 2048 → 26752 with sigmoid hidden activations and a
softmax output (118.0 M parameters); the ``mnist`` presets are its MNIST version,
784 → 2048 → 4096 → 1024 → 10 (14.2 M). The seed's table sweeps the thread count
(``profiler trace --threads N`` / ``profiler compare --threads N``).

Implementation modules follow one layout: ``scenarios/fcn5_infer/<framework>_impl.py``; each reads
the layer widths from ``ctx.params["layers"]``.
"""

from itertools import pairwise

from profiler.core.scenario import Scenario, implementations

_PKG = "scenarios.fcn5_infer"

SYNTHETIC = (26752, 2048, 2048, 2048, 26752)
MNIST = (784, 2048, 4096, 1024, 10)


def _params(layers: tuple[int, ...]) -> int:
    return sum(a * b + b for a, b in pairwise(layers))


def _preset(layers: tuple[int, ...], batch: int, warmup: int, steps: int, trace_steps: int) -> dict:
    return {
        "batch": batch,
        "layers": list(layers),
        "dataset_items": 8 * batch,
        "loader_workers": 2,
        "expected_params": _params(layers),
        "warmup": warmup,
        "steps": steps,
        "trace_steps": trace_steps,
    }


SCENARIO = Scenario(
    name="fcn5_infer",
    summary="FCN-5 multilayer perceptron inference (sigmoid hidden layers, softmax output)",
    origin="seed table 3: FCN5 CPU inference vs thread count (1-32 threads); network from HKBU "
    "DLBench (synthetic 26752-2048-2048-2048-26752, MNIST 784-2048-4096-1024-10)",
    implementations=implementations(
        _PKG,
        {
            "torch": {"default": "torch.nn.Sequential of Linear + Sigmoid, eager"},
            "tensorflow": {"default": "dense layers called inside one tf.function"},
            "keras": {"default": "keras.Sequential of Dense layers, model.predict_on_batch"},
            "mxnet": {
                "hybridized": "gluon.nn.HybridSequential of Dense, hybridized (static graph)",
                "imperative": "gluon.nn.HybridSequential of Dense, imperative",
            },
            "chainer": {"default": "chainer.Sequential of L.Linear + F.sigmoid"},
        },
    ),
    presets={
        "cpu": _preset(SYNTHETIC, batch=16, warmup=1, steps=3, trace_steps=1),
        "seed": _preset(SYNTHETIC, batch=64, warmup=3, steps=20, trace_steps=3),
        "mnist_cpu": _preset(MNIST, batch=64, warmup=1, steps=5, trace_steps=1),
        "mnist": _preset(MNIST, batch=64, warmup=3, steps=20, trace_steps=3),
    },
    modes=("infer",),
    default_mode="infer",
    unit="step",
    items_key="batch",
)
