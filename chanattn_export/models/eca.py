"""Efficient Channel Attention (Wang et al., "ECA-Net", CVPR 2020).

A 1-D convolution across channels replaces the SE MLP. The kernel size follows the paper's
rule ``k = |(log2(C) + b) / gamma|_odd`` with gamma=2, b=1 (the official code's form).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """Nearest odd integer to ``(log2(C) + b) / gamma``, rounding down then up to odd."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class EfficientChannelAttention(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW, gamma: int = 2,
                 b: int = 1, kernel_size: int | None = None) -> None:
        super().__init__()
        k = eca_kernel_size(channels, gamma, b) if kernel_size is None else kernel_size
        self.layout = Layout(layout)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(self.layout.spatial_axes)  # [N, C]
        gate = torch.sigmoid(self.conv(pooled.unsqueeze(1)).squeeze(1))
        return apply_gate(x, as_gate(gate, self.layout), self.layout)
