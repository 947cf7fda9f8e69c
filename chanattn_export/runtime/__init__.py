"""Runners: one ``infer(x: ndarray) -> ndarray`` interface over every backend.

ONNX files also run in ``onnx.reference`` and OpenVINO (CPU, float32) when asked for
(``runtimes``; docs/runtimes.md); their packages are imported only then.

Each runner is built from file bytes (or an eager module), so what is checked is exactly what
gets written. By default CUDA backends join where torch or onnxruntime detects a GPU; an explicit
device list (``--devices``) is taken as given, and ``cpu`` alone never queries CUDA.
"""

from .devices import (
    cuda_available,
    ort_cuda_available,
    parse_devices,
    tf32_disabled,
    torch_threads,
)
from .names import Runtime
from .onnx_reference import ReferenceRunner
from .openvino_cpu import OpenVINORunner
from .program import ExportedProgramRunner, load_program
from .runners import (
    EagerRunner,
    OrtRunner,
    Runner,
    TorchScriptRunner,
    load_torchscript,
    open_ort_session,
)
from .select import backends_for, make_runner, parse_runtimes, require_devices, runners_for

__all__ = [
    "EagerRunner",
    "ExportedProgramRunner",
    "OpenVINORunner",
    "OrtRunner",
    "ReferenceRunner",
    "Runner",
    "Runtime",
    "TorchScriptRunner",
    "backends_for",
    "cuda_available",
    "load_program",
    "load_torchscript",
    "make_runner",
    "open_ort_session",
    "ort_cuda_available",
    "parse_devices",
    "parse_runtimes",
    "require_devices",
    "runners_for",
    "tf32_disabled",
    "torch_threads",
]
