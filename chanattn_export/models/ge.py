"""Gather-Excite, parameter-free (Hu et al., "Gather-Excite", NeurIPS 2018, GE-theta-minus).

Gather: average pooling over an extent (global by default, the paper's best parameter-free
setting); excite: nearest-neighbour upsampling back to H x W and a sigmoid gate. The defaults
follow the paper; timm 1.0.31's ``GatherExcite`` cannot be built at its own default arguments,
so there is no timm form to match. With ``extent=e > 0`` the gather is the paper's
``avg_pool(kernel 2e - 1, stride e)`` without counting padding, as in timm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import apply_gate


class GatherExcite(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW, extent: int = 0) -> None:
        super().__init__()
        if extent < 0:
            raise ValueError(f"extent must be >= 0 (0 = global); got {extent}")
        self.layout = Layout(layout)
        self.extent = extent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.extent == 0:
            gate = torch.sigmoid(x.mean(self.layout.spatial_axes, keepdim=True))
            return apply_gate(x, gate, self.layout)
        nchw = x.permute(0, 3, 1, 2) if self.layout is Layout.NHWC else x
        k = 2 * self.extent - 1
        g = F.avg_pool2d(nchw, k, stride=self.extent, padding=k // 2, count_include_pad=False)
        g = F.interpolate(g, size=nchw.shape[-2:], mode="nearest")
        g = g.permute(0, 2, 3, 1) if self.layout is Layout.NHWC else g
        return x * torch.sigmoid(g)
