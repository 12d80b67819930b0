"""A tiny FCN in PyTorch (256 → 512 → 512 → 10, sigmoid, softmax), for the ``profiler scale``
integration test: the FCN-5 shape at a size that runs in milliseconds. torch loads in ``build``
(inside the worker), after the parent has set the thread environment."""

from itertools import pairwise

from profiler.core.scenario import Implementation, Scenario, Variant

SCENARIO = Scenario(
    name="tiny_fcn",
    summary="tiny fully connected network, inference",
    presets={
        "cpu": {"batch": 64, "layers": [256, 512, 512, 10], "warmup": 2, "steps": 12, "trace_steps": 2}
    },
    implementations=(Implementation("torch", (Variant("default", "nn.Sequential of Linear + Sigmoid"),)),),
    modes=("infer",),
    default_mode="infer",
)


class TinyFCN:
    def __init__(self, ctx):
        import torch
        from torch import nn

        if ctx.spec.threads:
            torch.set_num_threads(int(ctx.spec.threads))
        torch.manual_seed(0)
        layers = ctx.params["layers"]
        mods = []
        for i, (a, b) in enumerate(pairwise(layers)):
            mods.append(nn.Linear(a, b))
            mods.append(nn.Sigmoid() if i < len(layers) - 2 else nn.Softmax(dim=1))
        self.torch = torch
        self.model = nn.Sequential(*mods).eval()
        self.x = torch.randn(ctx.params["batch"], layers[0])
        self.info = {"torch_threads": torch.get_num_threads()}

    def step(self):
        with self.torch.inference_mode():
            self.model(self.x)


def build(ctx):
    return TinyFCN(ctx)
