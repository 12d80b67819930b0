"""``synthetic``: a framework-free step with a known answer, for checking the breakdown itself.

Each step waits ``wait_ms`` for "input" (a ``data_loading`` span), multiplies two float32 ``n``×``n``
matrices (2·n³ FLOPs, an op carrying its FLOPs and bytes) and copies ``copy_mb`` MiB (an op moving
2 × ``copy_mb`` MiB, no FLOPs). The breakdown must recover each part (data loading ≈ the wait,
compute ≈ the matmul, memory I/O ≈ the copy) and the roofline the exact FLOPs and bytes.

``torch/dispatch_heavy`` is the tracer-compensation check: the same wait and a ``torch.mm``, then
``tiny_ops`` one-element ``torch.add`` calls (pure dispatch). Its compensated breakdown must match
the parts timed bare (tests/test_known_answers.py).
"""

from profiler.core.scenario import Implementation, Scenario, Variant

SCENARIO = Scenario(
    name="synthetic",
    summary="known answer: an input wait of X ms, a matmul of known FLOPs, a copy of known bytes",
    origin="the toolkit's own check of its breakdown (no seed table)",
    implementations=(
        Implementation(
            "python",
            (Variant("numpy", "numpy float32 matmul and copy; time.sleep as the input wait"),),
            module="scenarios.synthetic.numpy_impl",
        ),
        Implementation(
            "torch",
            (Variant("dispatch_heavy", "an input wait, torch.mm and thousands of one-element adds (dispatch)"),),
            module="scenarios.synthetic.torch_impl",
        ),
    ),
    presets={
        "cpu": {
            "wait_ms": 20.0,
            "n": 384,
            "copy_mb": 32,
            "tiny_ops": 2000,
            "batch": 1,
            "warmup": 1,
            "steps": 3,
            "trace_steps": 3,
        },
        "seed": {
            "wait_ms": 50.0,
            "n": 1024,
            "copy_mb": 128,
            "tiny_ops": 5000,
            "batch": 1,
            "warmup": 2,
            "steps": 10,
            "trace_steps": 5,
        },
    },
    modes=("train",),
)
