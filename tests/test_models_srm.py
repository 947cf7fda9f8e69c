"""Style-based Recalibration Module against the official code (Lee et al., ICCV 2019).

The reference owns its parameters (``cfc`` without bias, ``bn`` a ``BatchNorm1d``): its state
dict loads into ours with ``strict=True``.
"""

from __future__ import annotations

import pytest
import torch
from nhwc_graph import check_nhwc_export
from random_weights import randomize_
from torch import nn

from chanattn_export import create_model


class OfficialSRM(nn.Module):
    """``SRMLayer`` from the official repository."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.cfc = nn.Conv1d(channel, channel, kernel_size=2, bias=False, groups=channel)
        self.bn = nn.BatchNorm1d(channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.size()
        mean = x.view(b, c, -1).mean(-1).unsqueeze(-1)
        std = x.view(b, c, -1).std(-1).unsqueeze(-1)
        z = self.bn(self.cfc(torch.cat((mean, std), -1)))
        return x * torch.sigmoid(z).view(b, c, 1, 1)


def official(channels: int = 16) -> OfficialSRM:
    return randomize_(OfficialSRM(channels), 11).eval()


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("hw", [(5, 6), (1, 2), (2, 1)])
def test_official_checkpoint_loads_strict_and_matches(layout: str, hw: tuple[int, int]) -> None:
    """Includes maps of two positions, where the unbiased std divides by exactly 1."""
    ref = official()
    x = torch.randn(2, 16, *hw, generator=torch.Generator().manual_seed(5))
    ours = create_model("srm", channels=16, layout=layout)
    ours.load_state_dict(ref.state_dict(), strict=True)
    got = ours(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) if layout == "nhwc" else ours(x)
    torch.testing.assert_close(got, ref(x), rtol=1e-5, atol=1e-6)


def test_nhwc_onnx_spreads_the_mean_and_the_gate_over_w() -> None:
    net = create_model("srm", channels=16, layout="nhwc")
    net.load_state_dict(official().state_dict(), strict=True)
    check_nhwc_export("srm", net, channels=16)
