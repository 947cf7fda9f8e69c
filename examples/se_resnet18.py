"""An SE-ResNet-18-shaped network: ResNet-18's basic blocks, each with a squeeze-and-excitation
block shaped like torchvision's ``SqueezeExcitation`` (so ``swap_attention`` replaces it).

Weights are random (seeded): the network is for measuring export, precision and speed, not for
classifying images. ``build`` takes no arguments, so ``--network examples/se_resnet18.py:build``
works; ``tiny`` is a narrow, two-stage version for quick checks.
"""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation's layout: avgpool, fc1 (1x1 conv), ReLU, fc2, sigmoid."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(s)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, ratio: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcitation(cout, max(1, cout // ratio))
        self.relu = nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.se(self.bn2(self.conv2(y)))
        return self.relu(y + (x if self.down is None else self.down(x)))


class SEResNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 512), blocks: int = 2,
                 classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(self.stem(x))
        return self.fc(torch.flatten(y.mean((2, 3)), 1))


def _randomize(net: nn.Module, seed: int) -> nn.Module:
    """Random BatchNorm statistics too, so the blocks are not identities at init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def build(seed: int = 0) -> SEResNet:
    """SE-ResNet-18: 4 stages of 2 basic blocks, widths 64-512, 1000 classes."""
    torch.manual_seed(seed)
    return _randomize(SEResNet(), seed)


def tiny(seed: int = 0) -> SEResNet:
    """Two stages of one block, widths 16 and 32, 10 classes: seconds to export and check."""
    torch.manual_seed(seed)
    return _randomize(SEResNet((16, 32), blocks=1, classes=10), seed)
