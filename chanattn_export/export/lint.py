"""Graph lint for ONNX files: the portability mistakes a parity check on one runtime can miss.

A file can pass parity on onnxruntime and still not be deployable: a batch size baked into a
Reshape/Split/Expand constant (legacy exporter: ``h.split(n)`` with ``n = x.shape[0]``), a dim
the metadata calls dynamic that the graph fixed (torch.export specialising a batch of 1),
weights in an external ``.onnx.data`` file that does not travel with the model, or an op from a
custom domain that only one runtime implements. Torch-free: needs onnx, and onnxruntime for the
run at an unseen shape (skipped when onnxruntime is missing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .unseen import GraphRunner, graph_dims, unseen_shape, unseen_shape_problems

STANDARD_DOMAINS = ("", "ai.onnx")
_META = "chanattn_export."


@dataclass(frozen=True)
class LintProblem:
    """One rule broken. ``rule`` is stable (tests and the manifest key on it)."""

    rule: str  # baked-shape, static-dim, unseen-shape, external-data, nonstandard-op, invalid
    message: str
    node: str | None = None

    def __str__(self) -> str:
        where = f" (node {self.node})" if self.node else ""
        return f"{self.rule}: {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "node": self.node}


def lint_onnx(data: bytes, *, dims: Sequence[int | str] | None = None,
              export_shape: Sequence[int] | None = None, run: bool = True,
              runner: GraphRunner | None = None) -> list[LintProblem]:
    """Every lint problem of the serialized model ``data``; empty when it is clean.

    ``dims`` are the input dims the model is meant to have (ints fixed, names dynamic) and
    ``export_shape`` the example shape it was exported at; both default to the file's
    ``chanattn_export.input_dims`` / ``.input_shape`` metadata when it has them. ``run=False``
    keeps to the rules that read the graph; the unseen-shape rule executes it, in this process
    by default (an export's own file) or through ``runner`` (``inspect``: a limited child
    process, for files nobody vouches for).
    """
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # DecodeError and friends: untrusted bytes
        return [LintProblem("invalid", f"not an ONNX model: {str(e).splitlines()[0]}")]
    meta = {p.key: p.value for p in model.metadata_props}
    dims = dims if dims is not None else _meta_list(meta, "input_dims")
    export_shape = export_shape if export_shape is not None else _meta_list(meta, "input_shape")
    problems = _external_data(model, data) + _domains(model) + _baked_shapes(model)
    problems += _declared_dims(model, dims)
    if run and not any(p.rule in ("external-data", "nonstandard-op") for p in problems):
        problems += [LintProblem("unseen-shape", m)
                     for m in unseen_shape_problems(data, model, export_shape, runner)]
    return problems


def _meta_list(meta: dict[str, str], key: str) -> list[Any] | None:
    try:
        value = json.loads(meta[_META + key])
    except (KeyError, ValueError):
        return None
    return value if isinstance(value, list) else None


def _graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph (If/Loop bodies) below it."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _external_data(model: Any, data: bytes) -> list[LintProblem]:
    """Tensors stored outside the file. Where they hide beyond graphs and subgraphs (function
    bodies, sparse tensors, attribute tensor lists) the loaders' wire-format scan finds them:
    the lint must say so before its own onnxruntime run would read such a file."""
    from collections import Counter

    from ..fileio.onnx_wire import MalformedModel, external_tensors

    out, reported = [], Counter()
    for g in _graphs(model.graph):
        tensors = [(t.name, t) for t in g.initializer]
        tensors += [(n.name or n.output[0], a.t) for n in g.node for a in n.attribute
                    if a.HasField("t")]
        for name, t in tensors:
            if _stored_outside(t):
                reported[t.name or "<unnamed>"] += 1  # as the wire scan names it
                where = next((e.value for e in t.external_data if e.key == "location"), "?")
                out.append(LintProblem("external-data", f"tensor {name} is stored outside the "
                                       f"file (in {where}); the .onnx does not work alone"))
    try:
        found = Counter(external_tensors(data))
    except MalformedModel:  # onnx parsed it; protobuf is the judge of well-formedness here
        return out
    found.subtract(reported)
    for name in sorted(n for n, k in found.items() if k > 0):
        out.append(LintProblem("external-data", f"tensor {name} is stored outside the file "
                               "(in a function, sparse tensor or tensor list); the .onnx does "
                               "not work alone"))
    return out


def _domains(model: Any) -> list[LintProblem]:
    local = {(f.domain, f.name): f for f in model.functions}
    out: list[LintProblem] = []
    seen: set[tuple[str, str]] = set()

    def visit(nodes: Any) -> None:
        for n in nodes:
            key = (n.domain, n.op_type)
            if n.domain in STANDARD_DOMAINS or key in seen:
                continue
            seen.add(key)
            if key in local:  # a model-local function: fine if its body is standard
                visit(local[key].node)
                continue
            out.append(LintProblem("nonstandard-op", f"op {n.op_type} from domain "
                                   f"{n.domain!r} is not a standard ONNX op; other runtimes "
                                   "cannot run it", n.name or None))

    for g in _graphs(model.graph):
        visit(g.node)
    return out


def _constants(graph: Any) -> dict[str, np.ndarray]:
    """Constant tensors by name. A tensor whose bytes do not match its dims or type (a file
    nobody vouches for) is left out: the lint reads what it can, it never crashes on input."""
    values = {t.name: v for t in graph.initializer
              if not _stored_outside(t)  # external bytes are never read (lint says so)
              and (v := _array(t)) is not None}
    for n in graph.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value" and a.HasField("t") and not _stored_outside(a.t):
                    v = _array(a.t)
                    if v is not None:
                        values[n.output[0]] = v
                elif a.name == "value_ints":
                    values[n.output[0]] = np.array(a.ints, dtype=np.int64)
    return values


def _array(t: Any) -> np.ndarray | None:
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(t)
    except Exception:  # malformed: short raw data, unknown type, dims without data
        return None


def _stored_outside(t: Any) -> bool:
    from onnx import TensorProto

    return t.data_location == TensorProto.EXTERNAL or bool(len(t.external_data))


def _shapes(model: Any) -> dict[str, list[int | None]]:
    """Inferred dims per tensor name: an int when fixed, None when dynamic or unknown."""
    from onnx import shape_inference

    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference is best effort; the unseen-shape run still checks
        inferred = model
    g = inferred.graph
    out = {}
    for v in [*g.input, *g.value_info, *g.output]:
        tt = v.type.tensor_type
        if tt.HasField("shape"):
            out[v.name] = [d.dim_value if d.HasField("dim_value") else None
                           for d in tt.shape.dim]
    return out


def _baked_shapes(model: Any) -> list[LintProblem]:
    """Reshape/Split/Expand constants that fix a dim the data says is dynamic."""
    consts, shapes = _constants(model.graph), _shapes(model)
    out = []
    for n in model.graph.node:
        src = shapes.get(n.input[0]) if n.input else None
        if src is None or all(d is not None for d in src):
            continue  # only tensors with a dynamic dim can have one baked in
        msg = None
        if n.op_type == "Reshape" and len(n.input) > 1 and n.input[1] in consts:
            target = consts[n.input[1]].reshape(-1).tolist()
            if all(t > 0 for t in target):  # no -1 and no 0 (copy): every output dim fixed
                msg = f"reshapes a tensor of dims {_fmt(src)} to the fixed shape {target}"
        elif n.op_type == "Expand" and len(n.input) > 1 and n.input[1] in consts:
            target = consts[n.input[1]].reshape(-1).tolist()
            pairs = list(zip(reversed(src), reversed(target), strict=False))
            if any(d is None and t > 1 for d, t in pairs):
                msg = f"expands a tensor of dims {_fmt(src)} to the fixed shape {target}"
        elif n.op_type == "Split":
            sizes = _split_sizes(n, consts)
            axis = next((a.i for a in n.attribute if a.name == "axis"), 0)
            if sizes is not None and -len(src) <= axis < len(src) and src[axis] is None:
                msg = f"splits dynamic axis {axis} of {_fmt(src)} into fixed sizes {sizes}"
        if msg:
            out.append(LintProblem("baked-shape", msg + ": a size from the export is baked "
                                   "in, other sizes fail or compute garbage", n.name or None))
    return out


def _split_sizes(node: Any, consts: dict[str, np.ndarray]) -> list[int] | None:
    for a in node.attribute:
        if a.name == "split":
            return list(a.ints)
    if len(node.input) > 1 and node.input[1] in consts:
        return consts[node.input[1]].reshape(-1).tolist()
    return None


def _fmt(dims: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _declared_dims(model: Any, dims: Sequence[int | str] | None) -> list[LintProblem]:
    if dims is None or not model.graph.input:
        return []
    graph = graph_dims(model.graph.input[0])
    if len(graph) != len(dims):
        return [LintProblem("static-dim", f"input has rank {len(graph)}, the metadata declares "
                            f"dims {list(dims)}")]
    out = []
    for i, (want, got) in enumerate(zip(dims, graph, strict=True)):
        if isinstance(want, str) and isinstance(got, int):
            out.append(LintProblem("static-dim", f"input axis {i} is declared dynamic "
                                   f"({want!r}) but the graph fixes it to {got}"))
        elif isinstance(want, int) and got != want:
            out.append(LintProblem("static-dim", f"input axis {i} is declared {want} but the "
                                   f"graph has {got!r}"))
    return out


__all__ = ["GraphRunner", "LintProblem", "lint_onnx", "unseen_shape"]
