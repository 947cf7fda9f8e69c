"""float32 ONNX bytes -> float16 ONNX bytes, keeping in float32 what float16 would break.

The converter is onnxconverter-common's (``onnxconverter_common.float16``, the one onnxruntime's
docs name; its copy inside ``onnxruntime.transformers`` leaves the Casts it adds for float32
I/O unsorted and rounds the input to float16 before a float32 node reads it). Two things stay
float32 (docs/precision.md):

- every *summing* reduction (ReduceSum/Mean/L2/..., global pooling, softmax, normalisations):
  a sum over H x W of large activations passes float16's 65504 even where the mean would not,
  and the ONNX spec leaves the accumulator's precision to the runtime;
- every node whose float32 output, measured on the calibration inputs, reaches
  ``65504 / HEADROOM``: SimAM's ``(x - mean)^2`` at inputs ~1e2 overflows, for one.

Inputs and outputs stay float32 unless ``fp16_io`` (then the graph takes and returns float16).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ExportError, MissingDependencyError

FP16_MAX = 65504.0
HEADROOM = 16.0  # calibrated |value| may grow 16x on real data before float16 overflows
SUMMING_OPS = ("ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceProd", "GlobalAveragePool",
               "GlobalLpPool", "LpNormalization", "LpPool", "Softmax", "LogSoftmax",
               "LayerNormalization", "InstanceNormalization", "GroupNormalization",
               "MeanVarianceNormalization")
CONVERTER = "onnxconverter-common"


def _converter() -> Any:
    try:
        from onnxconverter_common import float16
    except ImportError as e:
        raise MissingDependencyError(f"fp16 conversion needs onnxconverter-common ({e}); "
                                     "pip install onnxconverter-common") from None
    return float16


def converter_version() -> str:
    import onnxconverter_common

    return str(onnxconverter_common.__version__)


def overflow_nodes(data: bytes, batches: Sequence[np.ndarray],
                   headroom: float = HEADROOM) -> dict[str, float]:
    """Node name -> the largest calibrated |value| it reads or writes, for nodes at or past
    ``FP16_MAX / headroom``: a float16 node fed a large float32 tensor overflows at the Cast
    the converter puts before it, so the readers of a large tensor stay float32 too."""
    import onnx

    from .ranges import tensor_ranges

    ranges = tensor_ranges(data, batches)
    limit = FP16_MAX / headroom
    out: dict[str, float] = {}
    for node in onnx.load_from_string(data).graph.node:
        worst = max((ranges[t].amax for t in (*node.input, *node.output) if t in ranges),
                    default=0.0)
        if worst >= limit:
            out[node.name] = worst
    return out


def to_fp16(data: bytes, batches: Sequence[np.ndarray], *, fp16_io: bool = False,
            keep_ops: Sequence[str] = SUMMING_OPS, keep_nodes: Sequence[str] = (),
            headroom: float = HEADROOM) -> tuple[bytes, dict[str, Any]]:
    """The float16 file and its recipe (what the manifest records). ``keep_ops`` and
    ``keep_nodes`` add to the float32 list; ``batches`` are the calibration inputs."""
    import onnx

    f16 = _converter()
    hot = overflow_nodes(data, batches, headroom) if batches else {}
    node_block = sorted({*hot, *keep_nodes})
    op_block = sorted({*f16.DEFAULT_OP_BLOCK_LIST, *keep_ops})
    model = onnx.load_from_string(data)
    present = {n.op_type for n in model.graph.node}
    try:
        with warnings.catch_warnings(record=True) as clipped:  # one per constant out of range
            warnings.simplefilter("always")
            converted = f16.convert_float_to_float16(
                model, keep_io_types=not fp16_io, op_block_list=op_block,
                node_block_list=node_block, min_positive_val=5.96e-08, max_finite_val=FP16_MAX)
        fold_cast_pairs(converted.graph)
        onnx.checker.check_model(converted, full_check=True)
    except Exception as e:  # the converter raises assertions and ValueErrors alike
        from ..errors import first_line

        raise ExportError(f"fp16 conversion failed: {type(e).__name__}: {first_line(e)}") \
            from None
    recipe = {
        "io": "float16" if fp16_io else "float32",
        "float32_ops": sorted(set(keep_ops) & present),
        "float32_nodes": {n: _num(hot.get(n)) for n in node_block},
        "headroom": headroom,
        "constants_clipped": len(clipped),  # to float16's range (tiny DCT weights of fca)
    }
    return converted.SerializeToString(deterministic=True), recipe


def fold_cast_pairs(graph: Any) -> int:
    """Remove the float32 -> float16 -> float32 Cast pairs the converter leaves between two
    nodes it kept in float32 (it types every intermediate tensor float16): a large value kept
    float32 on purpose would overflow in that round trip. Returns how many Casts went."""
    import onnx

    f16, f32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT

    def to(n: Any) -> int | None:
        return next((a.i for a in n.attribute if a.name == "to"), None) \
            if n.op_type == "Cast" else None

    outputs = {o.name for o in graph.output}
    removed = 0
    for down in [n for n in graph.node if to(n) == f16 and n.output[0] not in outputs]:
        readers = [n for n in graph.node if down.output[0] in n.input]
        ups = [n for n in readers if to(n) == f32 and n.output[0] not in outputs]
        for up in ups:  # up's readers read down's float32 input instead
            for n in graph.node:
                n.input[:] = [down.input[0] if t == up.output[0] else t for t in n.input]
            graph.node.remove(up)
            removed += 1
        if len(ups) == len(readers):
            graph.node.remove(down)
            removed += 1
    return removed


def _num(v: float | None) -> float | str:
    return "asked" if v is None else float(f"{v:.4g}")


__all__ = ["CONVERTER", "FP16_MAX", "HEADROOM", "SUMMING_OPS", "overflow_nodes", "to_fp16"]
