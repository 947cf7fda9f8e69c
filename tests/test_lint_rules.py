"""Graph lint rule by rule on hand-made graphs: the exact line each portability mistake gives,
where lint looks (subgraphs, local functions, Constant nodes) and when it skips the run.

Torch-free and fast (scripts/mutation.py runs this file per mutant of the export step).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from chanattn_export.export.lint import LintProblem, lint_onnx, unseen_shape

C, H, W = 8, 8, 8
TAIL = ": a size from the export is baked in, other sizes fail or compute garbage"


def model(nodes, inits=(), in_dims=("batch", C, H, W), out_dims=("batch", C, H, W), meta=None,
          domains=(("", 18),), functions=(), inputs=None) -> bytes:
    graph = helper.make_graph(
        list(nodes), "g",
        inputs if inputs is not None else
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(in_dims))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(out_dims))],
        initializer=list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in domains],
                          functions=list(functions))
    m.ir_version = 9
    for k, v in (meta or {}).items():
        m.metadata_props.add(key=k, value=v)
    return m.SerializeToString()


def const(name: str, values) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def strs(data: bytes, **kw) -> list[str]:
    return [str(p) for p in lint_onnx(data, **kw)]


def test_problem_text() -> None:
    assert str(LintProblem("baked-shape", "m", "n1")) == "baked-shape: m (node n1)"
    assert str(LintProblem("baked-shape", "m")) == "baked-shape: m"
    assert str(LintProblem("baked-shape", "m", "")) == "baked-shape: m"
    assert LintProblem("r", "m", "n").to_dict() == {"rule": "r", "message": "m", "node": "n"}


# -- baked shapes --------------------------------------------------------------------------------


def test_reshape_message() -> None:
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"], name="r")]
    got = strs(model(nodes, [const("shape", [[2, C], [H, W]])]), run=False)
    assert got == ["baked-shape: reshapes a tensor of dims [?, 8, 8, 8] to the fixed shape "
                   f"[2, 8, 8, 8]{TAIL} (node r)"]


@pytest.mark.parametrize("target", [[0, C, H, W], [-1, C, H, W]])
def test_reshape_that_copies_or_infers_a_dim_is_fine(target) -> None:
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"])]
    assert strs(model(nodes, [const("shape", target)]), run=False) == []


def test_reshape_of_a_static_tensor_is_fine() -> None:
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"])]
    data = model(nodes, [const("shape", [2, C, H, W])], in_dims=(2, C, H, W),
                 out_dims=(2, C, H, W))
    assert strs(data, run=False) == []


def test_reshape_target_from_a_constant_node() -> None:
    nodes = [helper.make_node("Constant", [], ["shape"], value_ints=[2, C, H, W]),
             helper.make_node("Reshape", ["input", "shape"], ["output"], name="r")]
    assert strs(model(nodes), run=False)[0].startswith("baked-shape: reshapes a tensor of dims "
                                                       "[?, 8, 8, 8] to the fixed shape [2, 8")
    nodes = [helper.make_node("Constant", [], ["shape"], value=const("v", [3, C, H, W])),
             helper.make_node("Reshape", ["input", "shape"], ["output"])]
    assert "to the fixed shape [3, 8, 8, 8]" in strs(model(nodes), run=False)[0]
    nodes = [helper.make_node("Constant", [], ["shape"], value_float=1.0),
             helper.make_node("Reshape", ["input", "input"], ["output"])]
    assert strs(model(nodes), run=False) == []  # no constant shape: nothing to judge


def test_expand_message_and_broadcasts() -> None:
    nodes = [helper.make_node("Expand", ["input", "shape"], ["output"], name="e")]
    assert strs(model(nodes, [const("shape", [2, C, H, W])]), run=False) == [
        "baked-shape: expands a tensor of dims [?, 8, 8, 8] to the fixed shape [2, 8, 8, 8]"
        f"{TAIL} (node e)"]
    for fine in ([1, C, H, W], [C, H, W], [H, W]):  # 1 and shorter targets broadcast
        assert strs(model(nodes, [const("shape", fine)]), run=False) == [], fine


def test_split_message_from_input_and_attribute() -> None:
    nodes = [helper.make_node("Split", ["input", "sizes"], ["a", "b"], axis=0, name="s"),
             helper.make_node("Add", ["a", "b"], ["output"])]
    want = (f"baked-shape: splits dynamic axis 0 of [?, 8, 8, 8] into fixed sizes [1, 1]{TAIL} "
            "(node s)")
    assert strs(model(nodes, [const("sizes", [[1], [1]])]), run=False) == [want]
    old = [helper.make_node("Split", ["input"], ["a", "b"], axis=0, split=[1, 1], name="s"),
           helper.make_node("Add", ["a", "b"], ["output"])]
    assert strs(model(old, domains=(("", 11),)), run=False) == [want]
    even = [helper.make_node("Split", ["input"], ["a", "b"], axis=0, name="s"),
            helper.make_node("Add", ["a", "b"], ["output"])]
    assert strs(model(even), run=False) == []  # equal halves follow the batch


@pytest.mark.parametrize("axis, flagged", [(0, True), (-4, True), (1, False), (-3, False),
                                           (4, False), (-5, False)])
def test_split_only_of_a_dynamic_axis(axis: int, flagged: bool) -> None:
    nodes = [helper.make_node("Split", ["input", "sizes"], ["a", "b"], axis=axis, name="s"),
             helper.make_node("Add", ["a", "b"], ["output"])]
    got = strs(model(nodes, [const("sizes", [1, 1])]), run=False)
    assert bool(got) == flagged
    if flagged:
        assert f"splits dynamic axis {axis} of" in got[0]


def test_nodes_without_inputs_are_skipped() -> None:
    nodes = [helper.make_node("Constant", [], ["c"], value_ints=[1]),
             helper.make_node("Relu", ["input"], ["output"])]
    assert strs(model(nodes), run=False) == []


# -- declared dims -------------------------------------------------------------------------------


def test_declared_dims_messages() -> None:
    data = model([helper.make_node("Relu", ["input"], ["output"])], in_dims=(2, C, H, W),
                 out_dims=(2, C, H, W))
    assert strs(data, dims=["batch", C, H, 4], run=False) == [
        "static-dim: input axis 0 is declared dynamic ('batch') but the graph fixes it to 2",
        "static-dim: input axis 3 is declared 4 but the graph has 8"]
    assert strs(data, dims=["batch", C, H], run=False) == [
        "static-dim: input has rank 4, the metadata declares dims ['batch', 8, 8]"]
    assert strs(data, dims=[2, C, H, W], run=False) == []
    dyn = model([helper.make_node("Relu", ["input"], ["output"])])
    assert strs(dyn, dims=[2, C, H, W], run=False) == [
        "static-dim: input axis 0 is declared 2 but the graph has 'batch'"]
    assert strs(dyn, dims=["n", C, H, W], run=False) == []  # names need not match


def test_declared_dims_come_from_the_metadata() -> None:
    nodes = [helper.make_node("Relu", ["input"], ["output"])]
    meta = {"chanattn_export.input_dims": json.dumps(["batch", C, H, W])}
    data = model(nodes, in_dims=(2, C, H, W), out_dims=(2, C, H, W), meta=meta)
    assert strs(data, run=False) == [
        "static-dim: input axis 0 is declared dynamic ('batch') but the graph fixes it to 2"]
    assert strs(data, dims=[2, C, H, W], run=False) == []  # an argument wins
    for bad in ("not json", json.dumps({"a": 1})):
        broken = model(nodes, in_dims=(2, C, H, W), out_dims=(2, C, H, W),
                       meta={"chanattn_export.input_dims": bad})
        assert strs(broken, run=False) == []
    other_key = model(nodes, in_dims=(2, C, H, W), out_dims=(2, C, H, W),
                      meta={"input_dims": json.dumps(["batch", C, H, W])})
    assert strs(other_key, run=False) == []


def test_graph_without_inputs_has_no_declared_dims() -> None:
    nodes = [helper.make_node("Constant", [], ["output"], value=numpy_helper.from_array(
        np.zeros((1, C, H, W), np.float32), "v"))]
    assert strs(model(nodes, inputs=[]), dims=["batch", C, H, W]) == []


# -- external data, domains ------------------------------------------------------------------------


def _external(name: str = "w") -> TensorProto:
    t = numpy_helper.from_array(np.ones((1,), np.float32), name)
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    t.external_data.add(key="offset", value="0")
    t.external_data.add(key="location", value="model.onnx.data")
    return t


def test_external_data_message_and_no_run() -> None:
    data = model([helper.make_node("Mul", ["input", "w"], ["output"])], [_external()])
    assert strs(data) == ["external-data: tensor w is stored outside the file (in "
                          "model.onnx.data); the .onnx does not work alone"]


def test_external_data_in_constants_and_subgraphs() -> None:
    t = _external("x")
    t.ClearField("external_data")  # marked external, location unknown
    node = helper.make_node("Constant", [], ["output"], value=t, name="k")
    assert strs(model([node]), run=False) == [
        "external-data: tensor k is stored outside the file (in ?); the .onnx does not work "
        "alone"]
    unnamed = helper.make_node("Constant", [], ["out2"], value=_external("y"))
    branch = helper.make_graph([unnamed], "b", [], [helper.make_tensor_value_info(
        "out2", TensorProto.FLOAT, [1])])
    if_node = helper.make_node("If", ["cond"], ["output"], then_branch=branch,
                               else_branch=branch)
    got = strs(model([if_node]), run=False)
    assert got == ["external-data: tensor out2 is stored outside the file (in model.onnx.data); "
                   "the .onnx does not work alone"] * 2


def test_custom_ops_are_named_once() -> None:
    nodes = [helper.make_node("Gelu", ["input"], ["a"], domain="com.microsoft", name="g1"),
             helper.make_node("Gelu", ["a"], ["output"], domain="com.microsoft", name="g2")]
    data = model(nodes, domains=(("", 18), ("com.microsoft", 1)))
    assert strs(data) == ["nonstandard-op: op Gelu from domain 'com.microsoft' is not a standard "
                          "ONNX op; other runtimes cannot run it (node g1)"]


def test_ai_onnx_domain_is_standard() -> None:
    data = model([helper.make_node("Relu", ["input"], ["output"], domain="ai.onnx")],
                 domains=(("ai.onnx", 18),))
    assert strs(data, run=False) == []


def _function(body_domain: str):
    body = [helper.make_node("Relu", ["x"], ["y"], domain=body_domain)]
    return helper.make_function("local", "MyRelu", ["x"], ["y"], body,
                                [helper.make_opsetid("", 18),
                                 helper.make_opsetid("com.other", 1)])


def test_local_functions_are_judged_by_their_body() -> None:
    nodes = [helper.make_node("MyRelu", ["input"], ["output"], domain="local")]
    domains = (("", 18), ("local", 1), ("com.other", 1))
    assert strs(model(nodes, domains=domains, functions=[_function("")]), run=False) == []
    got = strs(model(nodes, domains=domains, functions=[_function("com.other")]), run=False)
    assert got == ["nonstandard-op: op Relu from domain 'com.other' is not a standard ONNX op; "
                   "other runtimes cannot run it"]


def test_custom_op_inside_a_subgraph() -> None:
    inner = helper.make_node("Gelu", ["input"], ["o2"], domain="com.microsoft", name="deep")
    branch = helper.make_graph([inner], "b", [], [helper.make_tensor_value_info(
        "o2", TensorProto.FLOAT, ["batch", C, H, W])])
    loop_like = helper.make_node("Foo", [], ["output"], domain="", name="multi")
    loop_like.attribute.append(helper.make_attribute("bodies", [branch]))
    got = strs(model([loop_like], domains=(("", 18), ("com.microsoft", 1))), run=False)
    assert got == ["nonstandard-op: op Gelu from domain 'com.microsoft' is not a standard ONNX "
                   "op; other runtimes cannot run it (node deep)"]


# -- the run at an unseen shape ------------------------------------------------------------------


def test_unseen_shape_values() -> None:
    assert unseen_shape(["batch", C, "height", "width"], [3, C, 9, 11]) == [5, C, 13, 15]
    assert unseen_shape(["batch", C, H, W], None) == [3, C, H, W]
    assert unseen_shape([None, C, "h", "w"], [1, C, 4]) == [3, C, 5, 9]  # no size for axis 3
    assert unseen_shape(["batch", 0, H, W], [1, 1, H, W]) == [3, 5, H, W]


def test_a_graph_that_ignores_the_batch_fails_the_run() -> None:
    nodes = [helper.make_node("Slice", ["input", "st", "en", "ax"], ["output"])]
    inits = [const("st", [0]), const("en", [2]), const("ax", [0])]
    assert strs(model(nodes, inits), export_shape=[2, C, H, W]) == [
        "unseen-shape: at input shape [3, 8, 8, 8] output output has shape [2, 8, 8, 8], the "
        "graph declares [3, 8, 8, 8]"]


def test_output_of_another_rank_fails_the_run() -> None:
    nodes = [helper.make_node("ReduceMean", ["input"], ["output"], keepdims=0)]
    got = strs(model(nodes, out_dims=("batch", C, H, W)), export_shape=[2, C, H, W])
    assert got == ["unseen-shape: at input shape [3, 8, 8, 8] output output has shape [], the "
                   "graph declares [3, 8, 8, 8]"]


def test_a_run_that_fails_is_one_line() -> None:
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"], name="r")]
    got = strs(model(nodes, [const("shape", [2, C, H, W])]), export_shape=[2, C, H, W])
    assert got[0].startswith("baked-shape: ")
    assert got[1].startswith("unseen-shape: fails at input shape [3, 8, 8, 8] (dynamic dims at "
                             "sizes not used at export): ")
    assert "\n" not in got[1] and len(got) == 2


def test_the_run_is_skipped_when_it_cannot_tell(monkeypatch) -> None:
    nodes = [helper.make_node("Slice", ["input", "st", "en", "ax"], ["output"])]
    inits = [const("st", [0]), const("en", [2]), const("ax", [0])]
    broken = model(nodes, inits)
    assert strs(broken, run=False) == []
    huge = model(nodes, inits, in_dims=("batch", C, 2048, 1024), out_dims=("batch", C, 2048, 1024))
    assert strs(huge) == []  # 3 x 8 x 2048 x 1025 inputs: more than 2**24, not run
    two = model(nodes, inits, inputs=[
        helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", C, H, W]),
        helper.make_tensor_value_info("other", TensorProto.FLOAT, ["batch", C, H, W])])
    assert strs(two) == []  # not a model of this toolkit: one input only
    static = model(nodes, inits, in_dims=(4, C, H, W), out_dims=(4, C, H, W))
    assert strs(static) == []  # nothing dynamic
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert strs(broken) == []  # lint is torch-free and works without onnxruntime too


def test_garbage_is_one_invalid_problem() -> None:
    (p,) = lint_onnx(b"\x08\x01\x12garbage")
    assert p.rule == "invalid" and p.message.startswith("not an ONNX model: ")
    assert "\n" not in p.message


def test_targets_that_fix_every_dim_including_ones() -> None:
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"], name="r")]
    got = strs(model(nodes, [const("shape", [2, C, H * W, 1])]), run=False)
    assert got and "to the fixed shape [2, 8, 64, 1]" in got[0]
    expand = [helper.make_node("Expand", ["input", "shape"], ["output"], name="e")]
    got = strs(model(expand, [const("shape", [[2, C], [H, W]])]), run=False)
    assert got and "to the fixed shape [2, 8, 8, 8]" in got[0]  # read flat, whatever its rank


def test_malformed_nodes_do_not_crash_lint() -> None:
    for op in ("Reshape", "Expand"):
        nodes = [helper.make_node(op, ["input"], ["output"])]  # the shape input is missing
        assert strs(model(nodes), run=False) == [], op


def test_split_axis_defaults_to_zero() -> None:
    nodes = [helper.make_node("Split", ["input", "sizes"], ["a", "b"], name="s"),
             helper.make_node("Add", ["a", "b"], ["output"])]
    got = strs(model(nodes, [const("sizes", [1, 1])]), run=False)
    assert len(got) == 1 and "splits dynamic axis 0 of [?, 8, 8, 8]" in got[0]


def test_every_node_is_visited_for_domains() -> None:
    after_standard = [helper.make_node("Relu", ["input"], ["a"]),
                      helper.make_node("Foo", ["a"], ["output"], domain="com.example")]
    domains = (("", 18), ("com.example", 1), ("local", 1), ("com.other", 1))
    assert [p.rule for p in lint_onnx(model(after_standard, domains=domains), run=False)] == \
        ["nonstandard-op"]
    after_function = [helper.make_node("MyRelu", ["input"], ["a"], domain="local"),
                      helper.make_node("Foo", ["a"], ["output"], domain="com.example")]
    got = lint_onnx(model(after_function, domains=domains, functions=[_function("")]),
                    run=False)
    assert [p.message.split(" from")[0] for p in got] == ["op Foo"]


def test_an_op_no_runtime_knows_skips_the_run() -> None:
    nodes = [helper.make_node("Foo", ["input"], ["output"], domain="com.example")]
    got = lint_onnx(model(nodes, domains=(("", 18), ("com.example", 1))))
    assert [p.rule for p in got] == ["nonstandard-op"]  # no "unseen-shape: fails" on top


def test_external_data_entries_alone_mark_a_tensor_external() -> None:
    t = numpy_helper.from_array(np.ones((1,), np.float32), "w")
    t.ClearField("raw_data")
    t.external_data.add(key="location", value="w.bin")  # data_location left at DEFAULT
    got = strs(model([helper.make_node("Mul", ["input", "w"], ["output"])], [t]))
    assert got == ["external-data: tensor w is stored outside the file (in w.bin); the .onnx "
                   "does not work alone"]


def test_inferred_shapes_see_through_shape_arithmetic() -> None:
    """A tensor reshaped by its own Shape keeps its dynamic batch."""
    nodes = [helper.make_node("Shape", ["input"], ["s"]),
             helper.make_node("Reshape", ["input", "s"], ["y"]),
             helper.make_node("Reshape", ["y", "shape"], ["output"], name="late")]
    got = strs(model(nodes, [const("shape", [2, C, H, W])]), run=False)
    assert [g.split(":")[0] for g in got] == ["baked-shape"] and got[0].endswith("(node late)")


def test_static_shape_arithmetic_is_no_baked_shape() -> None:
    """Data propagation proves a Shape-computed tensor static: nothing dynamic to bake in."""
    nodes = [helper.make_node("Shape", ["input"], ["s"]),
             helper.make_node("Reshape", ["input", "s"], ["y"]),
             helper.make_node("Reshape", ["y", "shape"], ["output"], name="late")]
    data = model(nodes, [const("shape", [2, C, H, W])], in_dims=(2, C, H, W),
                 out_dims=(2, C, H, W))
    assert strs(data, run=False) == []


def test_the_run_avoids_the_export_sizes() -> None:
    nodes = [helper.make_node("Slice", ["input", "st", "en", "ax"], ["output"])]
    inits = [const("st", [0]), const("en", [2]), const("ax", [0])]
    want = ("unseen-shape: at input shape [5, 8, 8, 8] output output has shape [2, 8, 8, 8], the "
            "graph declares [5, 8, 8, 8]")
    assert strs(model(nodes, inits), export_shape=[3, C, H, W]) == [want]
    meta = {"chanattn_export.input_shape": json.dumps([3, C, H, W])}
    assert strs(model(nodes, inits, meta=meta)) == [want]  # from the file's metadata
    assert strs(model(nodes, inits, meta=meta), export_shape=[1, C, H, W])[0].startswith(
        "unseen-shape: at input shape [3, 8, 8, 8]")  # an argument wins


def test_static_dims_of_one_stay() -> None:
    assert unseen_shape(["batch", 1, H, 1], None) == [3, 1, H, 1]


def test_failure_and_garbage_messages_keep_the_cause() -> None:
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"], name="r")]
    got = strs(model(nodes, [const("shape", [2, C, H, W])]), export_shape=[2, C, H, W])
    cause = got[1].split("(dynamic dims at sizes not used at export): ", 1)[1]
    assert "Reshape" in cause or "reshape" in cause
    assert len(cause) == 300  # onnxruntime's long first line, cut
    (p,) = lint_onnx(b"\x08\x01\x12garbage")
    assert p.message.startswith("not an ONNX model: Error parsing message")
