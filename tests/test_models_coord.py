"""Coordinate attention against the official code (Hou et al., CVPR 2021), written out here.

The reference owns its parameters: its state dict is loaded into ours with ``strict=True``,
so a missing bias or a wrong bottleneck width is an error, not a silently matching formula.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from random_weights import randomize_
from torch import nn

from chanattn_export import create_model
from chanattn_export.models import CoordinateAttention


class OfficialCoordAtt(nn.Module):
    """``CoordAtt`` from the official repository (h_swish inlined, inp == oup)."""

    def __init__(self, inp: int, reduction: int = 32) -> None:
        super().__init__()
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv_h = nn.Conv2d(mip, inp, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, inp, kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        x_h = nn.AdaptiveAvgPool2d((None, 1))(x)
        x_w = nn.AdaptiveAvgPool2d((1, None))(x).permute(0, 1, 3, 2)
        y = self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2)))
        y = y * F.relu6(y + 3) / 6
        x_h, x_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w.permute(0, 1, 3, 2)).sigmoid()
        return x * a_w * a_h


def official(channels: int, reduction: int = 32, seed: int = 0) -> OfficialCoordAtt:
    """The reference with every parameter and BatchNorm statistic drawn at random."""
    return randomize_(OfficialCoordAtt(channels, reduction), seed).eval()


def x_for(c: int, h: int = 5, w: int = 6, n: int = 2) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(c + h * w))


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_official_checkpoint_loads_strict_and_matches(layout: str) -> None:
    """Every official parameter (the three convs' biases included) loads and is used."""
    ref, x = official(16), x_for(16)
    ours = create_model("coord", channels=16, layout=layout)
    ours.load_state_dict(ref.state_dict(), strict=True)
    if layout == "nhwc":
        close(ours(x.permute(0, 2, 3, 1)), ref(x).permute(0, 2, 3, 1))
    else:
        close(ours(x), ref(x))


@pytest.mark.parametrize("channels", [320, 300])
def test_default_reduction_is_the_papers_32(channels: int) -> None:
    """mip = max(8, C // 32): 10 and 9 here (above the floor of 8), for the class and the
    registry alike."""
    ref, x = official(channels), x_for(channels, 3, 4)
    for ours in (CoordinateAttention(channels), create_model("coord", channels=channels)):
        ours.eval().load_state_dict(ref.state_dict(), strict=True)
        close(ours(x), ref(x))


def test_hidden_sets_the_bottleneck_width() -> None:
    """An official checkpoint built with another reduction loads with ``hidden``."""
    ref, x = official(16, reduction=1), x_for(16)  # mip 16, not the default 8
    ours = create_model("coord", channels=16, hidden=16)
    ours.load_state_dict(ref.state_dict(), strict=True)
    close(ours(x), ref(x))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_training_updates_batchnorm_as_the_official_batchnorm2d(momentum: float | None) -> None:
    """In train mode bn1 normalises with the batch and updates its running statistics (and
    ``num_batches_tracked``) exactly as ``nn.BatchNorm2d``: exponential average, or the
    cumulative one for ``momentum=None``. After two steps eval outputs still agree."""
    ref = official(16)
    ours = create_model("coord", channels=16)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for m in (ref, ours):
        m.bn1.momentum = momentum
        m.train()
    for step in range(2):
        x = x_for(16, 4, 5, n=3 + step)
        close(ours(x), ref(x))
    for key, t in ref.bn1.state_dict().items():
        torch.testing.assert_close(ours.bn1.state_dict()[key], t, rtol=1e-6, atol=1e-7,
                                   msg=key)
    ref.eval()
    ours.eval()
    x = x_for(16)
    close(ours(x), ref(x))


def test_frozen_batchnorm_in_a_training_block_uses_its_running_statistics() -> None:
    """``bn1.eval()`` while the block trains (the usual way to freeze BatchNorm when
    fine-tuning) normalises with the running statistics and leaves them alone."""
    ref = official(16)
    ours = create_model("coord", channels=16)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for m in (ref, ours):
        m.train()
        m.bn1.eval()
    before = {k: t.clone() for k, t in ours.bn1.state_dict().items()}
    x = x_for(16)
    close(ours(x), ref(x))
    for key, t in ours.bn1.state_dict().items():
        torch.testing.assert_close(t, before[key], rtol=0, atol=0, msg=key)
