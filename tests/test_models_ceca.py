"""Circular ECA against timm's ``CecaModule`` formulation (``F.pad(mode="circular")``).

The reference owns its conv: its state dict loads into ours with ``strict=True``, so a wrong
kernel size is an error.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from nhwc_graph import check_nhwc_export
from torch import nn

from chanattn_export import create_model
from chanattn_export.models import CircularECA


class TimmCeca(nn.Module):
    """timm's ``CecaModule`` with an explicit kernel size."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size=kernel_size, padding=0, bias=False)
        self.padding = (kernel_size - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(F.pad(y, (self.padding, self.padding), mode="circular"))
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1)


def reference(kernel_size: int) -> TimmCeca:
    ref = TimmCeca(kernel_size)
    with torch.no_grad():
        ref.conv.weight.copy_(torch.randn(ref.conv.weight.shape,
                                          generator=torch.Generator().manual_seed(kernel_size)))
    return ref


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_explicit_kernel_size_is_used(layout: str) -> None:
    """kernel_size=5 where the rule gives 3 for 16 channels: the 5-tap circular conv."""
    ref = reference(5)
    ours = CircularECA(16, kernel_size=5, layout=layout)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 16, 4, 5, generator=torch.Generator().manual_seed(2))
    got = ours(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) if layout == "nhwc" else ours(x)
    torch.testing.assert_close(got, ref(x), rtol=1e-5, atol=1e-6)


def test_nhwc_onnx_spreads_the_gate_over_w() -> None:
    net = create_model("ceca", channels=16, layout="nhwc")
    with torch.no_grad():
        net.conv.weight.normal_(0, 1, generator=torch.Generator().manual_seed(1))
    check_nhwc_export("ceca", net, channels=16)
