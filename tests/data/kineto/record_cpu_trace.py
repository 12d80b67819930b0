"""Records ``torch_cpu_small.json``: a real torch.profiler (Kineto) Chrome trace of a tiny CPU model.

Run from the repository root: ``.venv/bin/python tests/data/kineto/record_cpu_trace.py``. The model
has one of each op family the cost model knows (conv, batch norm, pooling, LSTM, linear, softmax,
elementwise) and a DataLoader-like wait, over three recorded profiler steps (``ProfilerStep#N`` spans).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function, schedule

torch.manual_seed(0)
torch.set_num_threads(1)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.lstm = nn.LSTM(8 * 8, 32, batch_first=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(torch.relu(self.bn(self.conv(x))))  # [4, 8, 8, 8]
        y = y.flatten(2)  # [4, 8, 64]: 8 time steps of 64 features
        out, _ = self.lstm(y)
        return torch.softmax(self.fc(out[:, -1]), dim=-1)


def main() -> None:
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(4, 3, 16, 16)
    target = torch.randint(0, 10, (4,))
    out = Path(__file__).with_name("torch_cpu_small.json")
    with profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=0, warmup=1, active=3, repeat=1),
        on_trace_ready=lambda p: p.export_chrome_trace(str(out)),
        record_shapes=True,
        with_flops=True,
    ) as prof:
        for _ in range(4):  # one warm-up step, then three recorded ones
            with record_function("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"):
                time.sleep(0.002)  # the input pipeline: a known 2 ms wait
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
            prof.step()
    print(out, out.stat().st_size)


if __name__ == "__main__":
    main()
