"""Runners: one ``infer(x: ndarray) -> ndarray`` interface over every backend.

Each runner is built from file bytes (or an eager module), so what is checked is exactly what
gets written. CUDA backends appear only where torch or onnxruntime can actually use a GPU.
"""

from .devices import cuda_available, ort_cuda_available, tf32_disabled, torch_threads
from .program import ExportedProgramRunner
from .runners import (
    EagerRunner,
    OrtRunner,
    Runner,
    TorchScriptRunner,
    load_torchscript,
    open_ort_session,
)
from .select import backends_for, make_runner, runners_for

__all__ = [
    "EagerRunner",
    "ExportedProgramRunner",
    "OrtRunner",
    "Runner",
    "TorchScriptRunner",
    "backends_for",
    "cuda_available",
    "load_torchscript",
    "make_runner",
    "open_ort_session",
    "ort_cuda_available",
    "runners_for",
    "tf32_disabled",
    "torch_threads",
]
