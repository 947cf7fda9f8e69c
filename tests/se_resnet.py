"""A stand-in for timm's ``seresnet18`` (``pretrained=False``): timm cannot be installed here.

Module names and nesting follow timm 1.0's ``ResNet`` / ``BasicBlock`` / ``SEModule`` (``conv1``,
``bn1``, ``act1``, ``maxpool``, ``layer1``..``layer4``, each block's ``se`` with ``fc1``, ``bn``,
``act``, ``fc2``, ``gate``; ``downsample`` as ``[conv, bn]``; ``fc``), so module paths such as
``layer3.1.se.fc2`` and ``swap_attention``'s recognition of ``SEModule`` behave as on timm's.
``widths`` shrinks it for fast tests; the defaults are ResNet-18's.
"""

from __future__ import annotations

import torch
from torch import nn


def _rd(channels: int) -> int:
    """timm's ``make_divisible(channels / 16, 8)``."""
    v = max(8, int(channels / 16 + 4) // 8 * 8)
    return v + 8 if v < 0.9 * channels / 16 else v


class SEModule(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        rd = _rd(channels)
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=True)
        self.bn = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(self.act(self.bn(self.fc1(s))))
        return x * self.gate(s)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, se: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SEModule(cout) if se else None
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.se is not None:
            y = self.se(y)
        return self.act2(y + shortcut)


class ResNet(nn.Module):
    def __init__(self, widths: tuple[int, int, int, int] = (64, 128, 256, 512),
                 blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000,
                 se: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            layer = [BasicBlock(cin if j == 0 else w, w, 2 if i and j == 0 else 1, se)
                     for j in range(n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            cin = w
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def seresnet(widths: tuple[int, int, int, int] = (64, 128, 256, 512), seed: int = 0,
             num_classes: int = 1000) -> ResNet:
    """Random weights, and random BatchNorm statistics (fresh ones are the identity)."""
    torch.manual_seed(seed)
    net = ResNet(widths, num_classes=num_classes)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()
