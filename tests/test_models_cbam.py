"""CBAM and the pooling/gating rewrites it exports with (models/cbam.py, models/_pool.py).

timm's CBAM (``preset="timm"``) has a BatchNorm after the spatial conv, folded before export
(:func:`fold_for_export`): the folded conv has a bias, which the dynamo export's row-convolution
rewrite must add. These tests check the fold itself, that such a file is really made by the
dynamo exporter (no silent fallback) and matches the eager block, and that the onnxruntime
forms land where they are documented (NHWC gate Expand, MaxPool windows over the strided axes)
and nowhere else (NCHW, eager).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from random_weights import randomize_
from torch import nn
from torch.overrides import TorchFunctionMode

from chanattn_export import create_model
from chanattn_export.api import make_export_spec
from chanattn_export.export import export_bytes
from chanattn_export.models import ConvBN, fold_for_export

C, H, W = 8, 6, 5


def randomized_timm_cbam(layout: str = "nchw") -> nn.Module:
    """timm CBAM with every parameter and BatchNorm statistic drawn at random (so the folded
    conv has a real bias)."""
    m = create_model("cbam", channels=C, preset="timm", layout=layout)
    return randomize_(m, 11).eval()


def test_fold_replaces_conv_bn_by_one_conv_and_leaves_the_model_alone() -> None:
    net = randomized_timm_cbam().train()
    folded = fold_for_export(net)
    assert isinstance(folded.spatial.conv, nn.Conv2d) and folded.spatial.conv.bias is not None
    assert not any(isinstance(m, ConvBN) for m in folded.modules())
    # the caller's model is untouched: still a ConvBN, still in training mode
    assert isinstance(net.spatial.conv, ConvBN) and net.training and net.spatial.conv.bn.training
    x = torch.randn(2, C, H, W)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net.eval()(x), rtol=1e-5, atol=1e-6)


def test_fold_returns_a_model_without_batchnorm_as_it_is() -> None:
    net = create_model("cbam", channels=C).train()
    assert fold_for_export(net) is net and net.training


def test_eager_runs_the_plain_spatial_convolution() -> None:
    # The row-convolution form is for onnxruntime only; eager (so TorchScript and the legacy
    # ONNX exporter) keeps one k x k convolution over the [mean; max] maps.
    kernels: list[tuple[int, ...]] = []

    class Convs(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is F.conv2d:
                kernels.append(tuple(args[1].shape))
            return func(*args, **(kwargs or {}))

    net = create_model("cbam", channels=C)
    with torch.no_grad(), Convs():
        net(torch.randn(2, C, H, W))
    assert kernels == [(1, 2, 7, 7)], kernels


@pytest.fixture(scope="module", params=["nchw", "nhwc"])
def timm_file(request) -> tuple[str, nn.Module, onnx.ModelProto, bytes]:
    layout = request.param
    net = randomized_timm_cbam(layout)
    spec = make_export_spec("cbam", channels=C, height=H, width=W, layout=layout,
                            preset="timm")
    res = export_bytes(net, spec)
    # a rewrite that fails to trace makes torch.onnx retry without it, or the toolkit fall
    # back to the legacy exporter: either file lacks the onnxruntime forms checked below
    assert res.exporter == "dynamo" and res.fallback_reason is None, res.fallback_reason
    return layout, net, onnx.load_from_string(res.data), res.data


def _shapes(proto: onnx.ModelProto) -> dict[str, list]:
    vals = [*proto.graph.value_info, *proto.graph.input]
    return {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in vals}


def test_timm_file_is_the_onnxruntime_form_of_the_unfolded_eager_block(timm_file) -> None:
    """One test for the whole file: mutmut maps a mutant to the tests that ran it, and a
    module-scoped export runs inside the first test only."""
    layout, net, proto, data = timm_file
    kernels = [list(a.ints) for n in proto.graph.node if n.op_type == "Conv"
               for a in n.attribute if a.name == "kernel_shape"]
    assert kernels == [[1, 7]], kernels  # the folded conv went through the row rewrite
    shape = (2, C, H, W) if layout == "nchw" else (2, H, W, C)
    x = np.random.default_rng(12).standard_normal(shape).astype(np.float32)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        np.testing.assert_allclose(y, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
    _channel_gate_is_expanded_in_nhwc_files_only(layout, proto)
    _maxpool_windows_cover_the_strided_axes(layout, proto)


def _channel_gate_is_expanded_in_nhwc_files_only(layout: str, proto: onnx.ModelProto) -> None:
    # NHWC: the [N, 1, 1, C] channel gate becomes [N, 1, W, C] before the Mul (faster in
    # onnxruntime); NCHW's [N, C, 1, 1] gate spans H x W already and is left alone.
    expands = [n for n in proto.graph.node if n.op_type == "Expand"]
    assert len(expands) == (1 if layout == "nhwc" else 0), [n.name for n in expands]


def _maxpool_windows_cover_the_strided_axes(layout: str, proto: onnx.ModelProto) -> None:
    # NHWC's spatial max pools 4 x 4 windows of H x W (static 6 x 5 holds them), each on the
    # [N, 1, ...] view (the singleton axis is MaxPool's channel axis); NCHW's channel max would
    # pool 16 channels, more than C = 8: a window wider than its axis, which OpenVINO refuses,
    # so the plain ReduceMax stays (docs/runtimes.md).
    shapes = _shapes(proto)
    pools = [n for n in proto.graph.node if n.op_type == "MaxPool"]
    assert len(pools) == (1 if layout == "nhwc" else 0), [n.name for n in pools]
    if not pools:
        return
    (pool,) = pools
    kernel = next(list(a.ints) for a in pool.attribute if a.name == "kernel_shape")
    if layout == "nhwc":
        assert shapes[pool.input[0]][1:] == [1, H, W, C] and kernel == [4, 4, 1]
    else:
        assert shapes[pool.input[0]][1:] == [1, C, H, W] and kernel == [16, 1, 1]
