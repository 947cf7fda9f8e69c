"""Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

Parameter names follow timm's ``SEModule`` (``fc1``/``fc2`` 1x1 convs with bias). The hidden
width is ``C // ratio`` (the paper's); timm rounds ``C / 16`` to a multiple of 8 instead, so a
timm checkpoint needs ``preset="timm"`` or ``hidden=`` (read from the weights file's shapes when
exporting with ``--weights``). The forward pass uses ``F.linear`` on the pooled vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, *, ratio: int = 16, layout: Layout = Layout.NCHW,
                 hidden: int | None = None) -> None:
        super().__init__()
        hidden = channels // ratio if hidden is None else hidden
        self.layout = Layout(layout)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(self.layout.spatial_axes)
        hidden = F.relu(F.linear(pooled, self.fc1.weight.flatten(1), self.fc1.bias))
        gate = torch.sigmoid(F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias))
        return apply_gate(x, as_gate(gate, self.layout), self.layout)
