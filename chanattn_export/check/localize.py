"""When parity fails, name the first ONNX node that diverges from eager PyTorch.

:func:`localize` takes the eager module, the ONNX file exported from it and one input (the
failing parity case). It returns None when onnxruntime (as parity runs it) agrees with the
module on that input, else a :class:`Divergence`:

- ``node``: the first node, in topological order, whose output leaves the parity tolerance and
  still does when run alone on the eager values of its inputs (those values agree);
- ``drift``: no node does on its own, yet the output fails: the five nodes that add the most
  relative error;
- ``capture``: torch.export's program already differs from the module (nothing in ONNX to blame);
- ``optimizer``: with onnxruntime's graph optimisations off every value agrees.

How values are matched: :mod:`.localize_values`; the walk: :mod:`.localize_graph`.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LocalizeError
from ..spec import Tolerance
from .localize_graph import DriftStep, Graph, ValueDiff, drift, first_divergence, value_diff
from .localize_values import (
    eager_values,
    graph_input,
    is_dynamo,
    module_of,
    node_meta,
    onnx_values,
)

NODE, DRIFT, CAPTURE, OPTIMIZER = "node", "drift", "capture", "optimizer"
MAX_ONNX_BYTES = 1 << 30


@dataclass(frozen=True)
class Before:
    """A value feeding the diverging node, as the whole graph computed it."""

    name: str
    max_abs: float
    needed_atol: float
    agrees: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "max_abs": _num(self.max_abs),
                "needed_atol": _num(self.needed_atol), "agrees": self.agrees}


@dataclass(frozen=True)
class Divergence:
    """Where an ONNX file leaves eager PyTorch on one input; see the module docstring."""

    mode: str
    node: str | None
    op_type: str | None
    output: str | None
    module: str | None  # dotted module path ("" for the top module)
    max_abs: float  # of ``output`` (node mode) or of the graph output (other modes)
    needed_atol: float
    tolerance: Tolerance
    module_type: str | None = None
    before: tuple[Before, ...] = ()  # the matched values feeding the segment
    segment: tuple[str, ...] = ()  # ONNX nodes from ``before`` to ``node`` (the repro's nodes)
    constants: tuple[Before, ...] = ()  # initializers of the segment that differ from torch's
    reads: tuple[str, ...] = ()  # every initializer the segment reads
    drift: tuple[DriftStep, ...] = ()
    isolated_max_abs: float | None = None  # ``node`` run alone on the eager ``before`` values
    compared: int = 0  # values compared (ONNX values with a torch counterpart)
    _repro: tuple[Any, dict[str, np.ndarray], np.ndarray] | None = field(
        default=None, repr=False, compare=False)

    def line(self) -> str:
        """One line for the CLI."""
        tol = f"allowed {self.tolerance.atol:g} (rtol {self.tolerance.rtol:g})"
        if self.mode == NODE:
            where = f"module {self.module}" if self.module else "the top module"
            agree = [b.name for b in self.before if b.agrees]
            fed = f"; its inputs agree ({', '.join(agree[:3])})" if agree else ""
            if not self.before and self.reads:
                fed = f"; it reads only the file's constants ({', '.join(self.reads[:3])})"
            return (f"first divergence: node {self.node} ({self.op_type}) -> {self.output} in "
                    f"{where}: max_abs {self.max_abs:.3g}, needs atol {self.needed_atol:.3g}, "
                    f"{tol}{fed}")
        if self.mode == DRIFT:
            top = ", ".join(f"{s.node} ({s.op_type}{', ' + s.module if s.module else ''}) "
                            f"+{s.added:.2g}" for s in self.drift[:3])
            return (f"no single node leaves the tolerance; rounding grows along the graph "
                    f"(output needs atol {self.needed_atol:.3g}, {tol}), most at: {top}")
        if self.mode == CAPTURE:
            return (f"the divergence is before ONNX: torch.export's program of the module "
                    f"differs from the eager module (max_abs {self.max_abs:.3g}, needs atol "
                    f"{self.needed_atol:.3g}, {tol})")
        return (f"no value diverges with onnxruntime's graph optimisations off: its "
                f"optimisations cause the divergence (max_abs {self.max_abs:.3g} with them on, "
                f"needs atol {self.needed_atol:.3g}, {tol})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: node, op_type, output, module, max_abs, tolerance, and the details."""
        return {
            "node": self.node, "op_type": self.op_type, "output": self.output,
            "module": self.module, "max_abs": _num(self.max_abs),
            "tolerance": {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol},
            "mode": self.mode, "needed_atol": _num(self.needed_atol),
            "module_type": self.module_type,
            "isolated_max_abs": None if self.isolated_max_abs is None
            else _num(self.isolated_max_abs),
            "before": [b.to_dict() for b in self.before],
            "differing_constants": [c.to_dict() for c in self.constants],
            "reads": list(self.reads),
            "segment": list(self.segment),
            "drift": [s.to_dict() for s in self.drift],
            "compared": self.compared, "summary": self.line(),
        }

    def write_repro(self, folder: str | os.PathLike[str]) -> Path:
        """Write the smallest subgraph that reproduces the divergence, with its inputs and
        the eager output, as a folder to attach to a bug report (node mode only)."""
        if self._repro is None:
            raise LocalizeError(f"a {self.mode} divergence has no single node to cut out")
        from .localize_repro import write_repro

        sub, inputs, expected = self._repro
        return write_repro(folder, sub, inputs, expected, self.to_dict())


