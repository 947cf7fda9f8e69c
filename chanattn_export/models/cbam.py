"""Convolutional Block Attention Module (Woo et al., "CBAM", ECCV 2018).

Channel attention (the tutorial's block, same parameter names under ``channel.``) followed by
spatial attention: a 7x7 convolution over the channel-wise mean and max maps.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Layout
from .cbam_channel import ChannelAttention


class SpatialAttention(nn.Module):
    def __init__(self, *, kernel_size: int = 7, layout: Layout = Layout.NCHW) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.layout.channel_axis
        maps = torch.stack([x.mean(c), x.amax(c)], dim=1)  # [N, 2, H, W] in both layouts
        gate = torch.sigmoid(self.conv(maps))  # [N, 1, H, W]
        return gate.permute(0, 2, 3, 1) if self.layout is Layout.NHWC else gate


class CBAM(nn.Module):
    def __init__(self, channels: int, *, ratio: int = 16, layout: Layout = Layout.NCHW,
                 kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, ratio=ratio, layout=layout)
        self.spatial = SpatialAttention(kernel_size=kernel_size, layout=layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel(x)
        return x * self.spatial(x)
