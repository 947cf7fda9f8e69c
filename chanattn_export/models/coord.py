"""Coordinate attention (Hou et al., "Coordinate Attention for Efficient Mobile Network
Design", CVPR 2021).

Pools along W and along H separately (keeping position along the other axis), encodes both
with a shared 1x1 conv + BatchNorm + h-swish, then one 1x1 conv + sigmoid per direction gives
an ``[H]`` and a ``[W]`` gate per channel. Defaults, names and shapes follow the official code
(``reduction=32``, ``mip = max(8, C // reduction)``, ``conv1``/``bn1``/``conv_h``/``conv_w`` with
biases); pooling is ``mean`` over one axis instead of ``AdaptiveAvgPool2d``, the convs are
``F.linear`` on the pooled ``[N, H + W, C]`` rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout


class CoordinateAttention(nn.Module):
    def __init__(self, channels: int, *, ratio: int = 32, layout: Layout = Layout.NCHW,
                 hidden: int | None = None) -> None:
        super().__init__()
        mip = max(8, channels // ratio) if hidden is None else hidden
        self.layout = Layout(layout)
        self.conv1 = nn.Conv2d(channels, mip, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv_h = nn.Conv2d(mip, channels, 1, bias=True)
        self.conv_w = nn.Conv2d(mip, channels, 1, bias=True)

    def _bn(self, y: torch.Tensor) -> torch.Tensor:
        """``bn1`` on ``[N, mip, L]`` rows: ``nn.BatchNorm2d.forward`` without its 4-D check.

        Training follows ``bn1``'s own mode (``bn1.eval()`` freezes it inside a training
        block), counts ``num_batches_tracked`` and reads ``momentum=None`` as the cumulative
        average, so fine-tuning leaves the statistics the official module would."""
        bn = self.bn1
        momentum = 0.0  # not read in eval mode
        if bn.training:
            bn.num_batches_tracked.add_(1)
            momentum = (1.0 / float(bn.num_batches_tracked) if bn.momentum is None
                        else bn.momentum)
        return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                            bn.training, momentum, bn.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_axis, w_axis = self.layout.spatial_axes
        h = x.shape[h_axis]
        if self.layout is Layout.NHWC:
            x_h, x_w = x.mean(w_axis), x.mean(h_axis)  # [N, H, C], [N, W, C]
        else:
            x_h, x_w = x.mean(w_axis).transpose(1, 2), x.mean(h_axis).transpose(1, 2)
        y = F.linear(torch.cat([x_h, x_w], 1), self.conv1.weight.flatten(1), self.conv1.bias)
        y = F.hardswish(self._bn(y.transpose(1, 2))).transpose(1, 2)  # [N, H + W, mip]
        a_h = torch.sigmoid(F.linear(y[:, :h], self.conv_h.weight.flatten(1), self.conv_h.bias))
        a_w = torch.sigmoid(F.linear(y[:, h:], self.conv_w.weight.flatten(1), self.conv_w.bias))
        if self.layout is Layout.NHWC:  # [N, H, 1, C] and [N, 1, W, C]
            return x * a_w[:, None] * a_h[:, :, None]
        return x * a_w.transpose(1, 2)[:, :, None] * a_h.transpose(1, 2)[..., None]
