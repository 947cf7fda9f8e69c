"""Shared check for the NHWC ONNX files: per-channel statistics are spread over W first.

The dynamo exporter writes every elementwise op between the ``[N, H, W, C]`` map and a
per-channel ``[N, 1, 1, C]`` statistic (the gate, a mean) with the statistic expanded to
``[N, 1, W, C]``: onnxruntime's broadcasting then walks spans of W*C elements, the faster form
(``models/_pool.py`` ``spread``, benchmarks/NOTES.md). Used by the per-family test files.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch

from chanattn_export.api import make_export_spec
from chanattn_export.export import export_bytes
from chanattn_export.registry import build_model

N, H, W, C = 2, 6, 7, 16


def export_nhwc(name: str, net: torch.nn.Module | None = None, **kw) -> tuple[bytes, str]:
    """A tiny static NHWC ONNX export of ``name`` (or of ``net``, built for that spec)."""
    spec = make_export_spec(name, channels=C, layout="nhwc", batch=N, height=H, width=W, **kw)
    ex = export_bytes(net if net is not None else build_model(spec.model), spec)
    return ex.data, ex.exporter


def _shapes(proto: onnx.ModelProto) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for vi in [*proto.graph.value_info, *proto.graph.input, *proto.graph.output]:
        out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                             for d in vi.type.tensor_type.shape.dim)
    out.update({i.name: tuple(i.dims) for i in proto.graph.initializer})
    return out


def narrow_broadcasts(data: bytes) -> list[str]:
    """The elementwise ops on the full map that broadcast a ``[N, 1, 1, C]``-like operand."""
    proto = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    shapes = _shapes(proto)
    bad = []
    for node in proto.graph.node:
        if node.op_type not in ("Mul", "Add", "Sub", "Div"):
            continue
        if shapes.get(node.output[0], ())[1:] != (H, W, C):
            continue
        for name in node.input:
            s = shapes.get(name)
            if s is None or (len(s) == 4 and s[2] != W):
                bad.append(f"{node.op_type} {node.name}: {name} {s}")
    return bad


def assert_runs_like_eager(data: bytes, net: torch.nn.Module) -> None:
    """The file computes what the eager block computes (one random NHWC input)."""
    x = np.random.default_rng(0).standard_normal((N, H, W, C)).astype(np.float32)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
