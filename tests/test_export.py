"""Every registered model x format x layout exports, reloads and passes parity."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from chanattn_export import export_onnx, export_torchscript, list_models
from chanattn_export.api import make_export_spec
from chanattn_export.export import export_bytes
from chanattn_export.registry import build_model
from chanattn_export.spec import Layout

MODELS = [m.name for m in list_models()]
LAYOUTS = [lay.value for lay in Layout]


def _x(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _shape(layout: str, n: int, c: int, h: int, w: int) -> tuple[int, int, int, int]:
    return (n, h, w, c) if layout == "nhwc" else (n, c, h, w)


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", MODELS)
def test_onnx_matrix(name: str, layout: str, small: dict, tmp_path: Path) -> None:
    res = export_onnx(name, layout=layout, out=tmp_path, **small)
    assert res.passed, res.parity.failures
    assert res.path.suffix == ".onnx" and res.path.is_file()
    assert not list(tmp_path.glob("*.data")), "small models must be single files"
    proto = onnx.load(str(res.path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["chanattn_export.model"] == name
    assert meta["chanattn_export.layout"] == layout
    assert meta["chanattn_export.channels"] == "16"
    assert json.loads(meta["chanattn_export.input_dims"]) == list(
        _shape(layout, "batch", 16, 8, 10))  # type: ignore[arg-type]
    assert meta["chanattn_export.opset"] == "18"
    # Plain onnxruntime, another batch than any parity batch, equals eager.
    net = build_model(res.spec.model, res.weights_path.read_bytes())
    x = _x(_shape(layout, 7, 16, 8, 10))
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": x})
    np.testing.assert_allclose(y, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", MODELS)
def test_torchscript_matrix(name: str, layout: str, small: dict, tmp_path: Path) -> None:
    res = export_torchscript(name, layout=layout, out=tmp_path, **small)
    assert res.passed, res.parity.failures
    loaded = torch.jit.load(str(res.path))
    net = build_model(res.spec.model, res.weights_path.read_bytes())
    for n in (1, 5):
        x = torch.from_numpy(_x(_shape(layout, n, 16, 8, 10), n))
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)  # frozen: bit-exact


def test_dynamic_hw_runs_at_other_sizes(tmp_path: Path) -> None:
    res = export_onnx("cbam", channels=8, height=12, width=12, dynamic_hw=True, out=tmp_path)
    assert res.passed
    sizes = {c.shape[2:] for c in res.parity.checks}
    assert len(sizes) == 3, "parity must cover a second H x W when H/W are dynamic"
    assert (1, 1) in sizes  # and the smallest a dynamic H x W accepts
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    net = build_model(res.spec.model, res.weights_path.read_bytes())
    x = _x((2, 8, 5, 17))
    np.testing.assert_allclose(sess.run(None, {"input": x})[0],
                               net(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_static_hw_is_fixed_in_the_graph(tmp_path: Path) -> None:
    res = export_onnx("se", channels=8, height=6, width=6, out=tmp_path)
    dims = onnx.load(str(res.path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 8, 6, 6]


def test_parity_covers_batches_and_hard_cases(tmp_path: Path) -> None:
    res = export_onnx("cbam-channel", channels=8, height=6, width=6, out=tmp_path)
    checks = res.parity.checks
    assert {c.shape[0] for c in checks} == {1, 2, 3}  # 1, the traced batch, one never traced
    assert {c.case for c in checks} == {"random", "large", "constant", "negative", "saturate"}
    # small inputs: the spec's own implementation (onnx.reference) judges the file too
    assert {c.backend for c in checks} == {"onnxruntime-cpu", "onnx-reference-cpu"}


def test_legacy_exporter_with_dynamic_batch(tmp_path: Path) -> None:
    res = export_onnx("cbam-channel", channels=16, height=8, width=8, exporter="legacy",
                      out=tmp_path)
    assert res.exporter == "legacy" and res.passed
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"input": _x((7, 16, 8, 8))})[0].shape == (7, 16, 8, 8)


@pytest.mark.parametrize("opset", [17, 20])
def test_other_opsets(opset: int, tmp_path: Path) -> None:
    res = export_onnx("eca", channels=16, height=8, width=8, opset=opset, out=tmp_path)
    assert res.passed
    proto = onnx.load(str(res.path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [opset]


def test_reexport_is_byte_identical_across_processes(tmp_path: Path) -> None:
    code = ("import sys; from chanattn_export import export_onnx;"
            "print(export_onnx('cbam', channels=16, height=8, width=8, out=sys.argv[1]).sha256)")
    shas = [subprocess.run([sys.executable, "-c", code, str(tmp_path / d)], check=True,
                           capture_output=True, text=True).stdout.strip() for d in ("a", "b")]
    assert shas[0] == shas[1] and len(shas[0]) == 64
    assert (tmp_path / "a" / "cbam-nchw-c16-r16-8x8.onnx").read_bytes() == \
        (tmp_path / "b" / "cbam-nchw-c16-r16-8x8.onnx").read_bytes()


def test_onnx_holds_no_local_source_paths(tmp_path: Path) -> None:
    """Stack traces with this machine's paths must not ship (nor change bytes per install)."""
    import chanattn_export

    res = export_onnx("cbam", channels=8, height=6, width=6, out=tmp_path)
    data = res.path.read_bytes()
    assert str(Path(chanattn_export.__file__).parent).encode() not in data
    assert b".py\", line" not in data
    legacy = export_onnx("cbam", channels=8, height=6, width=6, exporter="legacy",
                         out=tmp_path / "legacy")
    assert str(Path(chanattn_export.__file__).parent).encode() not in legacy.path.read_bytes()


