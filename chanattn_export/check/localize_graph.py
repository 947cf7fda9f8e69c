"""Walk the ONNX graph in topological order and find where it leaves the eager values.

A value's error has two parts: what its node adds, and what it inherits from upstream. The walk
therefore confirms every candidate in isolation: the node (with the unmatched values between it
and the nearest matched ones, its *segment*) is run alone on the eager values of its inputs. A
node that still leaves the tolerance there is the divergence; one that does not only carries
upstream rounding. When no node does, the error is drift, and :func:`drift` ranks the nodes by
how much they grow the relative error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec import Tolerance
from .localize_values import run_isolated
from .parity import compare


@dataclass(frozen=True)
class ValueDiff:
    """One value compared: ONNX against the exported program."""

    name: str
    max_abs: float
    needed_atol: float  # the smallest atol at which it passes (the parity bound)
    rel: float  # max |a - e| / max |e|: scale-free, for drift
    shape_ok: bool

    def passes(self, tol: Tolerance) -> bool:
        return self.shape_ok and self.needed_atol <= tol.atol


def value_diff(name: str, expected: np.ndarray, actual: np.ndarray, tol: Tolerance,
               scale: float) -> ValueDiff:
    d = compare("onnx", name, expected, actual, scale)
    if not d.shape_ok:
        return ValueDiff(name, float("inf"), float("inf"), float("inf"), False)
    needed = d.needed_atol(tol.rtol)
    if d.nan_mismatch:
        needed = float("inf")
    top = float(np.abs(expected.astype(np.float64)).max(initial=0.0)) if expected.size else 0.0
    rel = d.max_abs / top if top > 0 else (0.0 if d.max_abs == 0 else float("inf"))
    return ValueDiff(name, d.max_abs, needed, rel, True)


@dataclass(frozen=True)
class Segment:
    """A node with the unmatched nodes feeding it, back to matched values (``inputs``) and
    constants (initializers, Constant nodes without a torch counterpart)."""

    nodes: tuple[int, ...]  # indices into graph.node, topological order; the last one is ``node``
    inputs: tuple[str, ...]  # matched values: the eager side has them
    constants: tuple[str, ...]  # initializers read by the segment


class Graph:
    """Index of one ONNX graph for the walk."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.nodes = list(model.graph.node)
        self.producer = {o: i for i, n in enumerate(self.nodes) for o in n.output if o}
        self.initializers = {t.name for t in model.graph.initializer}

    def segment(self, index: int, matched: set[str]) -> Segment:
        nodes, inputs, consts, seen = {index}, [], [], set()
        stack = [i for i in reversed(self.nodes[index].input) if i]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in matched:
                inputs.append(name)
            elif name in self.producer:
                nodes.add(self.producer[name])
                stack.extend(i for i in reversed(self.nodes[self.producer[name]].input) if i)
            elif name in self.initializers:
                consts.append(name)
        return Segment(tuple(sorted(nodes)), tuple(inputs), tuple(consts))

    def outputs(self) -> Iterator[tuple[int, str]]:
        for i, node in enumerate(self.nodes):
            for name in node.output:
                if name:
                    yield i, name


class Extract:
    """In-memory ``onnx.utils.extract_model``: the sub-model from some values to one value.

    ``onnx.utils.Extractor`` needs a type for each cut value; they come from the eager arrays.
    """

    def __init__(self, model: Any, eager: dict[str, np.ndarray]) -> None:
        import onnx
        import onnx.helper
        import onnx.utils

        typed = onnx.ModelProto()
        typed.CopyFrom(model)
        del typed.graph.value_info[:]
        for name, arr in eager.items():
            try:
                elem = onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
            except (KeyError, ValueError, TypeError):
                continue
            typed.graph.value_info.append(onnx.helper.make_tensor_value_info(name, elem,
                                                                             arr.shape))
        self.extractor = onnx.utils.Extractor(typed)

    def model(self, inputs: tuple[str, ...], output: str) -> Any:
        sub = self.extractor.extract_model(list(inputs), [output])
        del sub.graph.value_info[:]  # eager shapes inside the cut: ONNX's may differ
        sub.graph.output[0].type.tensor_type.ClearField("shape")
        return sub


@dataclass(frozen=True)
class Found:
    """The first node that leaves the tolerance on its own."""

    index: int
    output: str
    full: ValueDiff  # in the whole graph's run
    isolated: ValueDiff  # run alone on the eager values of its inputs
    segment: Segment
    sub_model: Any
    actual: np.ndarray  # the isolated run's value


def first_divergence(graph: Graph, eager: dict[str, np.ndarray], diffs: dict[str, ValueDiff],
                     tol: Tolerance, scale: float) -> Found | None:
    """The first node, in topological order, whose output leaves the tolerance in the whole
    run and still does when run alone; None when none does (drift)."""
    matched = set(diffs)
    extract = None
    for index, name in graph.outputs():
        full = diffs.get(name)
        if full is None or full.passes(tol):
            continue
        seg = graph.segment(index, matched)
        extract = extract or Extract(graph.model, eager)
        sub = extract.model(seg.inputs, name)
        try:
            actual = run_isolated(sub, {i: eager[i] for i in seg.inputs})
        except Exception:  # onnxruntime refuses the cut (e.g. a planted shape change)
            actual = np.full((0,), np.nan, dtype=np.float32)
        alone = value_diff(name, eager[name], actual, tol, scale)
        if not alone.passes(tol):
            return Found(index, name, full, alone, seg, sub, actual)
    return None


@dataclass(frozen=True)
class DriftStep:
    """A node that grows the relative error (``max|a - e| / max|e|``) from ``rel_in``, the
    largest among its inputs, to ``rel_out``: it added ``rel_out - rel_in``."""

    node: str
    op_type: str
    output: str
    module: str
    rel_in: float
    rel_out: float

    @property
    def added(self) -> float:
        return self.rel_out - self.rel_in

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "added": self.added}


def drift(graph: Graph, diffs: dict[str, ValueDiff], top: int = 5) -> list[DriftStep]:
    """The ``top`` nodes that add the most relative error, largest first. Ranked by what
    they add, not by the ratio: a node taking 1e-9 to 1e-8 matters less than one adding 1e-4."""
    from .localize_values import module_of

    matched, steps = set(diffs), []
    for index, name in graph.outputs():
        d = diffs.get(name)
        if d is None or not d.shape_ok:
            continue
        seg = graph.segment(index, matched)
        rel_in = max((diffs[i].rel for i in seg.inputs), default=0.0)
        if d.rel <= rel_in:
            continue
        node = graph.nodes[index]
        steps.append(DriftStep(node.name, node.op_type, name, module_of(node)[0], rel_in, d.rel))
    steps.sort(key=lambda s: (-s.added, -s.rel_out))
    return steps[:top]
