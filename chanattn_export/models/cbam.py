"""Convolutional Block Attention Module (Woo et al., "CBAM", ECCV 2018).

Channel attention (the tutorial's block, same parameter names under ``channel.``) followed by
spatial attention: a 7x7 convolution over the channel-wise mean and max maps. The paper's
spatial branch is a bare convolution; timm's ``CbamModule`` follows it with BatchNorm
(``spatial.conv.conv`` + ``spatial.conv.bn``), which ``spatial_norm=True`` reproduces. The
BatchNorm is folded into the convolution when exporting (:meth:`ConvBN.fused`); the eager
model keeps it, so parity compares the folded file with the unfolded block.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Layout
from .cbam_channel import ChannelAttention


class ConvBN(nn.Module):
    """timm's ``ConvNormAct`` without activation: ``conv`` (no bias) then ``bn``."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def fused(self) -> nn.Conv2d:
        """One convolution computing ``bn(conv(x))`` with the running statistics."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        return fuse_conv_bn_eval(self.conv, self.bn)


class SpatialAttention(nn.Module):
    def __init__(self, *, kernel_size: int = 7, layout: Layout = Layout.NCHW,
                 norm: bool = False) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.conv: nn.Module = ConvBN(kernel_size) if norm else \
            nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.layout.channel_axis
        maps = torch.stack([x.mean(c), x.amax(c)], dim=1)  # [N, 2, H, W] in both layouts
        gate = torch.sigmoid(self.conv(maps))  # [N, 1, H, W]
        return gate.permute(0, 2, 3, 1) if self.layout is Layout.NHWC else gate


class CBAM(nn.Module):
    def __init__(self, channels: int, *, ratio: int = 16, layout: Layout = Layout.NCHW,
                 kernel_size: int = 7, hidden: int | None = None,
                 spatial_norm: bool = False) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, ratio=ratio, layout=layout, hidden=hidden)
        self.spatial = SpatialAttention(kernel_size=kernel_size, layout=layout,
                                        norm=spatial_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel(x)
        return x * self.spatial(x)


def fold_for_export(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with every :class:`ConvBN` replaced by its fused convolution (eval
    only); ``net`` itself is untouched. Returns ``net`` when there is nothing to fold."""
    import copy

    if not any(isinstance(m, ConvBN) for m in net.modules()):
        return net
    out = copy.deepcopy(net).eval()
    for parent in list(out.modules()):
        for name, child in parent.named_children():
            if isinstance(child, ConvBN):
                setattr(parent, name, child.fused())
    return out
