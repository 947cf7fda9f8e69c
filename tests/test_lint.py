"""Graph lint: every exported graph is clean; each planted portability mistake is named."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from reliability_helpers import ONNX_NAME, TINY

from chanattn_export.export.lint import lint_onnx, unseen_shape

C, H, W = TINY["channels"], TINY["height"], TINY["width"]


def _model(nodes, inits=(), in_dims=("batch", C, H, W), out_dims=("batch", C, H, W),
           meta=None, domains=(("", 18),)) -> bytes:
    graph = helper.make_graph(
        list(nodes), "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(in_dims))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(out_dims))],
        initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in domains])
    model.ir_version = 9
    for k, v in (meta or {}).items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _const(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _rules(data: bytes, **kw) -> list[str]:
    return [p.rule for p in lint_onnx(data, **kw)]


def test_every_exported_model_is_clean(pristine):
    assert lint_onnx((pristine / ONNX_NAME).read_bytes()) == []


def test_identity_graph_is_clean():
    assert _rules(_model([helper.make_node("Relu", ["input"], ["output"])])) == []


def test_reshape_to_a_fixed_shape_bakes_the_batch():
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"], name="r")]
    problems = lint_onnx(_model(nodes, [_const("shape", [2, C, H, W])]))
    assert [p.rule for p in problems] == ["baked-shape", "unseen-shape"]
    assert problems[0].node == "r" and "[2, 8, 8, 8]" in problems[0].message


def test_reshape_with_minus_one_stays_dynamic():
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"])]
    assert _rules(_model(nodes, [_const("shape", [-1, C, H, W])])) == []


def test_split_of_the_batch_into_fixed_sizes():
    """What the legacy exporter makes of ``h.split(x.shape[0])`` on a stacked [2N, C] tensor."""
    nodes = [helper.make_node("Concat", ["input", "input"], ["cat"], axis=0),
             helper.make_node("Split", ["cat", "sizes"], ["a", "b"], axis=0, name="s"),
             helper.make_node("Add", ["a", "b"], ["output"])]
    problems = lint_onnx(_model(nodes, [_const("sizes", [2, 2])]))
    assert "baked-shape" in [p.rule for p in problems]
    assert any(p.node == "s" for p in problems)


def test_expand_to_the_export_batch():
    nodes = [helper.make_node("Expand", ["input", "shape"], ["output"], name="e")]
    assert "baked-shape" in _rules(_model(nodes, [_const("shape", [2, C, H, W])]))


def test_declared_dynamic_dim_fixed_in_the_graph():
    meta = {"chanattn_export.input_dims": json.dumps(["batch", C, H, W])}
    data = _model([helper.make_node("Relu", ["input"], ["output"])], in_dims=(2, C, H, W),
                  out_dims=(2, C, H, W), meta=meta)
    problems = lint_onnx(data)
    assert [p.rule for p in problems] == ["static-dim"]
    assert "axis 0 is declared dynamic" in problems[0].message


def test_external_data_is_refused():
    t = numpy_helper.from_array(np.ones((1,), np.float32), "w")
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    t.external_data.add(key="location", value="model.onnx.data")
    data = _model([helper.make_node("Mul", ["input", "w"], ["output"])], [t])
    problems = lint_onnx(data)
    assert [p.rule for p in problems] == ["external-data"]
    assert "model.onnx.data" in problems[0].message


def test_custom_domain_op_is_refused():
    data = _model([helper.make_node("Gelu", ["input"], ["output"], domain="com.microsoft")],
                  domains=(("", 18), ("com.microsoft", 1)))
    problems = lint_onnx(data)
    assert [p.rule for p in problems] == ["nonstandard-op"]
    assert "com.microsoft" in problems[0].message


def test_output_not_following_the_declared_dynamic_dim():
    """A graph that runs at any batch but always returns the export batch is caught by the run."""
    nodes = [helper.make_node("Slice", ["input", "st", "en", "ax"], ["output"])]
    inits = [_const("st", [0]), _const("en", [2]), _const("ax", [0])]
    problems = lint_onnx(_model(nodes, inits))
    assert [p.rule for p in problems] == ["unseen-shape"]


def test_garbage_bytes():
    assert _rules(b"not a model") == ["invalid"]


def test_unseen_shape_avoids_export_sizes():
    shape = unseen_shape(["batch", 8, "height", "width"], [3, 8, 9, 11])
    assert shape[1] == 8
    assert shape[0] not in (1, 2, 3) and shape[2] not in (9, 11) and shape[3] not in (9, 11)
    assert shape[2] != shape[3]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("fn", ["reshape", "split"])
def test_legacy_exporter_baked_batch_is_caught(fn):
    """A real export mistake, not a hand-made graph: the batch size read in Python at trace time."""
    import io

    import torch

    class Baked(torch.nn.Module):
        def forward(self, x):
            n = int(x.shape[0])  # a Python int: frozen at the trace batch
            s = torch.cat([x.mean((2, 3)), x.amax((2, 3))])
            if fn == "reshape":
                g = s.reshape(2, n, x.shape[1]).sum(0)
            else:
                a, b = s.split(n)
                g = a + b
            return x * torch.sigmoid(g)[:, :, None, None]

    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(Baked(), (torch.randn(2, C, H, W),), buf, dynamo=False,
                          input_names=["input"], output_names=["output"], opset_version=17,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    rules = _rules(buf.getvalue(), export_shape=[2, C, H, W])
    assert "unseen-shape" in rules


def _plant_baked_batch(data: bytes) -> bytes:
    """A Reshape of the input to the export batch's fixed shape, as a careless exporter leaves."""
    m = onnx.load_from_string(data)
    dims = json.loads(next(p.value for p in m.metadata_props
                           if p.key == "chanattn_export.input_dims"))
    m.graph.initializer.append(_const("baked_shape", [2, *dims[1:]]))
    m.graph.node.append(helper.make_node("Reshape", ["input", "baked_shape"], ["baked"],
                                         name="planted_baked_batch"))
    return m.SerializeToString()


