"""Small ONNX files that are valid but hostile to whoever executes them (for the trust tests)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

C = 8


def _model(nodes, inits, outputs, meta=None, producer: str = "") -> bytes:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                   ["batch", C, C, C])], outputs,
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name=producer)
    model.ir_version = 9
    for k, v in (meta or {}).items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _out(name: str = "output", dims=("batch", C, C, C)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def endless_loop() -> bytes:
    """A few hundred bytes: a ``Loop`` of 2**62 iterations whose body copies its input."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["v_in"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    return _model([helper.make_node("Loop", ["trips", "cond", "input"], ["output"], body=body)],
                  [numpy_helper.from_array(np.array(1 << 62, np.int64), "trips"),
                   numpy_helper.from_array(np.array(True), "cond")], [_out()])


def memory_hog(elements: int = 1 << 30) -> bytes:
    """Returns its input, and also a ``ConstantOfShape`` of ``elements`` float32 (4 GiB)."""
    fill = numpy_helper.from_array(np.array([1.0], np.float32))
    return _model([helper.make_node("Identity", ["input"], ["output"]),
                   helper.make_node("ConstantOfShape", ["n"], ["big"], value=fill)],
                  [numpy_helper.from_array(np.array([elements], np.int64), "n")],
                  [_out(), _out("big", [elements])])


def with_metadata(meta: dict[str, str], producer: str = "") -> bytes:
    """An identity graph carrying ``meta`` as metadata_props and ``producer`` as its producer."""
    return _model([helper.make_node("Identity", ["input"], ["output"])], [], [_out()], meta,
                  producer)
