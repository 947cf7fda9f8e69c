"""check_input and Expected on their own: the exact rule and message for each bad tensor.

No export here (tests/test_input_validation.py proves every runner calls these first).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from chanattn_export.errors import InputError
from chanattn_export.runtime.validation import Expected, check_input
from chanattn_export.spec import InputSpec, Layout, ModelSpec

NCHW_TXT, NHWC_TXT = "NCHW (N, C, H, W)", "NHWC (N, H, W, C)"
SE_NCHW = ModelSpec("se", 8, 2, Layout.NCHW)
SE_NHWC = ModelSpec("se", 8, 2, Layout.NHWC)
STATIC = Expected.from_spec(SE_NCHW, InputSpec(batch=1, height=4, width=5))


def _refused(x, expected: Expected | None = None, **kw) -> str:
    with pytest.raises(InputError) as e:
        check_input(x, expected, **kw)
    return str(e.value)


def test_expected_from_spec_without_input_knows_only_the_channels() -> None:
    e = Expected.from_spec(SE_NCHW)
    assert (e.layout, e.dims, e.channels) == (Layout.NCHW, ("batch", 8, None, None), 8)
    e = Expected.from_spec(SE_NHWC)
    assert (e.layout, e.dims, e.channels) == (Layout.NHWC, ("batch", None, None, 8), 8)


def test_expected_from_spec_with_input_has_every_dim() -> None:
    assert STATIC.dims == ("batch", 8, 4, 5) and STATIC.channels == 8
    e = Expected.from_spec(SE_NHWC, InputSpec(batch=3, height=4, width=5, dynamic_hw=True,
                                              dynamic_batch=False))
    assert e.dims == (3, "height", "width", 8) and e.layout is Layout.NHWC


def test_expected_from_onnx_shape_keeps_positive_ints_only() -> None:
    e = Expected.from_onnx_shape(["batch", 8, 4, None])
    assert (e.layout, e.dims, e.channels) == (None, (None, 8, 4, None), None)
    assert Expected.from_onnx_shape([0, -1, 1, "w"]).dims == (None, None, 1, None)


def test_channels_needs_a_layout_rank_4_and_an_int() -> None:
    assert Expected(None, (1, 8, 4, 4)).channels is None
    assert Expected(Layout.NCHW, (1, 8, 4)).channels is None
    assert Expected(Layout.NCHW, ("batch", "c", 4, 4)).channels is None
    assert Expected(Layout.NHWC, ("batch", 4, 4, 6)).channels == 6
    assert Expected().layout is None and Expected().dims == ("batch", None, None, None)


def test_good_input_is_returned_as_is() -> None:
    x = np.zeros((2, 8, 4, 5), np.float32)
    assert check_input(x) is x
    assert check_input(x, STATIC) is x
    assert check_input(x, Expected.from_spec(SE_NCHW)) is x
    y = np.zeros((1, 4, 5, 8), np.float32)
    assert check_input(y, Expected.from_spec(SE_NHWC)) is y


def test_not_an_array() -> None:
    msg = _refused(torch.zeros(1, 8, 4, 5))
    assert msg == "input must be a numpy.ndarray; got torch.Tensor (use tensor.cpu().numpy())"
    assert _refused([[1.0]]) == "input must be a numpy.ndarray; got builtins.list"


def test_rank() -> None:
    x = np.zeros((8, 4, 5), np.float32)
    assert _refused(x) == ("input must have rank 4 (N, C, H, W) or (N, H, W, C); "
                           "got rank 3, shape (8, 4, 5)")
    assert _refused(x, Expected.from_spec(SE_NHWC)) == (
        f"input must have rank 4 laid out {NHWC_TXT}; got rank 3, shape (8, 4, 5)")
    assert _refused(x[None, None], STATIC).startswith(f"input must have rank 4 laid out "
                                                      f"{NCHW_TXT}; got rank 5")


def test_dtype() -> None:
    x = np.zeros((1, 8, 4, 5))
    assert _refused(x) == "input dtype must be float32; got float64 (use x.astype(np.float32))"
    h = x.astype(np.float16)
    assert check_input(h, dtypes=(np.dtype(np.float16),)) is h
    assert "input dtype must be float32, float16; got int32" in _refused(
        x.astype(np.int32), dtypes=(np.dtype(np.float32), np.dtype(np.float16)))


def test_empty_and_non_contiguous() -> None:
    assert _refused(np.zeros((0, 8, 4, 5), np.float32)) == \
        "input is empty: shape (0, 8, 4, 5) has a zero dim"
    assert _refused(np.zeros((1, 8, 0, 5), np.float32)).startswith("input is empty")
    t = np.zeros((1, 8, 5, 4), np.float32).transpose(0, 1, 3, 2)
    assert _refused(t) == ("input of shape (1, 8, 4, 5) is not C-contiguous (a transposed or "
                           "strided view?); pass np.ascontiguousarray(x)")


def test_wrong_channel_count() -> None:
    x = np.zeros((2, 9, 4, 5), np.float32)
    assert _refused(x, STATIC) == (
        f"input has 9 channels at axis 1, expected 8; shape (2, 9, 4, 5) (layout {NCHW_TXT})")
    nhwc = Expected.from_spec(SE_NHWC)
    assert _refused(np.zeros((2, 4, 5, 9), np.float32), nhwc) == (
        f"input has 9 channels at axis 3, expected 8; shape (2, 4, 5, 9) (layout {NHWC_TXT})")


def test_a_tensor_in_the_other_layout_is_named_as_such() -> None:
    assert _refused(np.zeros((2, 4, 5, 8), np.float32), STATIC) == (
        "input has 4 channels at axis 1, expected 8; shape (2, 4, 5, 8); this looks like an "
        f"NHWC tensor, the model expects {NCHW_TXT}")
    assert _refused(np.zeros((2, 8, 4, 5), np.float32), Expected.from_spec(SE_NHWC)) == (
        "input has 5 channels at axis 3, expected 8; shape (2, 8, 4, 5); this looks like an "
        f"NCHW tensor, the model expects {NHWC_TXT}")


def test_fixed_dims() -> None:
    assert _refused(np.zeros((2, 8, 4, 6), np.float32), STATIC) == (
        "input W (axis 3) is 6, but the model was exported with a fixed 5; shape (2, 8, 4, 6), "
        f"expected (batch, 8, 4, 5) {NCHW_TXT}")
    fixed_batch = Expected.from_spec(SE_NHWC, InputSpec(batch=2, height=4, width=5,
                                                        dynamic_batch=False))
    assert _refused(np.zeros((3, 4, 5, 8), np.float32), fixed_batch).startswith(
        "input N (axis 0) is 3, but the model was exported with a fixed 2")
    assert "input H (axis 1) is 3" in _refused(np.zeros((2, 3, 5, 8), np.float32), fixed_batch)


def test_fixed_dims_from_an_onnx_graph_have_no_layout_names() -> None:
    graph = Expected.from_onnx_shape(["batch", 8, 4, 5])
    assert _refused(np.zeros((1, 8, 7, 5), np.float32), graph) == (
        "input dim 2 (axis 2) is 7, but the model was exported with a fixed 4; "
        "shape (1, 8, 7, 5), expected (?, 8, 4, 5)")
    assert re.search(r"dim 1 \(axis 1\) is 3\b", _refused(np.zeros((1, 3, 4, 5), np.float32),
                                                          graph))
