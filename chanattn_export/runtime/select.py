"""Which runners check an exported file: every backend that can run its format on the devices
asked for (by default the CPU, plus CUDA where torch or onnxruntime detects it).

A CUDA runner is *guarded*: if it cannot be built or fails to run (libraries missing,
onnxruntime falling back to the CPU, a kernel error), it raises :class:`DeviceUnusableError`
naming the backend, and parity records a skip with that reason instead of failing the file,
whose CPU checks stand on their own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import DeviceUnusableError, InputError, MissingDependencyError
from ..spec import Backend, Device, Format
from . import devices as dev
from .program import ExportedProgramRunner
from .runners import EagerRunner, OrtRunner, Runner, TorchScriptRunner
from .validation import Expected

ONNX_CPU, ONNX_CUDA = Backend.ONNXRUNTIME.on(Device.CPU), Backend.ONNXRUNTIME.on(Device.CUDA)
TS_CPU, TS_CUDA = Backend.TORCHSCRIPT.on(Device.CPU), Backend.TORCHSCRIPT.on(Device.CUDA)
EAGER_CPU, EAGER_CUDA = Backend.EAGER.on(Device.CPU), Backend.EAGER.on(Device.CUDA)
CUDA_BACKENDS = (ONNX_CUDA, TS_CUDA, EAGER_CUDA)
PT2_CPU = ExportedProgramRunner.NAME  # torch.export programs are checked on the CPU only


def backends_for(fmt: Format, devices: str | Iterable[Device | str] | None = None) -> list[str]:
    """Runner names for ``fmt`` on ``devices``, CPU first.

    ``None``: the CPU, plus CUDA where it is detected. An explicit list is taken as asked:
    CUDA backends are listed even where CUDA looks absent (their runners then say why), and a
    list without ``cuda`` never queries CUDA at all.
    """
    wanted = dev.parse_devices(devices)
    cpu = wanted is None or Device.CPU in wanted
    if fmt is Format.ONNX:
        cuda = (dev.ort_cuda_available() if wanted is None else Device.CUDA in wanted)
        return [ONNX_CPU] * cpu + [ONNX_CUDA] * cuda
    if fmt is Format.PT2:
        return [PT2_CPU]
    cuda = dev.cuda_available() if wanted is None else Device.CUDA in wanted
    return [TS_CPU] * cpu + [TS_CUDA, EAGER_CUDA] * cuda


def require_devices(fmt: Format, devices: str | Iterable[Device | str] | None) -> None:
    """Fail before any work when an explicitly asked-for CUDA is absent for ``fmt``."""
    wanted = dev.parse_devices(devices)
    if wanted is None or Device.CUDA not in wanted:
        return
    if fmt is Format.ONNX and not dev.ort_cuda_available():
        raise MissingDependencyError(
            "--devices cuda: onnxruntime has no CUDAExecutionProvider here "
            "(install onnxruntime-gpu in place of onnxruntime)")
    if fmt is Format.TORCHSCRIPT and not dev.cuda_available():
        raise MissingDependencyError("--devices cuda: torch sees no CUDA GPU here")


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


class _Unusable:
    """Stands in for a CUDA runner that could not be built: running it says why."""

    def __init__(self, error: DeviceUnusableError) -> None:
        self.name, self.error = error.backend, error

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise self.error


class _Guarded:
    """A CUDA runner whose failures become :class:`DeviceUnusableError` naming the backend."""

    def __init__(self, runner: Runner, requested: bool) -> None:
        self.name, self.runner, self.requested = runner.name, runner, requested

    def infer(self, x: np.ndarray) -> np.ndarray:
        try:
            return self.runner.infer(x)
        except InputError:
            raise  # the tensor is wrong on every device: not a CUDA problem
        except Exception as e:
            raise DeviceUnusableError(self.name, _first_line(e), self.requested) from e


def _first_line(e: BaseException) -> str:
    from ..errors import first_line

    return first_line(e)


def _guard(backend: str, build: Callable[[], Runner], requested: bool) -> Runner:
    try:
        return _Guarded(build(), requested)
    except Exception as e:
        return _Unusable(DeviceUnusableError(backend, _first_line(e), requested))


def runners_for(fmt: Format, data: bytes, net: Any, expected: Expected,
                devices: str | Iterable[Device | str] | None = None) -> list[Runner]:
    """Every runner that checks a ``fmt`` file on ``devices``; ``net`` serves eager-on-CUDA.

    CPU runners raise as usual (a file that does not load is the file's problem); CUDA runners
    are guarded (see the module docstring).
    """
    requested = devices is not None
    out: list[Runner] = []
    for b in backends_for(fmt, devices):
        if b == EAGER_CUDA:
            def build(net: Any = net) -> Runner:
                return EagerRunner(copy.deepcopy(net), Device.CUDA, expected)
        else:
            def build(b: str = b) -> Runner:
                return make_runner(b, data, expected)
        out.append(_guard(b, build, requested) if b in CUDA_BACKENDS else build())
    return out


__all__ = ["CUDA_BACKENDS", "EAGER_CPU", "EAGER_CUDA", "ONNX_CPU", "ONNX_CUDA", "PT2_CPU", "TS_CPU",
           "TS_CUDA", "backends_for", "make_runner", "require_devices", "runners_for"]
