"""The range every float tensor of a float32 ONNX graph takes on calibration inputs.

The float16 converter keeps in float32 the nodes whose outputs leave float16's safe range; the
int8 recipe reads the gate's range. Both need the same measurement: every node output exposed
as a graph output and the float32 graph run (onnxruntime, no graph rewrites, so the node names
are the file's) on each calibration batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Range:
    """min, max and max |v| of one tensor over all calibration batches (NaN/Inf ignored)."""

    lo: float
    hi: float

    @property
    def amax(self) -> float:
        return max(abs(self.lo), abs(self.hi))


def tensor_ranges(data: bytes, batches: Sequence[np.ndarray],
                  input_name: str = "input") -> dict[str, Range]:
    """Tensor name (the graph input and every node output) -> its :class:`Range` over
    ``batches`` (float tensors only)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load_from_string(data)
    produced = [o for n in model.graph.node for o in n.output if o]
    have = {o.name for o in model.graph.output}
    for name in produced:
        if name not in have:
            model.graph.output.add().name = name  # type left open: onnxruntime infers it
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for x in batches:
        values = session.run(names, {input_name: x})
        for name, v in zip([input_name, *names], [x, *values], strict=True):
            v = np.asarray(v)
            if v.dtype.kind != "f" or v.size == 0:
                continue
            finite = v[np.isfinite(v)]
            if finite.size == 0:
                continue
            lo[name] = min(lo.get(name, np.inf), float(finite.min()))
            hi[name] = max(hi.get(name, -np.inf), float(finite.max()))
    return {k: Range(lo[k], hi[k]) for k in lo}


__all__ = ["Range", "tensor_ranges"]
