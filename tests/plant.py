"""Plant a divergence in an exported ONNX model; each helper returns the node it broke.

Nodes are found by the name of the value they produce (the dynamo exporter names values after
torch's graph nodes, e.g. ``amax``, ``sigmoid``, ``conv2d``), so the tests say which node they
break without depending on onnxscript's node names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper


def producer(model: onnx.ModelProto, output: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if output in n.output)


def consumer(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if name in n.input)


def scale_initializer(model: onnx.ModelProto, name: str, factor: float = 1.5) -> onnx.NodeProto:
    """Multiply the initializer ``name`` by ``factor``: its (first) consumer diverges."""
    t = next(t for t in model.graph.initializer if t.name == name)
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(factor), name))
    return consumer(model, name)


def replace_op(model: onnx.ModelProto, output: str, op_type: str) -> onnx.NodeProto:
    """Swap the op producing ``output`` for another of the same signature (ReduceMax ->
    ReduceMean, Sigmoid -> HardSigmoid)."""
    node = producer(model, output)
    node.op_type = op_type
    return node


def change_axes(model: onnx.ModelProto, output: str, axes: list[int]) -> onnx.NodeProto:
    """Give the Reduce op producing ``output`` other axes (an input from opset 18 on)."""
    node = producer(model, output)
    name = f"planted_axes_{output}"
    model.graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), name))
    node.input[1] = name
    return node


def change_attribute(model: onnx.ModelProto, output: str, attr: str, value: Any) -> onnx.NodeProto:
    """Set the attribute ``attr`` (e.g. a Conv's ``pads``) of the node producing ``output``."""
    node = producer(model, output)
    kept = [a for a in node.attribute if a.name != attr]
    del node.attribute[:]
    node.attribute.extend([*kept, onnx.helper.make_attribute(attr, value)])
    return node
