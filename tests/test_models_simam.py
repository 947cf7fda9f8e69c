"""SimAM (models/simam.py): the official formula where n = H*W - 1 is small, and the NHWC
export's onnxruntime form (tests/test_models_nhwc.py)."""

from __future__ import annotations

import pytest
import torch

from chanattn_export import create_model


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("hw", [(1, 2), (2, 1), (1, 3)])
def test_two_or_three_positions_follow_the_official_formula(hw: tuple[int, int],
                                                            layout: str) -> None:
    # n = H*W - 1 is 1 or 2 here: the official code's division, no clamp involved.
    x = torch.randn(2, 4, *hw, generator=torch.Generator().manual_seed(hw[0] * 10 + hw[1]))
    n = hw[0] * hw[1] - 1
    d = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
    ref = x * torch.sigmoid(d / (4 * (d.sum(dim=[2, 3], keepdim=True) / n + 1e-4)) + 0.5)
    m = create_model("simam", channels=4, layout=layout)
    y = m(x) if layout == "nchw" else m(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-6)

