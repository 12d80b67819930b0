"""DenseNet-121 written from Chainer's own layers (Chainer's model zoo has no DenseNet).

The architecture is the one of Huang et al. (2017) as torchvision, Keras and Gluon build it, so all
frameworks train the same network with the same 7,978,856 trainable parameters:

* stem: 7×7/2 convolution to 64 channels (no bias), batch norm, ReLU, 3×3/2 max pool (padding 1);
* four dense blocks of 6, 12, 24 and 16 layers; each layer is BN → ReLU → 1×1 convolution to
  ``bn_size × growth`` = 128 channels → BN → ReLU → 3×3 convolution to ``growth`` = 32 channels, and
  its output is concatenated to its input;
* between blocks a transition: BN → ReLU → 1×1 convolution halving the channels → 2×2/2 average pool;
* head: BN → ReLU → global average pool → fully connected layer to ``classes`` (with bias).

Convolutions have no bias (each is followed by batch norm). Batch-norm running statistics are
persistent values in Chainer, not parameters, as elsewhere.
"""

from __future__ import annotations

from typing import Any

import chainer
import chainer.functions as F
import chainer.links as L

#: (layers per dense block) of DenseNet-121, its growth rate, bottleneck width factor and stem width.
BLOCKS = (6, 12, 24, 16)
GROWTH = 32
BN_SIZE = 4
STEM = 64


class DenseLayer(chainer.Chain):
    def __init__(self, in_ch: int, growth: int = GROWTH, bn_size: int = BN_SIZE) -> None:
        super().__init__()
        with self.init_scope():
            self.bn1 = L.BatchNormalization(in_ch)
            self.conv1 = L.Convolution2D(in_ch, bn_size * growth, 1, nobias=True)
            self.bn2 = L.BatchNormalization(bn_size * growth)
            self.conv2 = L.Convolution2D(bn_size * growth, growth, 3, pad=1, nobias=True)

    def forward(self, x: Any) -> Any:
        h = self.conv1(F.relu(self.bn1(x)))
        h = self.conv2(F.relu(self.bn2(h)))
        return F.concat((x, h), axis=1)


class DenseBlock(chainer.ChainList):
    def __init__(self, n_layers: int, in_ch: int, growth: int = GROWTH) -> None:
        super().__init__(*(DenseLayer(in_ch + i * growth, growth) for i in range(n_layers)))
        self.out_ch = in_ch + n_layers * growth

    def forward(self, x: Any) -> Any:
        for layer in self:
            x = layer(x)
        return x


class Transition(chainer.Chain):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        with self.init_scope():
            self.bn = L.BatchNormalization(in_ch)
            self.conv = L.Convolution2D(in_ch, out_ch, 1, nobias=True)

    def forward(self, x: Any) -> Any:
        return F.average_pooling_2d(self.conv(F.relu(self.bn(x))), 2, 2)


class DenseNet121(chainer.Chain):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        with self.init_scope():
            self.conv0 = L.Convolution2D(3, STEM, 7, stride=2, pad=3, nobias=True)
            self.bn0 = L.BatchNormalization(STEM)
            stages = []
            ch = STEM
            for i, n in enumerate(BLOCKS):
                block = DenseBlock(n, ch)
                stages.append(block)
                ch = block.out_ch
                if i < len(BLOCKS) - 1:
                    stages.append(Transition(ch, ch // 2))
                    ch //= 2
            self.stages = chainer.ChainList(*stages)
            self.bn_final = L.BatchNormalization(ch)
            self.fc = L.Linear(ch, classes)
        self.features_out = ch

    def forward(self, x: Any) -> Any:
        h = F.relu(self.bn0(self.conv0(x)))
        # cover_all=False gives the floor-mode output size the other frameworks use
        h = F.max_pooling_2d(h, 3, stride=2, pad=1, cover_all=False)
        for stage in self.stages:
            h = stage(h)
        h = F.relu(self.bn_final(h))
        h = F.mean(h, axis=(2, 3))  # global average pool
        return self.fc(h)


def parameter_count(model: chainer.Link) -> int:
    """Trainable parameters (Chainer's ``params()``; running statistics are not among them)."""
    return int(sum(p.size for p in model.params()))
