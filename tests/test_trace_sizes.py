"""A TorchScript file traced at a tiny size must still compute the block at every other size.

``torch.jit.trace`` hands sizes over as 0-d tensors; a Python ``max(n, 1)`` on one of them is
recorded as the branch the trace size took, so SimAM and SRM traced at 1 x 1 divided by 1 at
every size (max_abs 0.4 at 2 x 3). Every family, both layouts, traced at 1 x 1 with dynamic
H x W: parity runs the file at larger maps too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chanattn_export import api
from chanattn_export.check.cases import parity_sizes
from chanattn_export.registry import list_models

DYNAMIC = [m.name for m in list_models() if not m.fixed_hw]  # fca's weights fix its H x W


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("model", DYNAMIC)
def test_traced_at_one_by_one_holds_at_every_size(model: str, layout: str,
                                                  tmp_path: Path) -> None:
    res = api.export_torchscript(model, channels=8, layout=layout, height=1, width=1,
                                 dynamic_hw=True, out=tmp_path)
    # judged beyond the trace size (a check's shape is the output's: a gate's is 1 x 1)
    assert any(h * w > 1 for h, w in parity_sizes(res.spec.input))
    assert res.passed, res.parity.failures[:2]
