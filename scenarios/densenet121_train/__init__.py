"""``densenet121_train``: DenseNet-121 training steps (seed table 1).

The seed's table times DenseNet-121 training (batch 64 per GPU, data read from SSD vs held in RAM):
``--data disk`` decodes a synthetic JPEG dataset through the framework's own input pipeline with the
page cache evicted, ``--data ram`` feeds tensors made once in memory; the difference is the
data-loading cost. Every framework builds the network from its own model zoo (Chainer has none:
its module writes DenseNet-121 from Chainer's layers) with random weights and 1000 classes, so all
of them have 7.98 M trainable parameters (``expected_params``; batch-norm running statistics are
buffers, not parameters).

Implementation modules follow one layout: ``scenarios/densenet121_train/<framework>_impl.py``.
"""

from profiler.core.scenario import Scenario, implementations

_PKG = "scenarios.densenet121_train"

SCENARIO = Scenario(
    name="densenet121_train",
    summary="DenseNet-121 training (SGD with momentum, cross-entropy) on synthetic images",
    origin="seed table 1: DenseNet-121 training time, 1 vs 4 GPUs, SSD vs RAM; sizes from "
    "DeepLearningFrameworks (batch 64 per GPU)",
    implementations=implementations(
        _PKG,
        {
            "torch": {"default": "torchvision.models.densenet121, eager"},
            "tensorflow": {"default": "keras.applications DenseNet121 with a tf.function train step"},
            "keras": {"default": "keras.applications.DenseNet121(weights=None), model.train_on_batch"},
            "mxnet": {
                "hybridized": "gluon.model_zoo densenet121, hybridized (static graph)",
                "imperative": "gluon.model_zoo densenet121, imperative",
            },
            "chainer": {"default": "DenseNet-121 written from chainer.links layers"},
        },
    ),
    presets={
        # ≤ 60 s per framework on two CPU cores, TF's graph tracing included.
        "cpu": {
            "batch": 4,
            "image_size": 64,
            "classes": 1000,
            "dataset_images": 32,
            "loader_workers": 2,
            "expected_params": 7_978_856,
            "warmup": 1,
            "steps": 2,
            "trace_steps": 1,
        },
        "seed": {
            "batch": 64,
            "image_size": 224,
            "classes": 1000,
            "dataset_images": 2048,
            "loader_workers": 4,
            "expected_params": 7_978_856,
            "warmup": 5,
            "steps": 20,
            "trace_steps": 3,
        },
    },
    modes=("train",),
    default_mode="train",
    unit="step",
    items_key="batch",
)
