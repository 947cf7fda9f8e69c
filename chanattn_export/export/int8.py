"""float32 ONNX bytes -> static int8 QDQ ONNX bytes through onnxruntime's quantization tools.

``quant_pre_process`` first (shape inference and the graph clean-ups the quantizer expects),
then ``quantize_static``: QDQ format, int8 weights per output channel, uint8 activations,
ranges by MinMax over the calibration batches. The attention gate has its own recipe
(docs/precision.md has the measurements that chose the default):

- ``quantize``: everything the quantizer supports, the gate included;
- ``gate-float``: the gate activations (Sigmoid, HardSigmoid, and Softmax: global context's
  attention weights over H x W) and the multiply that applies them stay float: a gate is a
  small tensor, the multiply reads two activations, and softmax weights near 1 / (H W) round
  to zero at 8 bits;
- ``gate-pinned``: quantized, with the gate's output range pinned to [0, 1] instead of what
  calibration saw (a gate that saturated on calibration data keeps its full range).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError, MissingDependencyError

GATE_FLOAT, GATE_PINNED, QUANTIZE = "gate-float", "gate-pinned", "quantize"
RECIPES = (GATE_FLOAT, GATE_PINNED, QUANTIZE)
DEFAULT_RECIPE = GATE_FLOAT
GATE_OPS = ("Sigmoid", "HardSigmoid", "Softmax")  # Softmax: attention pooling weights (GC)
_PASS_THROUGH = ("Unsqueeze", "Reshape", "Expand", "Squeeze", "Transpose", "Identity")
QUANTIZER = "onnxruntime.quantization"


def _quantization() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as e:
        raise MissingDependencyError(f"int8 quantization needs onnxruntime ({e}); "
                                     "pip install onnxruntime") from None
    return quantization


def quantizer_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def gate_nodes(model: Any) -> tuple[list[str], list[str], list[str]]:
    """The gate activations, the multiplies that apply them (through shape-only ops), and
    those shape-only ops; node names of ``model`` (an ``onnx.ModelProto``)."""
    readers: dict[str, list[Any]] = {}
    for n in model.graph.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    gates = [n for n in model.graph.node if n.op_type in GATE_OPS]
    muls: list[str] = []
    between: list[str] = []
    for g in gates:
        frontier = list(g.output)
        while frontier:
            for r in readers.get(frontier.pop(), []):
                if r.op_type in ("Mul", "MatMul"):
                    muls.append(r.name)
                elif r.op_type in _PASS_THROUGH:
                    between.append(r.name)
                    frontier.extend(r.output)
    return [g.name for g in gates], sorted(set(muls)), sorted(set(between))


class _Reader:
    """onnxruntime's CalibrationDataReader over in-memory batches."""

    def __init__(self, batches: Sequence[np.ndarray], input_name: str) -> None:
        self._it: Iterator[dict[str, np.ndarray]] = iter([{input_name: b} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def __iter__(self):  # newer onnxruntime iterates the reader
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def to_int8(data: bytes, batches: Sequence[np.ndarray], *, recipe: str = DEFAULT_RECIPE,
            input_name: str = "input") -> tuple[bytes, dict[str, Any]]:
    """The int8 QDQ file and its recipe record (what the manifest stores)."""
    import onnx

    if recipe not in RECIPES:
        from ..errors import InvalidSpecError

        raise InvalidSpecError(f"int8 recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    if not batches:
        raise ExportError("int8 quantization needs calibration data")
    q = _quantization()
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="chanattn-int8-") as tmp:
        src, pre, out = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(data)
        try:
            with _quiet():
                symbolic = _pre_process(quant_pre_process, src, pre)
                model = onnx.load(str(pre))
                gates, muls, between = gate_nodes(model)
                exclude: list[str] = []
                overrides: dict[str, list[dict[str, Any]]] = {}
                if recipe == GATE_FLOAT:
                    exclude = [*gates, *muls, *between]
                elif recipe == GATE_PINNED:
                    unit = {"rmin": np.float32(0.0), "rmax": np.float32(1.0)}
                    for n in model.graph.node:
                        if n.name in gates:
                            overrides[n.output[0]] = [dict(unit)]
                q.quantize_static(
                    str(pre), str(out), _Reader(batches, input_name),
                    quant_format=q.QuantFormat.QDQ, per_channel=True,
                    activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                    calibrate_method=q.CalibrationMethod.MinMax, nodes_to_exclude=exclude,
                    extra_options={"TensorQuantOverrides": overrides} if overrides else None)
            result = onnx.load(str(out))
            _copy_metadata(onnx.load_from_string(data), result)
            onnx.checker.check_model(result, full_check=True)
        except (ExportError, MissingDependencyError):
            raise
        except Exception as e:  # the quantizer raises many types
            from ..errors import first_line

            raise ExportError(f"int8 quantization failed: {type(e).__name__}: "
                              f"{first_line(e)}") from None
    record = {"recipe": recipe, "format": "QDQ", "weights": "int8 per-channel",
              "activations": "uint8 per-tensor", "calibrate_method": "MinMax",
              "float_nodes": sorted(exclude), "pinned": sorted(overrides),
              "gates": gates, "gate_multiplies": muls, "symbolic_shapes": symbolic,
              "quantized_ops": quantized_ops(result)}
    return result.SerializeToString(deterministic=True), record


def quantized_ops(model: Any) -> dict[str, int]:
    """Op type -> how many of its nodes read a dequantized tensor and write one that is
    quantized again: what onnxruntime fuses into an int8 kernel (a float op between a DQ and
    a float reader, such as a gate kept in float, is not counted)."""
    dq = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    q_in = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    out: dict[str, int] = {}
    for n in model.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if dq & set(n.input) and q_in & set(n.output):
            out[n.op_type] = out.get(n.op_type, 0) + 1
    return dict(sorted(out.items()))


def _pre_process(pre_process: Any, src: Path, dst: Path) -> bool:
    """``quant_pre_process``; where onnxruntime's symbolic shape inference fails on the graph
    (it did on a Concat of our CBAM gate), again with ONNX's own shape inference only.
    Returns whether the symbolic pass ran."""
    try:
        pre_process(str(src), str(dst))
        return True
    except Exception:  # its inference raises TypeErrors on shapes it cannot follow
        pre_process(str(src), str(dst), skip_symbolic_shape=True)
        return False


def _copy_metadata(src: Any, dst: Any) -> None:
    """The fp32 file's metadata_props (what a deployment reads): the quantizer drops some."""
    have = {p.key for p in dst.metadata_props}
    for p in src.metadata_props:
        if p.key not in have:
            dst.metadata_props.add(key=p.key, value=p.value)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer logs and prints per node; the toolkit says one line instead."""
    import logging

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.getLogger().setLevel(level)


__all__ = ["DEFAULT_RECIPE", "GATE_FLOAT", "GATE_OPS", "GATE_PINNED", "QUANTIZE", "QUANTIZER",
           "RECIPES", "gate_nodes", "quantizer_version", "to_int8"]
