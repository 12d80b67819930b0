"""``resnet50_infer``: ResNet-50 inference, reported as the time for 1000 images (seed table 2).

The model is ResNet-50 cut after the global average pool, as in DeepLearningFrameworks' inference
benchmark (batch 32, fake data): no 1000-class classifier, so its parameter count is 23.5 M rather
than the 25.6 M of the full model (the classifier holds 2.05 M). Every framework builds it from its
own model zoo with random weights; ``expected_params`` (trainable parameters; batch-norm running
statistics are buffers, not parameters) lets ``profiler compare`` check that all of them built the
same network.

Implementation modules follow one layout: ``scenarios/resnet50_infer/<framework>_impl.py``.
"""

from profiler.core.scenario import Scenario, implementations

_PKG = "scenarios.resnet50_infer"

SCENARIO = Scenario(
    name="resnet50_infer",
    summary="ResNet-50 (cut after avg-pool) inference on fake images; time for 1000 images",
    origin="seed table 2: ResNet-50 inference time for 1000 images (K80/P100); sizes from "
    "DeepLearningFrameworks (cut after avg-pool, batch 32, fake data)",
    implementations=implementations(
        _PKG,
        {
            "torch": {"default": "torchvision.models.resnet50, eager"},
            "tensorflow": {"default": "keras.applications ResNet50 called inside one tf.function"},
            "keras": {"default": "keras.applications.ResNet50(include_top=False, pooling='avg')"},
            "mxnet": {
                "hybridized": "gluon.model_zoo resnet50_v1 features, hybridized (static graph)",
                "imperative": "gluon.model_zoo resnet50_v1 features, imperative",
            },
            "chainer": {"default": "chainer.links ResNet50Layers (pretrained_model=None), up to pool5"},
        },
    ),
    presets={
        # ≤ 60 s per framework on two CPU cores, TF's graph tracing included.
        "cpu": {
            "batch": 4,
            "image_size": 64,
            "dataset_images": 32,
            "loader_workers": 2,
            "expected_params": 23_508_032,
            "warmup": 1,
            "steps": 2,
            "trace_steps": 1,
        },
        "seed": {
            "batch": 32,
            "image_size": 224,
            "dataset_images": 1024,
            "loader_workers": 4,
            "expected_params": 23_508_032,
            "warmup": 5,
            "steps": 20,
            "trace_steps": 3,
        },
    },
    modes=("infer",),
    default_mode="infer",
    unit="1000 images",
    items_key="batch",
)
