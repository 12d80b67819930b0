"""PyTorch RNN classifier: fused ``nn.LSTM``/``nn.GRU`` vs the same cell math as separate ops.

The unfused cells follow PyTorch's own gate layout (``W_ih``/``W_hh`` with gates i, f, g, o for LSTM
and r, z, n for GRU), so with shared weights they compute what the fused module computes. Per time
step the unfused LSTM issues two GEMMs and about a dozen elementwise ops, each a framework dispatch
and a pass over memory: the cost the fused kernel removes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class UnfusedLSTM(nn.Module):
    def __init__(self, input_size: int, hidden: int, layernorm: bool = False) -> None:
        super().__init__()
        self.hidden = hidden
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden))
        self.bias_hh = nn.Parameter(torch.zeros(4 * hidden))
        k = hidden**-0.5
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, -k, k)
        self.ln_ih = nn.LayerNorm(4 * hidden) if layernorm else None
        self.ln_hh = nn.LayerNorm(4 * hidden) if layernorm else None
        self.ln_c = nn.LayerNorm(hidden) if layernorm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (seq, batch, feat)
        h = x.new_zeros(x.shape[1], self.hidden)
        c = x.new_zeros(x.shape[1], self.hidden)
        outs = []
        for t in range(x.shape[0]):
            gi = torch.mm(x[t], self.weight_ih.t()) + self.bias_ih
            gh = torch.mm(h, self.weight_hh.t()) + self.bias_hh
            if self.ln_ih is not None:
                gi, gh = self.ln_ih(gi), self.ln_hh(gh)
            i, f, g, o = (gi + gh).chunk(4, dim=1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            cn = self.ln_c(c) if self.ln_c is not None else c
            h = o * torch.tanh(cn)
            outs.append(h)
        return torch.stack(outs)


class UnfusedGRU(nn.Module):
    def __init__(self, input_size: int, hidden: int, layernorm: bool = False) -> None:
        super().__init__()
        self.hidden = hidden
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden, hidden))
        self.bias_ih = nn.Parameter(torch.zeros(3 * hidden))
        self.bias_hh = nn.Parameter(torch.zeros(3 * hidden))
        k = hidden**-0.5
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, -k, k)
        self.ln_ih = nn.LayerNorm(3 * hidden) if layernorm else None
        self.ln_hh = nn.LayerNorm(3 * hidden) if layernorm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[1], self.hidden)
        outs = []
        for t in range(x.shape[0]):
            gi = torch.mm(x[t], self.weight_ih.t()) + self.bias_ih
            gh = torch.mm(h, self.weight_hh.t()) + self.bias_hh
            if self.ln_ih is not None:
                gi, gh = self.ln_ih(gi), self.ln_hh(gh)
            ir, iz, inn = gi.chunk(3, dim=1)
            hr, hz, hn = gh.chunk(3, dim=1)
            r = torch.sigmoid(ir + hr)
            z = torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            h = (1 - z) * n + z * h
            outs.append(h)
        return torch.stack(outs)


class FusedRNN(nn.Module):
    def __init__(self, cell: str, input_size: int, hidden: int) -> None:
        super().__init__()
        cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = cls(input_size, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class Classifier(nn.Module):
    def __init__(self, rnn: nn.Module, vocab: int, embed: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = rnn
        self.head = nn.Linear(hidden, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # tokens: (seq, batch)
        return self.head(self.rnn(self.embedding(tokens))[-1])


def make_rnn(cell: str, variant: str, embed: int, hidden: int) -> nn.Module:
    if variant == "fused":
        return FusedRNN(cell, embed, hidden)
    layernorm = variant == "unfused_layernorm"
    if variant in ("unfused", "unfused_layernorm"):
        return (UnfusedLSTM if cell == "lstm" else UnfusedGRU)(embed, hidden, layernorm)
    raise ValueError(f"unknown variant {variant!r}")


class RNNWorkload:
    def __init__(self, ctx: Any) -> None:
        spec, p = ctx.spec, ctx.params
        self.ctx = ctx
        if spec.threads:
            torch.set_num_threads(int(spec.threads))
        torch.manual_seed(spec.seed)
        self.device = torch.device("cuda" if spec.device == "cuda" else "cpu")
        self.train = spec.mode == "train"
        rnn = make_rnn(p["cell"], spec.variant, p["embed"], p["hidden"])
        self.model = Classifier(rnn, p["vocab"], p["embed"], p["hidden"], p["classes"]).to(self.device)
        self.model.train(self.train)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9) if self.train else None
        self.loss = nn.CrossEntropyLoss()
        # A small pool of synthetic batches made once in memory ("--data ram"): fetching one is the
        # whole data-loading cost, as in the seed's "held in RAM" columns.
        g = torch.Generator().manual_seed(spec.seed)
        self.batches = [
            (
                torch.randint(0, p["vocab"], (p["seq_len"], p["batch"]), generator=g).to(self.device),
                torch.randint(0, p["classes"], (p["batch"],), generator=g).to(self.device),
            )
            for _ in range(4)
        ]
        self._i = 0
        self.info = {
            "parameters": sum(t.numel() for t in self.model.parameters()),
            "cell": p["cell"],
            "torch_threads": torch.get_num_threads(),
            "device_name": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
        }

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        with self.ctx.region("data_loading", "next_batch (ram)"):
            b = self.batches[self._i % len(self.batches)]
            self._i += 1
            return b

    def step(self) -> None:
        x, y = self._next_batch()
        if self.train:
            assert self.opt is not None
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.model(x), y)
            loss.backward()
            self.opt.step()
        else:
            with torch.inference_mode():
                self.model(x)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def build(ctx: Any) -> RNNWorkload:
    return RNNWorkload(ctx)
