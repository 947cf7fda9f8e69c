"""ECA (models/eca.py): the NHWC export uses the onnxruntime
gate form (tests/nhwc_graph.py)."""

from __future__ import annotations

from nhwc_graph import narrow_broadcasts


def test_nhwc_export_spreads_the_gate_over_w_times_c() -> None:
    assert narrow_broadcasts("eca") == []
