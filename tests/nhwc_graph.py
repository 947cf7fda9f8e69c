"""Shared check for the NHWC ONNX rewrite (models/_pool.py ``spread``/``apply_gate``).

In an NHWC export every per-channel statistic that meets the full tensor in an elementwise op
(the gate's Mul, SimAM's Sub and Div) is expanded to ``[N, 1, W, C]`` first, so onnxruntime's
broadcast walks spans of W*C elements instead of C (benchmarks/NOTES.md). Eager computes the
same numbers either way; only the exported graph shows whether a block uses the faster form.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import shape_inference

from chanattn_export.api import make_export_spec
from chanattn_export.export import export_bytes
from chanattn_export.registry import build_model

ELEMENTWISE = {"Add", "Sub", "Mul", "Div"}


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in vi.type.tensor_type.shape.dim]


def narrow_broadcasts(name: str, channels: int = 8) -> list[str]:
    """Export ``name`` in NHWC with dynamic H x W (dynamo), check onnxruntime gives eager's
    numbers, and return the elementwise ops that broadcast a ``[N, 1, 1, C]`` operand over the
    full ``[N, H, W, C]`` tensor (each one a missed rewrite)."""
    spec = make_export_spec(name, channels=channels, layout="nhwc", batch=2, height=5, width=6,
                            dynamic_hw=True)
    net = build_model(spec.model, seed=3)
    exported = export_bytes(net, spec)
    assert exported.exporter == "dynamo", exported.fallback_reason

    x = np.random.default_rng(0).standard_normal((2, 3, 7, channels)).astype(np.float32)
    sess = ort.InferenceSession(exported.data, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        np.testing.assert_allclose(y, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)

    graph = shape_inference.infer_shapes(onnx.load_from_string(exported.data)).graph
    shapes = {vi.name: _dims(vi) for vi in [*graph.value_info, *graph.input, *graph.output]}
    bad = []
    for node in graph.node:
        out = shapes.get(node.output[0], [])
        if node.op_type not in ELEMENTWISE or len(out) != 4 or out[1] == 1:
            continue  # not an op over the full tensor
        for i in node.input:
            s = shapes.get(i, [])
            if len(s) == 4 and s[1] == 1 and s[2] == 1 and s[3] != 1:
                bad.append(f"{node.op_type}({', '.join(map(str, s))})")
    return bad