def _num(x: float) -> float | str:
    return x if np.isfinite(x) else str(x)


def localize(module: Any, onnx_path: str | os.PathLike[str] | bytes, x: Any, *,
             tolerance: Tolerance | None = None,
             repro: str | os.PathLike[str] | None = None) -> Divergence | None:
    """Where the ONNX file ``onnx_path`` (or its bytes) leaves the eager ``module`` on input
    ``x`` (one array or tensor, the file's layout); None when it does not. ``repro``: a folder
    to write the diverging subgraph and its inputs to (node mode).

    Only files from the dynamo exporter can be localised (their values are named after
    torch's nodes); others raise :class:`LocalizeError` saying so.
    """
    from ..models import fold_for_export
    from .parity import input_scale

    data = _read(onnx_path)
    model = _load(data)
    if not is_dynamo(model):
        raise LocalizeError("this export cannot be localised: its nodes carry no link to "
                            "torch's graph (the legacy TorchScript-based exporter writes "
                            "none); re-export with the dynamo exporter")
    xs = _as_array(x)
    tol = tolerance or Tolerance()
    scale = input_scale(xs)
    net = _prepared(module)
    reference = _forward(net, xs)
    shipped = _shipped_output(data, model, xs)
    out = value_diff("output", reference, shipped, tol, scale)
    if out.passes(tol):
        return None
    eager = eager_values(fold_for_export(net), model, xs)
    captured = value_diff("output", reference, eager.output, tol, scale)
    if not captured.passes(tol):
        return Divergence(CAPTURE, None, None, None, None, captured.max_abs,
                          captured.needed_atol, tol)
    ours = onnx_values(model, xs)
    diffs = {n: value_diff(n, eager.values[n], a, tol, scale) for n, a in ours.items()
             if n in eager.values}
    diffs[graph_input(model).name] = value_diff("input", xs, xs, tol, scale)
    if len(diffs) <= 2:  # the graph's input and output only
        raise LocalizeError("no ONNX value matches a node of the module's exported program: "
                            "is this the module the file was exported from?")
    out_name = model.graph.output[0].name
    if out_name in diffs and diffs[out_name].passes(tol):
        return Divergence(OPTIMIZER, None, None, None, None, out.max_abs, out.needed_atol, tol,
                          compared=len(diffs))
    graph = Graph(model)
    found = first_divergence(graph, eager.values, diffs, tol, scale)
    if found is None:
        return Divergence(DRIFT, None, None, None, None, out.max_abs, out.needed_atol, tol,
                          drift=tuple(drift(graph, diffs)), compared=len(diffs))
    result = _node_result(graph, found, diffs, eager.values, tol, scale, len(diffs))
    if repro is not None:
        result.write_repro(repro)
    return result


