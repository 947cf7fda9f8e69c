"""Every intermediate value of one input, on both sides of a dynamo ONNX export, by name.

Why by name: torch's dynamo exporter names each ONNX value after the torch.export graph node it
translates, and keeps that node (``pkg.torch.onnx.fx_node``) and its module path
(``pkg.torch.onnx.name_scopes``) in the ONNX node's metadata (docs/localize.md shows it). So one
run of the exported program (a ``torch.fx.Interpreter``, recording every node) and one
onnxruntime run with every value exposed as a graph output, optimisations off so the values
survive, give the two sides. The graph's input and outputs are matched by position.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LocalizeError

FX_NODE_KEY = "pkg.torch.onnx.fx_node"
SCOPES_KEY = "pkg.torch.onnx.name_scopes"
CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"


def is_dynamo(model: Any) -> bool:
    """True when the nodes carry torch's link to the exported program (the dynamo exporter
    writes it; the legacy TorchScript-based one does not)."""
    return any(p.key == FX_NODE_KEY for n in model.graph.node for p in n.metadata_props)


def node_meta(node: Any) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


def module_of(node: Any) -> tuple[str, str]:
    """(module path, module class) of an ONNX node from torch's metadata: the name scopes end
    with the FX node's own name, the scope before it is the module that ran it."""
    meta = node_meta(node)
    scopes, classes = _literal_list(meta.get(SCOPES_KEY)), _literal_list(meta.get(CLASSES_KEY))
    path = scopes[-2] if len(scopes) >= 2 else ""
    cls = classes[-2] if len(classes) >= 2 else ""
    return path, cls


def _literal_list(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def graph_input(model: Any) -> Any:
    """The one real graph input (old files also list initializers as inputs)."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise LocalizeError(f"the model takes {len(inputs)} inputs; localisation handles models "
                            "taking one tensor")
    return inputs[0]


def trace_example(model: Any, shape: tuple[int, ...]) -> tuple[tuple[int, ...], dict[int, str]]:
    """The example shape and dynamic axes the file was exported with, so that a re-export
    traces the same graph (node names follow the trace). A toolkit file records its input
    shape; the trace batch is then >= 2 as in ``export.onnx.example_input``. Otherwise the
    input's shape, each dynamic axis at >= 2 (torch.export specialises a size of 1)."""
    dims = graph_input(model).type.tensor_type.shape.dim
    axes = {i: _dim_name(d.dim_param, i) for i, d in enumerate(dims) if d.dim_param}
    meta = {p.key: p.value for p in model.metadata_props}
    recorded = _recorded_shape(meta.get("chanattn_export.input_shape"), len(shape))
    if recorded is not None:
        base = list(recorded)
        if 0 in axes:
            base[0] = max(base[0], 2)
        return tuple(base), axes
    return tuple(max(n, 2) if i in axes else n for i, n in enumerate(shape)), axes


def _dim_name(name: str, axis: int) -> str:
    clean = re.sub(r"\W", "_", name)
    return clean if clean.isidentifier() else f"dim{axis}"


def _recorded_shape(text: str | None, rank: int) -> list[int] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    ok = isinstance(value, list) and len(value) == rank and all(
        isinstance(v, int) and v > 0 for v in value)
    return value if ok else None


@dataclass(frozen=True)
class EagerSide:
    """The exported program's value of every node, keyed by ONNX value name."""

    values: dict[str, np.ndarray]
    output: np.ndarray  # the program's first output (what the ONNX graph's output translates)


def eager_values(module: Any, model: Any, x: np.ndarray) -> EagerSide:
    """Re-export ``module`` exactly as the dynamo exporter did and run its torch.export
    program on ``x``, recording every tensor a node produces."""
    import torch

    from ..errors import first_line
    from ..export.onnx import dynamo_program
    from ..quiet import quiet

    shape, axes = trace_example(model, x.shape)
    example = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)
    try:
        with torch.no_grad(), quiet():
            program = dynamo_program(module, example, axes, opset, optimize=False)
    except Exception as e:  # the exporters raise many types
        raise LocalizeError(f"cannot re-export the module to trace its values: "
                            f"{first_line(e)}") from None
    ep = program.exported_program
    values = _interpret(ep, torch.from_numpy(x))
    sig = ep.graph_signature
    names = dict(zip(sig.user_inputs, [graph_input(model).name], strict=False))
    names.update(zip(sig.user_outputs, [o.name for o in model.graph.output], strict=False))
    keyed = {names.get(k, k): v for k, v in values.items()}
    if not sig.user_outputs or sig.user_outputs[0] not in values:
        raise LocalizeError("the module's exported program returns no tensor")
    return EagerSide(keyed, values[sig.user_outputs[0]])


def _interpret(ep: Any, x: Any) -> dict[str, np.ndarray]:
    import torch
    from torch.export.graph_signature import InputKind

    args = []
    for spec in ep.graph_signature.input_specs:
        if spec.kind is InputKind.USER_INPUT:
            args.append(x)
        elif spec.target in ep.state_dict:
            args.append(ep.state_dict[spec.target])
        else:
            args.append(ep.constants[spec.target])
    values: dict[str, np.ndarray] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            if isinstance(out, torch.Tensor) and n.op != "get_attr":
                values[n.name] = out.detach().cpu().numpy()
            return out

    with torch.no_grad():
        try:
            Recorder(ep.graph_module).run(*args)
        except Exception as e:  # the program refuses this input (shape, dtype)
            from ..errors import first_line

            raise LocalizeError(f"the exported program cannot run the input: "
                                f"{first_line(e)}") from None
    return values


def onnx_values(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every node output of ``model`` on ``x`` from onnxruntime, graph optimisations off (so
    no value is fused away or renamed)."""
    import onnxruntime as ort

    m = copy.deepcopy(model)
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for name in node.output:
            if name and name not in have:
                m.graph.output.add().name = name
                have.add(name)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(m.SerializeToString(), opts,
                                       providers=["CPUExecutionProvider"])
        got = session.run(None, {graph_input(model).name: x})
    except Exception as e:  # onnxruntime's own exception types
        from ..errors import first_line

        raise LocalizeError(f"onnxruntime cannot run the model with every value exposed: "
                            f"{first_line(e)}") from None
    return {o.name: np.asarray(v) for o, v in zip(session.get_outputs(), got, strict=True)
            if isinstance(v, np.ndarray)}


def run_isolated(model: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The first output of a small extracted model on ``inputs`` (optimisations off)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, inputs)[0])
