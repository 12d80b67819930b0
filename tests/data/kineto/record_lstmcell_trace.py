"""Records ``lstmcell_cpu.json.gz``: a real torch.profiler (Kineto) trace of an unfused ``nn.LSTMCell``
training loop on CPU (the benchmark's workload, small): ``SEQ`` cell calls per step, ``STEPS`` recorded
``ProfilerStep#N`` steps after one warm-up step. Its repeated per-cell op chain is what
``profiler/analysis/op_sequences.py`` should find.

Run from the repository root: ``.venv/bin/python tests/data/kineto/record_lstmcell_trace.py``.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

SEQ, STEPS = 6, 3


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cell, head = torch.nn.LSTMCell(8, 16), torch.nn.Linear(16, 4)
    opt = torch.optim.SGD([*cell.parameters(), *head.parameters()], lr=0.01)
    x, y = torch.randn(SEQ, 4, 8), torch.randint(0, 4, (4,))
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "t.json"
        with profile(activities=[ProfilerActivity.CPU],
                     schedule=schedule(wait=0, warmup=1, active=STEPS, repeat=1),
                     on_trace_ready=lambda p: p.export_chrome_trace(str(raw))) as prof:
            for _ in range(STEPS + 1):
                h = c = torch.zeros(4, 16)
                for i in range(SEQ):
                    h, c = cell(x[i], (h, c))
                loss = torch.nn.functional.cross_entropy(head(h), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                prof.step()
        out = Path(__file__).with_name("lstmcell_cpu.json.gz")
        out.write_bytes(gzip.compress(raw.read_bytes(), mtime=0))


if __name__ == "__main__":
    main()
