"""Shared check for the NHWC ONNX rewrite (models/_pool.py ``spread``/``apply_gate``).

In an NHWC export every per-channel statistic that meets the full tensor in an elementwise op
(the gate's Mul, SimAM's Sub and Div, SRM's mean) is expanded to ``[N, 1, W, C]`` first, so
onnxruntime's broadcast walks spans of W*C elements instead of C (benchmarks/NOTES.md). Eager
computes the same numbers either way; only the exported graph shows whether a block uses the
faster form.
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


def export_nhwc(name: str, net: torch.nn.Module | None = None, channels: int = 8,
                **kw) -> tuple[bytes, torch.nn.Module]:
    """``name`` (or ``net``, built for that spec) exported in NHWC with dynamic H x W by the
    dynamo exporter (the one with the rewrite), and the eager block it came from."""
    spec = make_export_spec(name, channels=channels, layout="nhwc", batch=2, height=5, width=6,
                            dynamic_hw=True, **kw)
    if net is None:
        net = build_model(spec.model, seed=3)
    exported = export_bytes(net, spec)
    assert exported.exporter == "dynamo", exported.fallback_reason
    return exported.data, net


def assert_runs_like_eager(data: bytes, net: torch.nn.Module) -> None:
    """onnxruntime gives eager's numbers, at another H x W than the export's example."""
    channels = onnx.load_from_string(data).graph.input[0].type.tensor_type.shape.dim[3].dim_value
    x = np.random.default_rng(0).standard_normal((2, 3, 7, channels)).astype(np.float32)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        np.testing.assert_allclose(y, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


def narrow_broadcasts(data: bytes) -> list[str]:
    """The elementwise ops that broadcast a ``[N, 1, 1, C]`` operand over the full
    ``[N, H, W, C]`` tensor (each one a missed rewrite)."""
    graph = shape_inference.infer_shapes(onnx.load_from_string(data)).graph
    shapes = {vi.name: _dims(vi) for vi in [*graph.value_info, *graph.input, *graph.output]}
    shapes.update({i.name: list(i.dims) for i in graph.initializer})
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


def check_nhwc_export(name: str, net: torch.nn.Module | None = None, **kw) -> None:
    """Export ``name`` in NHWC: the rewrite is in the graph and the numbers are eager's."""
    data, net = export_nhwc(name, net, **kw)
    assert narrow_broadcasts(data) == []
    assert_runs_like_eager(data, net)