def _node_result(graph: Graph, found: Any, diffs: dict[str, ValueDiff],
                 eager: dict[str, np.ndarray], tol: Tolerance, scale: float,
                 compared: int) -> Divergence:
    node = graph.nodes[found.index]
    path, cls = module_of(node)
    before = tuple(Before(n, diffs[n].max_abs, diffs[n].needed_atol, diffs[n].passes(tol))
                   for n in found.segment.inputs)
    consts = tuple(_differing_constants(graph, found.segment.constants, eager, tol, scale))
    inputs = {n: eager[n] for n in found.segment.inputs}
    return Divergence(
        NODE, node.name or f"#{found.index}", node.op_type, found.output, path,
        found.full.max_abs, found.full.needed_atol, tol, cls or None, before,
        tuple(graph.nodes[i].name or f"#{i}" for i in found.segment.nodes), consts,
        found.segment.constants, isolated_max_abs=found.isolated.max_abs, compared=compared,
        _repro=(found.sub_model, inputs, eager[found.output]))


def _differing_constants(graph: Graph, names: tuple[str, ...], eager: dict[str, np.ndarray],
                         tol: Tolerance, scale: float) -> list[Before]:
    """Initializers named like a torch value (a weight torch.export computed, e.g. a
    flattened one) that hold something else."""
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.model.graph.initializer if t.name in names}
    out = []
    for name, t in inits.items():
        if name not in eager:
            continue
        d = value_diff(name, eager[name], numpy_helper.to_array(t), tol, scale)
        if not d.passes(tol):
            out.append(Before(name, d.max_abs, d.needed_atol, False))
    return out


def _read(source: str | os.PathLike[str] | bytes) -> bytes:
    from ..fileio.bounded import read_bounded

    if isinstance(source, bytes | bytearray):
        return bytes(source)
    return read_bounded(source, MAX_ONNX_BYTES, "ONNX file")


def _load(data: bytes) -> Any:
    import onnx

    from ..errors import ArtifactError
    from ..fileio.onnx_wire import refuse_external_data

    try:
        refuse_external_data(data)
    except ArtifactError as e:
        raise LocalizeError(str(e)) from None
    try:
        return onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise LocalizeError(f"not an ONNX model: {e}") from None


def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype != np.float32 or arr.ndim == 0:
        raise LocalizeError(f"the input must be a float32 array; got {arr.dtype} with shape "
                            f"{list(arr.shape)}")
    return np.ascontiguousarray(arr)


def _prepared(module: Any) -> Any:
    """A CPU copy in eval mode: the user's module is left as it was."""
    from torch import nn

    if not isinstance(module, nn.Module):
        raise LocalizeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    return copy.deepcopy(module).cpu().eval()


def _forward(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    from ..errors import first_line

    try:
        with torch.no_grad():
            y = net(torch.from_numpy(x.copy()))
    except Exception as e:  # the user's code: any exception type
        raise LocalizeError(f"the module's forward fails on the input: {first_line(e)}") from None
    if not isinstance(y, torch.Tensor):
        raise LocalizeError(f"the module returns a {type(y).__name__}, not one tensor")
    return y.detach().cpu().numpy()


def _shipped_output(data: bytes, model: Any, x: np.ndarray) -> np.ndarray:
    """The output as parity's onnxruntime runner computes it (default optimisations)."""
    from ..runtime.runners import open_ort_session

    session = open_ort_session(data)
    try:
        return np.asarray(session.run(None, {graph_input(model).name: x})[0])
    except Exception as e:  # onnxruntime's own exception types
        from ..errors import first_line

        raise LocalizeError(f"onnxruntime cannot run the input: {first_line(e)}") from None


__all__ = ["Before", "Divergence", "DriftStep", "LocalizeError", "localize", "node_meta"]
