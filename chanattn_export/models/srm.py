"""Style-based Recalibration Module (Lee et al., "SRM", ICCV 2019).

Style pooling (per-channel mean and standard deviation), style integration (a channel-wise
fully connected layer over the two statistics, then BatchNorm) and a sigmoid gate. Names and
shapes follow the official code (``cfc.weight [C, 1, 2]``, ``bn`` a ``BatchNorm1d``).

The standard deviation is computed in two passes (``sqrt(sum((x - mean)^2) / (n - 1))``, the
official unbiased ``std``) so constant inputs give exactly 0 rather than the NaN of a
``sqrt(E[x^2] - E[x]^2)`` that cancels below zero; with a single position (H x W = 1) the
divisor is clamped to 1 (std 0) where ``torch.std`` would return NaN.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate, at_least_one, spread


def channel_std(x: torch.Tensor, layout: Layout) -> tuple[torch.Tensor, torch.Tensor]:
    """``[N, C]`` mean and unbiased standard deviation over the spatial axes."""
    dims = layout.spatial_axes
    mean = x.mean(dims, keepdim=True)
    n = x.shape[dims[0]] * x.shape[dims[1]]
    d = x - spread(x, mean, layout)
    sq = (d * d).sum(dims)  # a Mul, not onnxruntime's slower Pow (benchmarks/NOTES.md)
    return mean.flatten(1), torch.sqrt(sq / at_least_one(n - 1))


class StyleRecalibration(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.cfc = nn.Conv1d(channels, channels, kernel_size=2, bias=False, groups=channels)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = channel_std(x, self.layout)
        w = self.cfc.weight.flatten(1)  # [C, 2]
        z = self.bn(mean * w[:, 0] + std * w[:, 1])
        return apply_gate(x, as_gate(torch.sigmoid(z), self.layout), self.layout)
