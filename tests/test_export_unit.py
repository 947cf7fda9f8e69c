"""The export step's own decisions, mostly without running an exporter: fallback between the
ONNX exporters, opset and checker refusals, stack traces and metadata in the shipped bytes,
quiet exports, and one cheap real export per exporter (tiny shapes).

Fast enough for mutation testing (scripts/mutation.py runs this file per mutant).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from chanattn_export._version import __version__
from chanattn_export.api import make_export_spec
from chanattn_export.errors import ExportError, InvalidSpecError, MissingDependencyError, first_line
from chanattn_export.export import TRACE, Exported, export_bytes
from chanattn_export.export import onnx as onnx_mod
from chanattn_export.quiet import _LOGGERS, quiet
from chanattn_export.registry import build_model
from chanattn_export.spec import Exporter

KEY = onnx_mod.STACK_TRACE_KEY


def spec(**kw):
    name = kw.pop("model", "se")
    return make_export_spec(name, **{"channels": 4, "ratio": 2, "height": 3, "width": 5, **kw})


def identity(opset: int = 18, meta: dict | None = None, graph_meta: bool = False):
    """A valid one-node model (what a patched exporter returns)."""
    node = helper.make_node("Identity", ["input"], ["output"], name="id")
    if graph_meta:
        node.metadata_props.add(key=KEY, value="File /home/me/x.py, line 3")
        node.metadata_props.add(key="keep", value="v")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 4, 3, 5])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 4, 3, 5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    for k, v in (meta or {}).items():
        model.metadata_props.add(key=k, value=v)
    return model


def patch(monkeypatch, dynamo=None, legacy=None) -> list[str]:
    """Replace both exporters; each is a proto to return or an exception to raise."""
    calls: list[str] = []

    def fake(name, result):
        def run(model, s):
            calls.append(name)
            if isinstance(result, BaseException):
                raise result
            return result
        return run

    monkeypatch.setattr(onnx_mod, "_dynamo", fake("dynamo", dynamo))
    monkeypatch.setattr(onnx_mod, "_legacy", fake("legacy", legacy))
    return calls


def net(s):
    return build_model(s.model)


# -- fallback decision ---------------------------------------------------------------------------


def test_auto_uses_dynamo_when_it_works(monkeypatch) -> None:
    s = spec()
    calls = patch(monkeypatch, dynamo=identity(), legacy=RuntimeError("unused"))
    res = onnx_mod.export_onnx_bytes(net(s), s, __version__)
    assert calls == ["dynamo"]
    assert res.exporter is Exporter.DYNAMO and res.fallback_reason is None
    assert export_bytes(net(s), s) == Exported(res.data, "dynamo", None)


def test_auto_falls_back_to_legacy_and_says_why(monkeypatch) -> None:
    s = spec()
    calls = patch(monkeypatch, dynamo=RuntimeError("\n  boom here\nmore"), legacy=identity())
    res = onnx_mod.export_onnx_bytes(net(s), s, __version__)
    assert calls == ["dynamo", "legacy"] and res.exporter is Exporter.LEGACY
    assert res.fallback_reason == "dynamo exporter failed: boom here"
    assert export_bytes(net(s), s) == Exported(res.data, "legacy", res.fallback_reason)


def test_wrong_opset_counts_as_a_failure(monkeypatch) -> None:
    s = spec()
    patch(monkeypatch, dynamo=identity(opset=20), legacy=identity())
    res = onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert res.exporter is Exporter.LEGACY
    assert res.fallback_reason == "dynamo exporter wrote opset 20, not 18"
    assert onnx.load_from_string(res.data).opset_import[0].version == 18


@pytest.mark.parametrize("exporter, calls", [("dynamo", ["dynamo"]), ("legacy", ["legacy"])])
def test_an_asked_for_exporter_never_falls_back(monkeypatch, exporter: str, calls) -> None:
    s = spec(exporter=exporter)
    seen = patch(monkeypatch, dynamo=RuntimeError("d broke"), legacy=RuntimeError("l broke"))
    with pytest.raises(ExportError) as info:
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert seen == calls
    assert str(info.value) == f"{exporter} exporter failed: {exporter[0]} broke"


def test_both_failures_are_reported(monkeypatch) -> None:
    s = spec()
    patch(monkeypatch, dynamo=RuntimeError("d broke"), legacy=identity(opset=17))
    with pytest.raises(ExportError) as info:
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert str(info.value) == ("dynamo exporter failed: d broke; legacy exporter wrote opset 17, "
                               "not 18")


def test_an_interrupt_inside_the_exporter_is_no_failure(monkeypatch) -> None:
    s = spec()
    wrapped = RuntimeError("torch wrapped it")
    wrapped.__cause__ = KeyboardInterrupt()
    calls = patch(monkeypatch, dynamo=wrapped, legacy=identity())
    with pytest.raises(KeyboardInterrupt):
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert calls == ["dynamo"]  # never fell back


def test_opset_newer_than_onnx_is_refused(monkeypatch) -> None:
    s = spec(opset=onnx.defs.onnx_opset_version() + 1)
    calls = patch(monkeypatch, dynamo=identity(), legacy=identity())
    with pytest.raises(ExportError, match=r"is newer than the installed onnx .* can write"):
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert calls == []
    s = spec(opset=onnx.defs.onnx_opset_version())  # the newest one onnx writes is allowed
    patch(monkeypatch, dynamo=identity(opset=s.opset))
    assert onnx_mod.export_onnx_bytes(net(s), s, "9.9").exporter is Exporter.DYNAMO


def test_a_model_the_checker_refuses_is_an_export_error(monkeypatch) -> None:
    s = spec()
    bad = identity()
    bad.graph.node[0].input[0] = "nowhere"
    patch(monkeypatch, dynamo=bad)
    with pytest.raises(ExportError, match=r"^exported ONNX model fails onnx\.checker: ") as info:
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert "nowhere" in str(info.value)  # the checker's own reason


def test_the_full_checker_runs(monkeypatch) -> None:
    """Shapes the graph contradicts are caught (full_check runs strict shape inference)."""
    s = spec()
    bad = identity()
    bad.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 6  # Identity of a 5
    patch(monkeypatch, dynamo=bad)
    with pytest.raises(ExportError, match=r"^exported ONNX model fails onnx\.checker: "):
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")


def test_a_model_without_onnx_opset_is_judged_by_the_checker(monkeypatch) -> None:
    s = spec()
    bare = identity()
    del bare.opset_import[:]
    patch(monkeypatch, dynamo=bare)
    with pytest.raises(ExportError, match=r"^exported ONNX model fails onnx\.checker: "):
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")


def test_missing_onnxscript_is_a_dependency_error(monkeypatch) -> None:
    s = spec()
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(MissingDependencyError) as info:
        onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    assert str(info.value) == ("ONNX export needs onnx and onnxscript (import of onnxscript "
                               "halted; None in sys.modules); pip install onnx onnxscript")


# -- what the shipped bytes carry ----------------------------------------------------------------


def test_bytes_carry_metadata_and_no_stack_traces(monkeypatch) -> None:
    s = spec(model="cbam-channel", dynamic_hw=True)
    proto = identity(meta={"torch.stale": "x"}, graph_meta=True)
    patch(monkeypatch, dynamo=proto)
    res = onnx_mod.export_onnx_bytes(net(s), s, "9.9")
    m = onnx.load_from_string(res.data)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta == onnx_mod.metadata(s, Exporter.DYNAMO, "9.9")  # the stale key is gone
    assert m.doc_string == "cbam-channel channel attention exported by chanattn_export"
    assert [(p.key, p.value) for p in m.graph.node[0].metadata_props] == [("keep", "v")]
    assert b"/home/me" not in res.data
    assert onnx_mod.export_onnx_bytes(net(s), s, "9.9").data == res.data  # deterministic


def test_metadata_describes_the_deployment() -> None:
    s = spec(model="cbam-channel", layout="nhwc", dynamic_hw=True, opset=17)
    assert onnx_mod.metadata(s, Exporter.LEGACY, "1.2") == {
        "chanattn_export.version": "1.2",
        "chanattn_export.model": "cbam-channel",
        "chanattn_export.channels": "4",
        "chanattn_export.ratio": "2",
        "chanattn_export.layout": "nhwc",
        "chanattn_export.hidden": "",
        "chanattn_export.preset": "default",
        "chanattn_export.input_name": "input",
        "chanattn_export.input_dims": '["batch", "height", "width", 4]',
        "chanattn_export.input_shape": "[1, 3, 5, 4]",
        "chanattn_export.dynamic_dims": '["batch", "height", "width"]',
        "chanattn_export.opset": "17",
        "chanattn_export.exporter": "legacy",
    }
    eca = make_export_spec("eca", channels=4, height=3, width=5, hidden=None)
    meta = onnx_mod.metadata(eca, Exporter.DYNAMO, "1")
    assert meta["chanattn_export.ratio"] == "" and meta["chanattn_export.dynamic_dims"] == \
        '["batch"]'
    hid = onnx_mod.metadata(spec(hidden=3), Exporter.DYNAMO, "1")
    assert hid["chanattn_export.hidden"] == "3"


def test_stack_traces_are_stripped_in_subgraphs() -> None:
    inner = identity(graph_meta=True).graph
    other = identity(graph_meta=True).graph
    outer = identity().graph
    if_node = helper.make_node("If", ["c"], ["o"], then_branch=inner, else_branch=other)
    multi = helper.make_node("Foo", [], [], name="multi")
    multi.attribute.append(helper.make_attribute("bodies", [identity(graph_meta=True).graph]))
    plain = helper.make_node("Relu", ["x"], ["y"])
    plain.metadata_props.add(key="a", value="1")
    outer.node.extend([if_node, multi, plain])
    onnx_mod._strip_stack_traces(outer)
    text = str(outer)
    assert KEY not in text and text.count('key: "keep"') == 3
    assert [(p.key, p.value) for p in plain.metadata_props] == [("a", "1")]


def test_opset_read_from_the_default_domain() -> None:
    m = identity(opset=17)
    m.opset_import.insert(0, helper.make_opsetid("com.microsoft", 1))
    assert onnx_mod._opset(m, 99) == 17
    del m.opset_import[:]
    m.opset_import.append(helper.make_opsetid("ai.onnx", 16))
    assert onnx_mod._opset(m, 99) == 16
    del m.opset_import[:]
    assert onnx_mod._opset(m, 99) == 99


def test_example_input_is_seeded_at_the_trace_batch() -> None:
    x = onnx_mod.example_input(spec(layout="nhwc"))
    assert x.shape == (2, 3, 5, 4)  # a dynamic batch is traced at 2
    assert torch.equal(x, torch.randn((2, 3, 5, 4), generator=torch.Generator().manual_seed(0)))
    assert onnx_mod.example_input(spec(batch=3)).shape == (3, 4, 3, 5)


# -- quiet and first_line ------------------------------------------------------------------------


def test_quiet_captures_prints_warnings_and_logs(capsys) -> None:
    log = logging.getLogger(_LOGGERS[0])
    before = [logging.getLogger(n).level for n in _LOGGERS]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet() as buf:
            print("progress")
            warnings.warn("noise", stacklevel=1)
            assert all(logging.getLogger(n).level == logging.ERROR for n in _LOGGERS)
            assert not log.isEnabledFor(logging.WARNING)
        assert seen == []
    assert buf.getvalue() == "progress\n" and capsys.readouterr().out == ""
    assert [logging.getLogger(n).level for n in _LOGGERS] == before
    mine = io.StringIO()
    with quiet(mine) as got:
        print("x")
    assert got is mine and mine.getvalue() == "x\n"


def test_quiet_restores_on_error() -> None:
    before = [logging.getLogger(n).level for n in _LOGGERS]
    with pytest.raises(ValueError), quiet():
        raise ValueError
    assert [logging.getLogger(n).level for n in _LOGGERS] == before
    assert set(_LOGGERS) >= {"torch.onnx", "torch.export", "onnxscript"}


def test_first_line() -> None:
    assert first_line(ValueError("\n \n  two  \nthree")) == "two"
    assert first_line(ValueError("x" * 400)) == "x" * 300
    assert first_line(ValueError("  ")) == "ValueError"
    assert first_line(KeyError()) == "KeyError"


# -- real exports, tiny ----------------------------------------------------------------------------


def _eager(n, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return n(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_real_onnx_export_runs_at_other_sizes(exporter: str) -> None:
    import onnxruntime as ort

    s = spec(model="cbam-channel", exporter=exporter, dynamic_hw=True)
    n = net(s)
    res = onnx_mod.export_onnx_bytes(n, s, "1")
    assert res.exporter == exporter and res.fallback_reason is None
    m = onnx.load_from_string(res.data)
    assert [i.name for i in m.graph.input] == ["input"]
    assert [o.name for o in m.graph.output] == ["output"]
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, False, True, True]
    assert onnx_mod._opset(m, 0) == 18
    sess = ort.InferenceSession(res.data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((3, 4, 6, 7)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], _eager(n, x), rtol=1e-5,
                               atol=1e-6)


def test_real_legacy_export_with_a_static_shape() -> None:
    s = spec(exporter="legacy", batch=2)
    s = type(s)(model=s.model, input=type(s.input)(batch=2, height=3, width=5,
                                                    dynamic_batch=False), exporter="legacy")
    m = onnx.load_from_string(onnx_mod.export_onnx_bytes(net(s), s, "1").data)
    assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim] == [2, 4, 3, 5]


def test_torchscript_and_pt2_compute_what_eager_computes() -> None:
    s = spec(fmt="torchscript")
    n = net(s)
    res = export_bytes(n, s)
    assert res.exporter == TRACE == "trace" and res.fallback_reason is None
    x = np.random.default_rng(2).standard_normal((3, 4, 3, 5)).astype(np.float32)
    with torch.no_grad():
        got = torch.jit.load(io.BytesIO(res.data))(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, _eager(n, x))
    s2 = spec(fmt="pt2")
    res2 = export_bytes(n, s2)
    assert res2.exporter == "torch.export"
    program = torch.export.load(io.BytesIO(res2.data))
    with torch.no_grad():
        got2 = program.module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got2, _eager(n, x), rtol=1e-6, atol=1e-7)


class Untraceable(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent: torch.export refuses it
            return x
        return -x


def test_exporter_failures_are_export_errors() -> None:
    s = spec(fmt="pt2")
    with pytest.raises(ExportError, match=r"^torch\.export failed: "):
        export_bytes(Untraceable(), s)
    with pytest.raises(ExportError, match=r"^TorchScript export failed: "):
        export_bytes(torch.nn.Linear(2, 2), spec(fmt="torchscript"))  # wrong input shape


def test_export_bytes_checks_the_input_spec() -> None:
    s = spec(model="fca", channels=4, ratio=2, height=4, width=4)
    bad = type(s)(model=s.model, input=type(s.input)(height=4, width=4, dynamic_hw=True))
    with pytest.raises(InvalidSpecError, match="weights tied to the input's H x W"):
        export_bytes(net(s), bad)


def test_batchnorm_is_folded_before_export() -> None:
    s = spec(model="cbam", channels=4, ratio=2, height=4, width=4, fmt="torchscript")
    n = net(s).eval()
    ts = torch.jit.load(io.BytesIO(export_bytes(n, s).data))
    assert "batch_norm" not in str(ts.graph) and "batch_norm" not in str(ts.code)
    assert json.dumps(sorted(n.state_dict())) == json.dumps(sorted(net(s).state_dict()))


def test_pt2_program_runs_at_any_batch_and_size() -> None:
    s = spec(fmt="pt2", layout="nhwc", dynamic_hw=True)
    n = net(s)
    program = torch.export.load(io.BytesIO(export_bytes(n, s).data)).module()
    for shape in ((1, 3, 5, 4), (5, 6, 2, 4)):  # batch 1 included: traced at 2, never fixed
        x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            got = program(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, _eager(n, x), rtol=1e-6, atol=1e-7)


class Raises(torch.nn.Module):
    def forward(self, x):
        raise ValueError("kaboom\nsecond line")


@pytest.mark.parametrize("fmt, prefix", [("torchscript", "TorchScript export failed"),
                                         ("pt2", "torch.export failed")])
def test_exporter_error_keeps_the_first_line(fmt: str, prefix: str) -> None:
    with pytest.raises(ExportError) as info:
        export_bytes(Raises(), spec(fmt=fmt))
    assert str(info.value).startswith(f"{prefix}: ") and "kaboom" in str(info.value)
    assert "second line" not in str(info.value)


class Counting(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * 2


def test_torchscript_traces_the_model_once() -> None:
    """The trace is not re-checked by running the model again (frozen modules are exact)."""
    m = Counting()
    export_bytes(m, spec(fmt="torchscript"))
    assert m.calls == 1


def test_legacy_exporter_writes_older_opsets() -> None:
    s = spec(exporter="legacy", opset=17)
    res = onnx_mod.export_onnx_bytes(net(s), s, "1")
    assert res.exporter is Exporter.LEGACY and onnx_mod._opset(onnx.load_from_string(res.data),
                                                               0) == 17
