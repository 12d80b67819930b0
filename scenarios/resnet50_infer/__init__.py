"""``resnet50_infer``: ResNet-50 inference, reported as the time for 1000 images (seed table 2).

The model is ResNet-50 cut after the global average pool, as in DeepLearningFrameworks' inference
benchmark (batch 32, fake data): no 1000-class classifier, so its parameter count is 23.5 M rather
than the 25.6 M of the full model (the classifier holds 2.05 M). Every framework builds it from its
own model zoo with random weights; ``expected_params`` (trainable parameters; batch-norm running
statistics are buffers, not parameters) lets ``profiler compare`` check that all of them built the
same network.

Implementation modules follow one layout: ``scenarios/resnet50_infer/<framework>_impl.py``.
"""

from profiler.core.scenario import Implementation, Scenario, Variant

_PKG = "scenarios.resnet50_infer"

SCENARIO = Scenario(
    name="resnet50_infer",
    summary="ResNet-50 (cut after avg-pool) inference on fake images; time for 1000 images",
    origin="seed table 2: ResNet-50 inference time for 1000 images (K80/P100); sizes from "
    "DeepLearningFrameworks (cut after avg-pool, batch 32, fake data)",
    implementations=(
        Implementation(
            "torch", (Variant("default", "torchvision.models.resnet50, eager"),), module=f"{_PKG}.torch_impl"
        ),
        Implementation(
            "tensorflow",
            (Variant("default", "keras.applications ResNet50 called inside one tf.function"),),
            module=f"{_PKG}.tensorflow_impl",
        ),
        Implementation(
            "keras",
            (Variant("default", "keras.applications.ResNet50(include_top=False, pooling='avg')"),),
            module=f"{_PKG}.keras_impl",
        ),
        Implementation(
            "mxnet",
            (
                Variant("hybridized", "gluon.model_zoo resnet50_v1 features, hybridized (static graph)"),
                Variant("imperative", "gluon.model_zoo resnet50_v1 features, imperative"),
            ),
            module=f"{_PKG}.mxnet_impl",
        ),
        Implementation(
            "chainer",
            (Variant("default", "chainer.links ResNet50Layers (pretrained_model=None), up to pool5"),),
            module=f"{_PKG}.chainer_impl",
        ),
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
