"""Gated Channel Transformation (Yang et al., "GCT", CVPR 2020).

Global context embedding (per-channel l2 norm scaled by ``alpha``), channel normalization
across channels (scaled by ``gamma``) and a ``1 + tanh(. + beta)`` gate. Follows the official
code's default ``mode="l2"``, ``epsilon=1e-5``, parameter names and shapes
(``alpha``/``gamma``/``beta`` ``[1, C, 1, 1]``) and its initialisation (alpha 1, gamma and
beta 0: the block starts as the identity, as the paper prescribes for training).
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate


class GatedChannelTransform(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.eps = eps
        self.alpha = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha, gamma, beta = (p.flatten(1) for p in (self.alpha, self.gamma, self.beta))
        sq = (x * x).sum(self.layout.spatial_axes)  # a Mul: onnxruntime's Pow is slower
        emb = torch.sqrt(sq + self.eps) * alpha  # [N, C]
        norm = gamma / torch.sqrt(emb.square().mean(1, keepdim=True) + self.eps)
        gate = 1.0 + torch.tanh(emb * norm + beta)
        return apply_gate(x, as_gate(gate, self.layout), self.layout)
