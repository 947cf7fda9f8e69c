"""Gated Channel Transformation against the official code (Yang et al., CVPR 2020).

The reference owns its per-channel ``alpha``/``gamma``/``beta`` ``[1, C, 1, 1]``: they load into
ours with ``strict=True``. Inputs of small magnitude make both epsilons matter.
"""

from __future__ import annotations

import pytest
import torch
from nhwc_graph import check_nhwc_export
from torch import nn

from chanattn_export import create_model


class OfficialGCT(nn.Module):
    """``GCT`` from the official repository, ``mode="l2"``."""

    def __init__(self, num_channels: int, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, num_channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding = (x.pow(2).sum((2, 3), keepdim=True) + self.epsilon).pow(0.5) * self.alpha
        norm = self.gamma / (embedding.pow(2).mean(dim=1, keepdim=True) + self.epsilon).pow(0.5)
        gate = 1.0 + torch.tanh(embedding * norm + self.beta)
        return x * gate


def official(channels: int = 16) -> OfficialGCT:
    ref = OfficialGCT(channels)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return ref


def x_for(scale: float, c: int = 16) -> torch.Tensor:
    return scale * torch.randn(2, c, 5, 5, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("scale", [1.0, 1e-3, 0.0])
def test_official_checkpoint_loads_strict_and_matches(layout: str, scale: float) -> None:
    """Per-channel parameters from an official checkpoint; at 1e-3 the squared l2 norms are
    of the order of epsilon, and an all-zero map is finite (epsilon keeps the roots > 0)."""
    ref, x = official(), x_for(scale)
    ours = create_model("gct", channels=16, layout=layout)
    ours.load_state_dict(ref.state_dict(), strict=True)
    want = ref(x)
    got = ours(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) if layout == "nhwc" else ours(x)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7 + 1e-5 * scale)


def test_nhwc_onnx_spreads_the_gate_over_w() -> None:
    net = create_model("gct", channels=16, layout="nhwc")
    net.load_state_dict(official().state_dict(), strict=True)
    check_nhwc_export("gct", net, channels=16)