@pytest.fixture
def planted_export(monkeypatch):
    from chanattn_export.export import Exported
    from chanattn_export.export import subject as pipeline

    real = pipeline.export_bytes

    def export_bytes(net, spec):
        e = real(net, spec)
        return Exported(_plant_baked_batch(e.data), e.exporter, e.fallback_reason)

    monkeypatch.setattr(pipeline, "export_bytes", export_bytes)


def test_a_lint_failure_fails_the_export_like_a_parity_failure(planted_export, tmp_path, capsys):
    from chanattn_export import api
    from chanattn_export.artifacts import ArtifactFolder, ManifestEntry
    from chanattn_export.cli import main
    from chanattn_export.errors import ParityError

    res = api.export_onnx("se", out=tmp_path, keep_failed=True, **TINY)
    assert not res.passed and res.path.parent.name == "failed"
    assert "baked-shape" in [p.rule for p in res.lint]
    with pytest.raises(ParityError, match="fails the graph lint: baked-shape"):
        res.raise_for_status()
    assert ArtifactFolder(tmp_path).read_manifest().entries == ()  # never beside passing ones
    record = json.loads((tmp_path / "failed" / (res.path.name + ".json")).read_text())
    entry = ManifestEntry.from_dict(record)
    assert entry.status == "failed"
    assert {p["rule"] for p in entry.parity["lint"]} >= {"baked-shape", "unseen-shape"}
    assert any(p["node"] == "planted_baked_batch" for p in entry.parity["lint"])

    rc = main(["onnx", "--model", "se", "--channels", "8", "--height", "8", "--width", "8",
               "--out", str(tmp_path / "cli")])
    assert rc == 1
    assert "LINT FAIL se-nchw-c8-r8-8x8.onnx: baked-shape" in capsys.readouterr().out


def test_clean_export_records_no_lint(pristine):
    from chanattn_export.artifacts import ArtifactFolder

    entry = ArtifactFolder(pristine).read_manifest().get(ONNX_NAME)
    assert entry.status == "passed" and "lint" not in entry.parity
