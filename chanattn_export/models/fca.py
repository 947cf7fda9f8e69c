"""Frequency channel attention (Qin et al., "FcaNet", ICCV 2021), the ``top16`` variant.

The squeeze is a set of 2-D DCT basis functions on a 7 x 7 grid instead of the mean (which is
the lowest one): channel group ``i`` is summed against frequency ``i`` of the paper's top-16
list, then an SE MLP (no biases, ``C // 16``) and a sigmoid. Names, shapes, frequencies and
the DCT normalisation follow the official code (``dct_layer.weight [C, 7, 7]`` buffer,
``fc.0.weight``, ``fc.2.weight``). The official code needs ``C % 16 == 0``; here the number of
frequencies is the largest of 16, 8, 4, 2, 1 that divides C (16, as in the paper, when it can).

Inputs that are not 7 x 7 are average-pooled to 7 x 7 first, as the official code does with
``adaptive_avg_pool2d``; here that pooling is folded into the filter (``Ph^T D Pw``), which is
computed from H and W. So **the weights are tied to H x W**: an export is valid only at the
H x W it was traced with, and ``--dynamic-hw`` is refused (``ModelInfo.fixed_hw``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate

DCT_SIZE = 7
TOP_X = (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2)
TOP_Y = (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2)


def num_frequencies(channels: int) -> int:
    return next(n for n in (16, 8, 4, 2, 1) if channels % n == 0)


def _basis(pos: int, freq: int, size: int) -> float:
    v = math.cos(math.pi * freq * (pos + 0.5) / size) / math.sqrt(size)
    return v if freq == 0 else v * math.sqrt(2)


def dct_filters(channels: int, size: int = DCT_SIZE) -> torch.Tensor:
    """``[C, size, size]``: channel group i gets the i-th top frequency (official layout)."""
    n = num_frequencies(channels)
    scale = size // 7
    out = torch.zeros(channels, size, size)
    part = channels // n
    for i, (u, v) in enumerate(zip(TOP_X[:n], TOP_Y[:n], strict=True)):
        grid = torch.tensor([[_basis(tx, u * scale, size) * _basis(ty, v * scale, size)
                              for ty in range(size)] for tx in range(size)])
        out[i * part:(i + 1) * part] = grid
    return out


def adaptive_pool_matrix(length: int, size: int) -> torch.Tensor:
    """``[size, length]``: row i averages the window ``adaptive_avg_pool`` uses for output i."""
    i = torch.arange(size)
    start = (i * length) // size
    end = ((i + 1) * length + size - 1) // size
    pos = torch.arange(length)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return inside.float() / (end - start)[:, None].float()


class _DCT(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("weight", dct_filters(channels))


class FrequencyChannelAttention(nn.Module):
    def __init__(self, channels: int, *, ratio: int = 16, layout: Layout = Layout.NCHW,
                 hidden: int | None = None) -> None:
        super().__init__()
        hidden = channels // ratio if hidden is None else hidden
        self.layout = Layout(layout)
        self.dct_layer = _DCT(channels)
        self.fc = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.ReLU(),
                                nn.Linear(hidden, channels, bias=False), nn.Sigmoid())

    def filters(self, h: int, w: int) -> torch.Tensor:
        """The DCT filters with the 7 x 7 adaptive pooling folded in: ``[C, h, w]``."""
        d = self.dct_layer.weight
        if (h, w) == tuple(d.shape[1:]):
            return d
        ph = adaptive_pool_matrix(h, d.shape[1]).to(d)
        pw = adaptive_pool_matrix(w, d.shape[2]).to(d)
        return torch.matmul(torch.matmul(ph.T, d), pw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_axis, w_axis = self.layout.spatial_axes
        filt = self.filters(int(x.shape[h_axis]), int(x.shape[w_axis]))
        if self.layout is Layout.NHWC:
            filt = filt.permute(1, 2, 0)
        y = (x * filt).sum(self.layout.spatial_axes)  # [N, C]
        hidden = F.relu(F.linear(y, self.fc[0].weight))
        gate = torch.sigmoid(F.linear(hidden, self.fc[2].weight))
        return apply_gate(x, as_gate(gate, self.layout), self.layout)
