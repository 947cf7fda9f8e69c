"""CBAM channel attention as in the tutorial (Woo et al., "CBAM", ECCV 2018, section 3.1).

Keeps the tutorial's parameter names and shapes (``fc1.weight [C//r, C, 1, 1]``,
``fc2.weight [C, C//r, 1, 1]``, no biases) so its checkpoints load with ``strict=True``, but
computes the shared MLP once on the stacked avg/max vectors with ``F.linear``: same function,
a fraction of the cost of two 1x1 convolutions on ``[N, C, 1, 1]`` tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate, avg_max_stacked


class ChannelAttention(nn.Module):
    """Returns the gate ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))``, shaped for broadcasting."""

    def __init__(self, channels: int, *, ratio: int = 16, layout: Layout = Layout.NCHW,
                 hidden: int | None = None) -> None:
        super().__init__()
        hidden = channels // ratio if hidden is None else hidden
        self.layout = Layout(layout)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` pre-sigmoid attention, shared with CBAM."""
        pooled = avg_max_stacked(x, self.layout)
        hidden = F.relu(F.linear(pooled, self.fc1.weight.flatten(1)))
        out = F.linear(hidden, self.fc2.weight.flatten(1))
        return out.unflatten(0, (2, -1)).sum(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return as_gate(torch.sigmoid(self.logits(x)), self.layout)


class UseAttentionModel(nn.Module):
    """The tutorial's applied block: ``x * ChannelAttention(x)``, shaped like ``x``."""

    def __init__(self, channels: int, *, ratio: int = 16, layout: Layout = Layout.NCHW,
                 hidden: int | None = None) -> None:
        super().__init__()
        self.channel_attention = ChannelAttention(channels, ratio=ratio, layout=layout,
                                                  hidden=hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_gate(x, self.channel_attention(x), self.channel_attention.layout)
