"""Bad tensors get an InputError from our code before any backend sees them; NaN/Inf documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import TINY

from chanattn_export import InputError, api
from chanattn_export.check.parity import compare, judge
from chanattn_export.registry import build_model, list_models
from chanattn_export.runtime import EagerRunner, OrtRunner, TorchScriptRunner
from chanattn_export.runtime.validation import Expected
from chanattn_export.spec import InputSpec, ModelSpec, Tolerance

C, H, W = TINY["channels"], TINY["height"], TINY["width"]


def _runners(folder: Path, model: str, layout: str = "nchw") -> dict[str, object]:
    onnx_res = api.export_onnx(model, layout=layout, out=folder, **TINY)
    ts_res = api.export_torchscript(model, layout=layout, out=folder, **TINY)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"] if a["path"] == ts_res.path.name)
    spec = ModelSpec.from_dict(entry["model"])
    expected = Expected.from_spec(spec, InputSpec.from_dict(entry["input"]))
    net = build_model(spec, (folder / entry["weights"]).read_bytes())
    return {
        "eager": EagerRunner(net, expected=expected),
        "torchscript": TorchScriptRunner(ts_res.path.read_bytes(), expected=expected),
        "onnxruntime": OrtRunner(onnx_res.path.read_bytes(), expected=expected),
        "onnxruntime-graph-dims": OrtRunner(onnx_res.path.read_bytes()),  # no spec given
    }


@pytest.fixture(scope="module")
def nchw(tmp_path_factory) -> dict[str, object]:
    return _runners(tmp_path_factory.mktemp("v"), "cbam-channel")


def _poison(runner) -> None:
    """Make the backend itself fail loudly if it is ever reached."""
    class Boom:
        def __call__(self, *_a, **_k):
            raise AssertionError("bad input reached the backend")

        run = __call__

    if hasattr(runner, "session"):
        runner.session = Boom()
    else:
        runner.module = Boom()


GOOD = np.zeros((2, C, H, W), np.float32)
BAD = {
    "rank 3": (np.zeros((C, H, W), np.float32), "rank 4"),
    "rank 5": (np.zeros((1, 2, C, H, W), np.float32), "rank 4"),
    "channels": (np.zeros((2, C + 1, H, W), np.float32), "channels at axis 1, expected 8"),
    "layout": (np.zeros((2, H + 2, W, C), np.float32), "NHWC"),
    "float64": (np.zeros((2, C, H, W)), "dtype must be float32"),
    "int32": (np.zeros((2, C, H, W), np.int32), "dtype must be float32"),
    "float16": (np.zeros((2, C, H, W), np.float16), "dtype must be float32"),
    "non-contiguous": (np.zeros((2, C, W, H), np.float32).transpose(0, 1, 3, 2),
                       "not C-contiguous"),
    "strided": (np.zeros((4, C, H, W), np.float32)[::2], "not C-contiguous"),
    # a channel slice is a strided view too: the wrong channel count is what the user must hear
    "channel slice": (np.zeros((2, 2 * C, H, W), np.float32)[:, ::3], "channels at axis 1"),
    "empty batch": (np.zeros((0, C, H, W), np.float32), "empty"),
    "fixed H": (np.zeros((2, C, H + 1, W), np.float32), r"H \(axis 2\) is 9"),
    "torch tensor": (torch.zeros(2, C, H, W), "numpy.ndarray"),
    "list": ([[[[0.0]]]], "numpy.ndarray"),
}


@pytest.mark.parametrize("backend", ["eager", "torchscript", "onnxruntime"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_before_the_backend(nchw, backend: str, case: str) -> None:
    runner = nchw[backend]
    x, message = BAD[case]
    saved = runner.__dict__.copy()
    _poison(runner)
    try:
        with pytest.raises(InputError, match=message):
            runner.infer(x)
    finally:
        runner.__dict__.update(saved)
    assert runner.infer(GOOD).shape == GOOD.shape


@pytest.mark.parametrize("case", ["rank 3", "channels", "layout", "float64", "non-contiguous",
                                  "empty batch", "fixed H"])
def test_onnx_runner_without_spec_uses_the_graph_dims(nchw, case: str) -> None:
    runner = nchw["onnxruntime-graph-dims"]
    with pytest.raises(InputError):
        runner.infer(BAD[case][0])


def test_nhwc_model_refuses_nchw_tensor(tmp_path: Path) -> None:
    runners = _runners(tmp_path, "se", "nhwc")
    with pytest.raises(InputError, match="looks like an NCHW tensor"):
        runners["onnxruntime"].infer(np.zeros((2, C, H, W + 1), np.float32))
    assert runners["eager"].infer(np.zeros((2, H, W, C), np.float32)).shape == (2, H, W, C)


# -- NaN and Inf: measured on CPU (torch 2.13, onnxruntime 1.32); documented in guarantees.md --

@pytest.fixture(scope="module", params=[m.name for m in list_models()])
def every_model(request, tmp_path_factory) -> dict[str, object]:
    return _runners(tmp_path_factory.mktemp("nan"), request.param)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_inf_inputs_same_answer_on_every_backend(every_model, value: float) -> None:
    """A non-finite input stays in its own sample, and every backend puts NaN/Inf at the same
    positions as eager PyTorch; finite outputs agree within the default tolerance."""
    x = np.random.default_rng(0).standard_normal((2, C, H, W)).astype(np.float32)
    x[0, 3, 2, 2] = value
    outs = {name: r.infer(x) for name, r in every_model.items()}
    ref = outs.pop("eager")
    assert np.isfinite(ref[1]).all()  # the other sample is untouched
    if np.isnan(value):
        assert np.isnan(ref[0]).any()  # NaN propagates through the pooled gate
    for name, y in outs.items():
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=name)
        np.testing.assert_array_equal(np.isposinf(y), np.isposinf(ref), err_msg=name)
        np.testing.assert_array_equal(np.isneginf(y), np.isneginf(ref), err_msg=name)
        report = judge([compare(name, "nonfinite", ref, y, 1.0)], Tolerance())
        assert report.passed, (name, report.failures)


def test_parity_nan_equal_only_where_both_sides_are_nan() -> None:
    e = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], np.float32)
    assert judge([compare("b", "c", e, e.copy())], Tolerance()).passed
    for i, bad in [(0, np.nan), (1, 0.0), (2, np.nan), (2, -np.inf), (3, 1e30), (4, np.inf)]:
        a = e.copy()
        a[i] = bad
        report = judge([compare("b", "c", e, a)], Tolerance())
        assert not report.passed, (i, bad)
    one_sided = compare("b", "c", e, np.where(np.arange(5) == 0, np.nan, e).astype(np.float32))
    assert one_sided.nan_mismatch == 1
