"""Gather-Excite (models/ge.py): the extent > 0 gather against a reference written from the
paper's definition, in both layouts, and its argument check."""

from __future__ import annotations

import pytest
import torch

from chanattn_export.models import GatherExcite


def _reference(x: torch.Tensor, e: int) -> torch.Tensor:
    """NCHW. Gather: the mean over a (2e-1) x (2e-1) window every e positions, positions outside
    the image not counted (so ceil(H/e) cells); excite: nearest upsampling (output position i
    reads cell floor(i * cells / H)) and a sigmoid gate."""
    _, _, h, w = x.shape
    ch, cw = -(-h // e), -(-w // e)
    cells = torch.empty(*x.shape[:2], ch, cw)
    for p in range(ch):
        for q in range(cw):
            win = x[:, :, max(p * e - (e - 1), 0):p * e + e, max(q * e - (e - 1), 0):q * e + e]
            cells[:, :, p, q] = win.mean((2, 3))
    gate = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            gate[:, :, i, j] = cells[:, :, i * ch // h, j * cw // w]
    return x * torch.sigmoid(gate)


@pytest.mark.parametrize("extent", [2, 3])
def test_extent_matches_the_papers_gather_and_nearest_excite(extent: int) -> None:
    # 7 x 9 is not a multiple of either extent, so the last window is cut by the border.
    x = torch.randn(2, 4, 7, 9, generator=torch.Generator().manual_seed(extent))
    torch.testing.assert_close(GatherExcite(4, extent=extent)(x), _reference(x, extent),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("extent", [0, 1, 2, 3])
def test_nhwc_with_extent_is_nchw_on_permuted_data(extent: int) -> None:
    x = torch.randn(2, 4, 7, 9, generator=torch.Generator().manual_seed(10 + extent))
    y_nchw = GatherExcite(4, extent=extent)(x)
    y_nhwc = GatherExcite(4, layout="nhwc", extent=extent)(x.permute(0, 2, 3, 1).contiguous())
    assert y_nhwc.shape == (2, 7, 9, 4)
    torch.testing.assert_close(y_nhwc, y_nchw.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


def test_negative_extent_is_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match=r"extent must be >= 0 .*got -1"):
        GatherExcite(4, extent=-1)

