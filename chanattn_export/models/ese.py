"""Effective Squeeze-Excitation (Lee and Park, "CenterMask", CVPR 2020, the eSE block).

One ``C -> C`` fully connected layer on the pooled vector (no reduction, so no channel
information is lost) and a hard sigmoid gate. Defaults and parameter names follow timm's
``EffectiveSEModule`` (``fc`` a 1x1 conv with bias, ``hard_sigmoid`` = ``relu6(x + 3) / 6``),
which is also the CenterMask/VoVNetV2 code's form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate


class EffectiveSE(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(self.layout.spatial_axes)
        gate = F.hardsigmoid(F.linear(pooled, self.fc.weight.flatten(1), self.fc.bias))
        return apply_gate(x, as_gate(gate, self.layout), self.layout)
