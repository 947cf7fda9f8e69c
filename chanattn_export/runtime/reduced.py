"""Runners for reduced-precision files: what the parity gate runs an fp16 or int8 file on.

onnxruntime's CPU provider has float16 kernels for few of our ops: it wraps the others in Casts
and then removes the Cast pairs between them, so a float16 graph runs almost entirely in
float32 there and a float16 overflow never shows (docs/precision.md has the measurement). A
float16 file is therefore also run by ``onnx.reference`` (:class:`Fp16ReferenceRunner`), which
computes every op in the dtype the file declares: each result rounded to float16, overflow
to inf, and reductions accumulated in float16 as the ONNX spec allows a runtime to do. It is
the strict side of what a GPU does, and the check a float16 file must also pass on a CPU.
Conv, Gemm and MatMul accumulate in float32 and round their result to float16 (what cuDNN and
cuBLAS do by default): numpy has no float16 BLAS, and its float16 matmul took 10 s per
224 x 224 image of an SE-ResNet-18 where float32 takes 0.2 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import Precision
from .runners import OrtRunner, run_error
from .validation import Expected, check_input

REFERENCE_FP16 = "onnx-reference-fp16"


def _input_dtype(data: bytes) -> np.dtype:
    """The graph input's element type (float16 for a file converted with true fp16 I/O)."""
    import onnx

    elem = onnx.load_from_string(data).graph.input[0].type.tensor_type.elem_type
    return np.dtype(np.float16) if elem == onnx.TensorProto.FLOAT16 else np.dtype(np.float32)


WIDE_OPS = ("Conv", "Gemm", "MatMul", "MaxPool")


def _wide_ops() -> list[type]:
    """Conv, Gemm and MatMul accumulate in float32, their results rounded to float16; MaxPool
    is exact in any float type. All four run as one-node onnxruntime sessions in float32:
    numpy has no float16 BLAS and ``onnx.reference``'s MaxPool is a Python loop."""
    from onnx.reference.op_run import OpRun

    def _run(self: Any, *args: Any, **_: Any) -> tuple[np.ndarray, ...]:
        present = [a for a in args if a is not None]
        session = self.__dict__.get("_session")
        if session is None:
            session = self._session = _single_node_session(self.onnx_node, len(present))
        dtype = present[0].dtype
        feeds = {f"x{i}": a.astype(np.float32) if a.dtype == np.float16 else a
                 for i, a in enumerate(present)}
        outs = session.run(None, feeds)
        return (outs[0].astype(dtype), *outs[1:])

    return [type(name, (OpRun,), {"_run": _run, "op_domain": ""}) for name in WIDE_OPS]


def _single_node_session(node: Any, inputs: int) -> Any:
    """An onnxruntime session running ``node`` alone on float32 inputs ``x0, x1, ...``
    (optional inputs left out are trailing ones: Conv's and Gemm's bias)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    names = [f"x{i}" for i in range(inputs)]
    outs = [f"y{i}" for i in range(len(node.output))]
    one = helper.make_node(node.op_type, names, outs, name="n")
    one.attribute.extend(node.attribute)
    types = [TensorProto.FLOAT, TensorProto.INT64]  # MaxPool's second output: Indices
    graph = helper.make_graph(
        [one], "one", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names],
        [helper.make_tensor_value_info(o, types[i], None) for i, o in enumerate(outs)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


class Fp16ReferenceRunner:
    """The float16 file run by ``onnx.reference``, every op in its declared dtype."""

    name = REFERENCE_FP16

    def __init__(self, data: bytes, expected: Expected | None = None) -> None:
        import onnx
        from onnx.reference import ReferenceEvaluator

        model = onnx.load_from_string(data)
        self.evaluator = ReferenceEvaluator(model, new_ops=_wide_ops())
        self.input_name = model.graph.input[0].name
        self.dtype = _input_dtype(data)
        self.expected = expected

    def infer(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.expected)
        try:
            with np.errstate(all="ignore"):  # overflow to inf is what is being measured
                y = self.evaluator.run(None, {self.input_name: x.astype(self.dtype)})[0]
        except Exception as e:  # the reference ops raise many types
            raise run_error(self.name, x, e) from None
        return np.asarray(y, dtype=np.float32)


class IoCastRunner:
    """A file taking float16 (true fp16 I/O) run on float32 cases: the input is rounded to
    float16 as a user would, the output widened for comparison."""

    def __init__(self, runner: OrtRunner) -> None:
        self.runner, self.name = runner, runner.name

    def infer(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.runner.expected)
        half = x.astype(np.float16)
        try:
            y = self.runner.session.run(None, {self.runner.input_name: half})[0]
        except Exception as e:
            raise run_error(self.name, half, e) from None
        return np.asarray(y, dtype=np.float32)


def reference_missing() -> str | None:
    """Why the float16 reference cannot run here (a deployment host without onnx), or None."""
    try:
        import onnx.reference  # noqa: F401
    except ImportError:
        return (f"{REFERENCE_FP16} not run: it needs onnx (pip install onnx); onnxruntime's "
                "CPU provider alone computes most float16 ops in float32")
    return None


def reduced_runners(precision: Precision, data: bytes, expected: Expected) -> list[Any]:
    """The CPU runners that judge a ``precision`` file: onnxruntime (what serves it), plus
    the float16 reference for fp16 files where onnx is installed (:func:`reference_missing`)."""
    ort_runner = OrtRunner(data, expected=expected)
    fp16_io = ort_runner.session.get_inputs()[0].type == "tensor(float16)"
    runners: list[Any] = [IoCastRunner(ort_runner) if fp16_io else ort_runner]
    if precision is Precision.FP16 and reference_missing() is None:
        runners.append(Fp16ReferenceRunner(data, expected))
    return runners


__all__ = ["REFERENCE_FP16", "Fp16ReferenceRunner", "IoCastRunner", "reduced_runners",
           "reference_missing"]
