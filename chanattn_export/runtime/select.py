"""Which runners check an exported file: every backend that can run its format here."""

from __future__ import annotations

import copy
from typing import Any

from ..spec import Backend, Device, Format
from ..validation import Expected
from . import devices
from .program import ExportedProgramRunner
from .runners import EagerRunner, OrtRunner, Runner, TorchScriptRunner

ONNX_CPU, ONNX_CUDA = Backend.ONNXRUNTIME.on(Device.CPU), Backend.ONNXRUNTIME.on(Device.CUDA)
TS_CPU, TS_CUDA = Backend.TORCHSCRIPT.on(Device.CPU), Backend.TORCHSCRIPT.on(Device.CUDA)
EAGER_CPU, EAGER_CUDA = Backend.EAGER.on(Device.CPU), Backend.EAGER.on(Device.CUDA)
PT2_CPU = ExportedProgramRunner.NAME  # torch.export programs are checked on the CPU only


def backends_for(fmt: Format) -> list[str]:
    """Runner names that can run ``fmt`` on this machine, CPU first."""
    if fmt is Format.ONNX:
        return [ONNX_CPU] + ([ONNX_CUDA] if devices.ort_cuda_available() else [])
    if fmt is Format.PT2:
        return [PT2_CPU]
    return [TS_CPU] + ([TS_CUDA, EAGER_CUDA] if devices.cuda_available() else [])


def make_runner(backend: str, data: bytes, expected: Expected | None = None) -> Runner:
    """Runner for an exported file's bytes on ``backend`` (one of :func:`backends_for`)."""
    if backend in (ONNX_CPU, ONNX_CUDA):
        return OrtRunner(data, Device.CUDA if backend == ONNX_CUDA else Device.CPU,
                         expected=expected)
    if backend in (TS_CPU, TS_CUDA):
        return TorchScriptRunner(data, Device.CUDA if backend == TS_CUDA else Device.CPU,
                                 expected)
    if backend == PT2_CPU:
        return ExportedProgramRunner(data, expected)
    raise ValueError(f"backend {backend!r} does not run exported files")


def runners_for(fmt: Format, data: bytes, net: Any, expected: Expected) -> list[Runner]:
    """Every runner that checks a ``fmt`` file here; ``net`` serves the eager-on-CUDA check."""
    return [
        EagerRunner(copy.deepcopy(net), Device.CUDA, expected) if b == EAGER_CUDA
        else make_runner(b, data, expected)
        for b in backends_for(fmt)
    ]


__all__ = ["EAGER_CPU", "EAGER_CUDA", "ONNX_CPU", "ONNX_CUDA", "PT2_CPU", "TS_CPU", "TS_CUDA",
           "backends_for", "make_runner", "runners_for"]
