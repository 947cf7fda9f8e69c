"""Circular ECA: ECA-Net (Wang et al., CVPR 2020) with circular padding across channels.

The 1-D convolution wraps around the channel axis instead of zero-padding its ends, so the
first and last channels see as many neighbours as the others. The block and its defaults
follow timm's ``CecaModule`` (the variant is timm's): kernel size from the ECA rule with
gamma=2, b=1, but never below 3; no bias; sigmoid gate.

The wrap is a gather with a fixed index (``arange(-p, C + p) % C``) rather than
``F.pad(mode="circular")``: the same numbers, one ONNX Gather, and any padding width.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Layout
from ._pool import apply_gate, as_gate
from .timm_presets import timm_eca_kernel_size


def ceca_kernel_size(channels: int) -> int:
    """timm's rule: the ECA kernel size, at least 3."""
    return timm_eca_kernel_size(channels)


class CircularECA(nn.Module):
    def __init__(self, channels: int, *, layout: Layout = Layout.NCHW,
                 kernel_size: int | None = None) -> None:
        super().__init__()
        k = ceca_kernel_size(channels) if kernel_size is None else kernel_size
        self.layout = Layout(layout)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=0, bias=False)
        p = (k - 1) // 2
        self.register_buffer("wrap", torch.arange(-p, channels + p) % channels,
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(self.layout.spatial_axes)  # [N, C]
        padded = pooled.index_select(1, self.wrap).unsqueeze(1)  # [N, 1, C + 2p]
        gate = torch.sigmoid(self.conv(padded).squeeze(1))
        return apply_gate(x, as_gate(gate, self.layout), self.layout)
