"""Every gate family's NHWC ONNX file spreads its per-channel statistics over W*C (the
onnxruntime form, tests/nhwc_graph.py) and computes eager's numbers at a dynamic H x W.
Families whose tests need particular weights (ceca, gc, gct, srm) check it in their own files."""

from __future__ import annotations

import pytest
from nhwc_graph import check_nhwc_export


@pytest.mark.parametrize("name", ["se", "eca", "ese", "ge", "simam"])
def test_nhwc_export_spreads_the_gate_over_w_times_c(name: str) -> None:
    check_nhwc_export(name)
