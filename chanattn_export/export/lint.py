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

STANDARD_DOMAINS = ("", "ai.onnx")
MAX_RUN_ELEMENTS = 1 << 24  # the unseen-shape run allocates at most 64 MB of float32 input
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
              export_shape: Sequence[int] | None = None, run: bool = True) -> list[LintProblem]:
    """Every lint problem of the serialized model ``data``; empty when it is clean.

    ``dims`` are the input dims the model is meant to have (ints fixed, names dynamic) and
    ``export_shape`` the example shape it was exported at; both default to the file's
    ``chanattn_export.input_dims`` / ``.input_shape`` metadata when it has them.
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
        problems += _unseen_shape_run(data, model, export_shape)
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
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer
              if not _stored_outside(t)}  # external bytes are never read (lint says so)
    for n in graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.HasField("t") and not _stored_outside(a.t):
                    values[n.output[0]] = numpy_helper.to_array(a.t)
                elif a.name == "value_ints":
                    values[n.output[0]] = np.array(a.ints, dtype=np.int64)
    return values


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


def _graph_dims(value_info: Any) -> list[int | str | None]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def _declared_dims(model: Any, dims: Sequence[int | str] | None) -> list[LintProblem]:
    if dims is None or not model.graph.input:
        return []
    graph = _graph_dims(model.graph.input[0])
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


def unseen_shape(graph_dims: Sequence[int | str | None],
                 export_shape: Sequence[int] | None) -> list[int]:
    """A concrete shape whose dynamic dims differ from every size used at export."""
    used = set(export_shape or ()) | {1, 2}  # 2: the trace batch when the batch is dynamic
    pool = iter(v for v in range(3, 1 << 16, 2) if v not in used)
    shape = []
    for i, d in enumerate(graph_dims):
        if isinstance(d, int) and d > 0:
            shape.append(d)
        elif i == 0:
            shape.append(next(pool))
        else:  # a spatial dim: near the export size, different per axis
            base = export_shape[i] if export_shape and i < len(export_shape) else 8
            shape.append(next(v for v in pool if v > base))
    return shape


def _unseen_shape_run(data: bytes, model: Any,
                      export_shape: Sequence[int] | None) -> list[LintProblem]:
    """Run at a batch and H x W never used at export; dynamic output dims must follow."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    if len(model.graph.input) != 1:
        return []
    in_dims = _graph_dims(model.graph.input[0])
    if all(isinstance(d, int) for d in in_dims):
        return []  # nothing dynamic to check
    shape = unseen_shape(in_dims, export_shape)
    if int(np.prod(shape)) > MAX_RUN_ELEMENTS:
        return []
    opts, quiet = ort.SessionOptions(), ort.RunOptions()
    opts.log_severity_level = quiet.log_severity_level = 4  # the failure is reported here
    try:
        sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        half = model.graph.input[0].type.tensor_type.elem_type == 10  # FLOAT16: fp16 I/O
        x = np.random.default_rng(0).standard_normal(shape).astype(
            np.float16 if half else np.float32)
        ys = sess.run(None, {sess.get_inputs()[0].name: x}, quiet)
    except Exception as e:
        return [LintProblem("unseen-shape", f"fails at input shape {shape} (dynamic dims at "
                            f"sizes not used at export): {str(e).splitlines()[0][:300]}")]
    by_name = {d: v for d, v in zip(in_dims, shape, strict=True) if isinstance(d, str)}
    out = []
    for info, y in zip(model.graph.output, ys, strict=False):
        want = [by_name.get(d, d) if isinstance(d, str) else d for d in _graph_dims(info)]
        if len(want) != y.ndim or any(isinstance(w, int) and w != g
                                      for w, g in zip(want, y.shape, strict=False)):
            out.append(LintProblem("unseen-shape", f"at input shape {shape} output "
                                   f"{info.name} has shape {list(y.shape)}, the graph "
                                   f"declares {want}"))
    return out


__all__ = ["LintProblem", "lint_onnx", "unseen_shape"]
