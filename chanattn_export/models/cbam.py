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
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import ROW_CONV, apply_gate, note, wanted
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
    """``sigmoid(conv7x7([mean_c(x); max_c(x)]))``, shaped ``[N, 1, H, W]`` (NCHW) or
    ``[N, H, W, 1]`` (NHWC) for broadcasting; ``norm`` adds timm's BatchNorm after the conv."""

    def __init__(self, *, kernel_size: int = 7, layout: Layout = Layout.NCHW,
                 norm: bool = False) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.conv: nn.Module = ConvBN(kernel_size) if norm else \
            nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def _conv(self, maps: torch.Tensor) -> torch.Tensor:
        """The 2 -> 1 channel k x k convolution, from the same ``conv.weight [1, 2, k, k]``.

        While torch.export traces it is written as a 2 -> k channel 1 x k convolution (output
        channel i = row i of the kernel) followed by the sum of its k outputs shifted down by
        i rows. onnxruntime runs that about 1.6x faster than the plain conv, which its NCHWc
        path takes through a slow single-output kernel (benchmarks/NOTES.md). Eager keeps the
        plain convolution, and so does an unfolded ``ConvBN`` (folded before export: the fused
        convolution's bias is added once after the sum).
        """
        conv = self.conv
        if not wanted(ROW_CONV) or not isinstance(conv, nn.Conv2d):
            return conv(maps)
        note(ROW_CONV)
        w = conv.weight[0].permute(1, 0, 2).unsqueeze(2)  # [k (row), 2, 1, k]
        k, pad = w.shape[0], conv.padding
        rows = F.conv2d(maps, w, padding=pad)  # [N, k, H + 2p, W + 2p - k + 1]
        h = rows.shape[2] - k + 1
        out = rows[:, 0:1, 0:h]
        for i in range(1, k):
            out = out + rows[:, i:i + 1, i:i + h]
        if conv.bias is not None:
            out = out + conv.bias.view(1, -1, 1, 1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.layout.channel_axis
        # [N, 2, H, W] in both layouts
        maps = torch.stack([x.mean(c), x.amax(c)], dim=1)
        gate = torch.sigmoid(self._conv(maps))  # [N, 1, H, W]
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
        x = apply_gate(x, self.channel(x), self.channel.layout)
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
