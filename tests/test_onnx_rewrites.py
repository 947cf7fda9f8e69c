"""The onnxruntime-specific graph formulations (models/_pool.py, SpatialAttention._conv).

The dynamo exporter writes NHWC spatial maxima and CBAM's NCHW channel max as MaxPool with
``ceil_mode`` plus a ReduceMax, the NHWC channel gate as an Expand before the Mul and CBAM's
2 -> 1 conv as row convolutions shifted and summed: faster in onnxruntime (benchmarks/NOTES.md),
the same function. These tests pin that the files really use them, that they stay exact at
sizes that are not multiples of the pooling windows (or smaller than them), and that eager and
the legacy exporter keep the plain forms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from chanattn_export import export_onnx
from chanattn_export.registry import build_model, make_spec


def _ops(path: Path) -> list[str]:
    proto = onnx.load(str(path))
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node), "standard ops only"
    return [n.op_type for n in proto.graph.node]


def _run_sizes(res, layout: str, channels: int, sizes: list[tuple[int, int]]) -> None:
    net = build_model(res.spec.model, res.weights_path.read_bytes())
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for h, w in sizes:
        shape = (3, channels, h, w) if layout == "nchw" else (3, h, w, channels)
        x = rng.standard_normal(shape).astype(np.float32)
        (y,) = sess.run(None, {"input": x})
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5, err_msg=f"{h}x{w}")


def _run_everywhere(res, layout: str, channels: int, sizes: list[tuple[int, int]]) -> None:
    """onnxruntime, onnx.reference and OpenVINO (default threads and one thread, where it once
    returned an empty tensor) all give the eager outputs at every size."""
    from chanattn_export.runtime.onnx_reference import ReferenceRunner
    from chanattn_export.runtime.openvino_cpu import OpenVINORunner

    _run_sizes(res, layout, channels, sizes)
    data = res.path.read_bytes()
    net = build_model(res.spec.model, res.weights_path.read_bytes())
    runners = [ReferenceRunner(data), OpenVINORunner(data), OpenVINORunner(data, threads=1)]
    rng = np.random.default_rng(2)
    for h, w in sizes:
        shape = (2, channels, h, w) if layout == "nchw" else (2, h, w, channels)
        x = rng.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        for r in runners:
            np.testing.assert_allclose(r.infer(x), ref, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{r.name} {h}x{w}")


# The NHWC MaxPool window is kept only where no runtime can see a window wider than its axis:
# static H and W >= 4. Anything smaller, and any dynamic H/W (which may be 1), exports the plain
# ReduceMax. CBAM's NCHW channel max is always the plain ReduceMax: its 16-channel window was
# retired (no faster on a quiet machine, benchmarks/NOTES.md section 8).
@pytest.mark.parametrize(("channels", "hw", "dynamic"), [
    (5, 12, True),  # fewer channels than the retired 16-channel window
    (17, 12, True),  # a partial last window once: any (dynamic) H x W
    (16, 2, False),  # static 2 x 2 maps
])
def test_cbam_nchw_rewrites_exact_at_any_size(channels: int, hw: int, dynamic: bool,
                                              tmp_path: Path) -> None:
    res = export_onnx("cbam", channels=channels, ratio=1, height=hw, width=hw,
                      dynamic_hw=dynamic, out=tmp_path)
    assert res.passed and res.exporter == "dynamo", res.parity.failures
    ops = _ops(res.path)
    assert "MaxPool" not in ops, ops
    convs = [n for n in onnx.load(str(res.path)).graph.node if n.op_type == "Conv"]
    shapes = [list(a.ints) for c in convs for a in c.attribute if a.name == "kernel_shape"]
    assert shapes == [[1, 7]], shapes  # the 7x7 conv as 7 row convolutions, shifted and summed
    entry = _entry(tmp_path, res.path.name)
    assert entry["rewrites"] == ["cbam-row-conv"], entry["rewrites"]
    sizes = [(1, 1), (3, 5), (7, 7), (12, 12), (17, 2)] if dynamic else [(hw, hw)]
    _run_everywhere(res, "nchw", channels, sizes)


@pytest.mark.parametrize(("hw", "dynamic", "pooled"), [
    ((12, 12), False, True),  # static, whole windows
    ((5, 7), False, True),  # static, partial last windows
    ((3, 8), False, False),  # static H below the 4-row window: plain
    ((12, 12), True, False),  # dynamic H/W may be 1: plain
])
def test_nhwc_spatial_window_only_where_it_fits(hw: tuple[int, int], dynamic: bool,
                                                pooled: bool, tmp_path: Path) -> None:
    res = export_onnx("cbam-channel", layout="nhwc", channels=16, height=hw[0], width=hw[1],
                      dynamic_hw=dynamic, out=tmp_path)
    assert res.passed and res.exporter == "dynamo", res.parity.failures
    ops = _ops(res.path)
    assert ("MaxPool" in ops) is pooled and "Expand" in ops, ops
    rewrites = _entry(tmp_path, res.path.name)["rewrites"]
    assert ("nhwc-spatial-max-pool" in rewrites) is pooled and "nhwc-broadcast-expand" in rewrites
    sizes = [(1, 1), (3, 5), (4, 4), (9, 2), (12, 12)] if dynamic else [hw]
    _run_everywhere(res, "nhwc", 16, sizes)


def _entry(folder: Path, name: str) -> dict:
    import json

    doc = json.loads((folder / "manifest.json").read_text())
    return next(e for e in doc["artifacts"] if e["path"] == name)


def test_plain_exports_list_no_rewrites(tmp_path: Path) -> None:
    res = export_onnx("se", channels=8, height=4, width=4, out=tmp_path)  # nchw: nothing to do
    assert "rewrites" not in _entry(tmp_path, res.path.name)


def test_legacy_exporter_keeps_plain_reductions(tmp_path: Path) -> None:
    res = export_onnx("cbam", layout="nhwc", channels=8, height=6, width=6, opset=17,
                      out=tmp_path)
    assert res.passed and res.exporter == "legacy", res.parity.failures
    ops = _ops(res.path)
    assert "MaxPool" not in ops and "ReduceMax" in ops, ops


def test_eager_keeps_plain_forms() -> None:
    # The rewrites are export-only: eager max_pool is many times slower.
    from chanattn_export.models import _pool

    assert _pool.rewrite_for_onnxruntime() is False
    net = build_model(make_spec("cbam", 8, layout="nchw"))
    graph = torch.jit.trace(net, torch.randn(2, 8, 6, 6)).inlined_graph
    kinds = {n.kind() for n in graph.nodes()}
    assert "aten::max_pool3d" not in kinds and "aten::amax" in kinds, kinds



def test_plain_torch_export_keeps_plain_forms() -> None:
    # Only the dynamo *ONNX* export gets the onnxruntime forms; a torch.export program (what a
    # .pt2 file holds) runs in torch, where they would be slower.
    net = build_model(make_spec("cbam", 8, layout="nhwc"))
    prog = torch.export.export(net, (torch.randn(2, 6, 6, 8),))
    targets = {str(n.target) for n in prog.graph.nodes if n.op == "call_function"}
    assert not any("max_pool" in t for t in targets) and any("amax" in t for t in targets)


@pytest.mark.parametrize(("name", "layout", "wanted"), [
    ("gc", "nchw", {"MatMul"}),  # the attention pooling as two GEMMs
    ("gc", "nhwc", {"MatMul", "Expand"}),  # ... and the added context spread over [N,1,W,C]
    ("srm", "nhwc", {"Expand"}),  # x - mean and the gate over [N,1,W,C]
    ("simam", "nhwc", {"Expand"}),  # x - mean and the energy's divisor over [N,1,W,C]
])
def test_zoo_rewrites_are_used_and_exact_at_any_size(name: str, layout: str, wanted: set[str],
                                                     tmp_path: Path) -> None:
    res = export_onnx(name, layout=layout, channels=16, height=6, width=7, dynamic_hw=True,
                      out=tmp_path)
    assert res.passed and res.exporter == "dynamo", res.parity.failures
    ops = _ops(res.path)
    assert wanted <= set(ops) and "Pow" not in ops, ops  # squares are Muls: Pow is slower
    _run_sizes(res, layout, 16, [(1, 1), (3, 5), (9, 2), (12, 12)])


def test_gc_eager_keeps_products_and_sums() -> None:
    # The MatMul context is export-only: eager (and so TorchScript) keep the forms that make a
    # frozen TorchScript copy bit-exact with the eager model.
    net = build_model(make_spec("gc", 8, layout="nchw"))
    graph = torch.jit.trace(net, torch.randn(2, 8, 6, 6)).inlined_graph
    kinds = {n.kind() for n in graph.nodes()}
    assert "aten::matmul" not in kinds and "aten::sum" in kinds, kinds
