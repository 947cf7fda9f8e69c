"""SimAM, a parameter-free attention module (Yang et al., "SimAM", ICML 2021).

Each neuron's weight is the inverse of its minimal energy,
``e = (x - mu)^2 / (4 * (sum((x - mu)^2) / n + lambda)) + 0.5`` with ``n = H*W - 1``, through
a sigmoid. Follows the official code (``e_lambda = 1e-4``); the only change: ``n`` is clamped
to 1 for a single position (H x W = 1), where the official code divides 0 by 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Layout
from ._pool import at_least_one, spread


class SimAM(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW,
                 e_lambda: float = 1e-4) -> None:
        super().__init__()
        self.layout = Layout(layout)
        self.e_lambda = e_lambda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = self.layout.spatial_axes
        n = x.shape[dims[0]] * x.shape[dims[1]] - 1
        d = x - spread(x, x.mean(dims, keepdim=True), self.layout)
        d = d * d  # a Mul, not onnxruntime's slower Pow (benchmarks/NOTES.md)
        den = 4 * (d.sum(dims, keepdim=True) / at_least_one(n) + self.e_lambda)
        energy = d / spread(x, den, self.layout) + 0.5
        return x * torch.sigmoid(energy)