def test_export_is_quiet(tmp_path: Path, capfd) -> None:
    export_onnx("se", channels=8, height=4, width=4, out=tmp_path)
    export_torchscript("se", channels=8, height=4, width=4, out=tmp_path)
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)


def test_export_bytes_does_not_touch_the_model() -> None:
    spec = make_export_spec("cbam-channel", channels=8, ratio=2, height=4, width=4)
    net = build_model(spec.model)  # ratio 2: four hidden units, so the weights show
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = export_bytes(net, spec)
    assert res.exporter == "dynamo"
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net.training
    # The bytes are the model: both formats load and compute what eager computes.
    x = _x((3, 8, 4, 4), seed=2)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(res.data, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], want, rtol=1e-4, atol=1e-5)
    ts = torch.jit.load(io.BytesIO(export_bytes(net, make_export_spec(
        "cbam-channel", fmt="torchscript", channels=8, ratio=2, height=4, width=4)).data))
    with torch.no_grad():
        np.testing.assert_array_equal(ts(torch.from_numpy(x)).numpy(), want)


def test_cuda_backends_join_parity_when_present(monkeypatch) -> None:
    from chanattn_export.runtime import backends_for, devices
    from chanattn_export.spec import Format

    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    monkeypatch.setattr(devices, "ort_cuda_available", lambda: True)
    assert backends_for(Format.ONNX) == ["onnxruntime-cpu", "onnxruntime-cuda",
                                         "onnx-reference-cpu"]
    assert backends_for(Format.TORCHSCRIPT) == ["torchscript-cpu", "torchscript-cuda",
                                                "eager-cuda"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_parity_on_cuda(tmp_path: Path) -> None:
    from chanattn_export.runtime import ort_cuda_available

    res = export_torchscript("cbam", channels=16, height=8, width=8, out=tmp_path)
    assert {"torchscript-cuda", "eager-cuda"} <= set(res.parity.backends())
    assert res.passed, res.parity.failures
    if ort_cuda_available():
        res = export_onnx("cbam", channels=16, height=8, width=8, out=tmp_path)
        assert "onnxruntime-cuda" in res.parity.backends()
        assert res.passed, res.parity.failures
