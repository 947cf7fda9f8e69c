"""Which runners check an exported file: every backend that can run its format on the devices
asked for (by default the CPU, plus CUDA where torch or onnxruntime detects it), and for ONNX
files every runtime asked for (by default onnxruntime, plus onnx.reference for small inputs).

A CUDA runner is *guarded*: if it cannot be built or fails to run (libraries missing,
onnxruntime falling back to the CPU, a kernel error), it raises :class:`DeviceUnusableError`
naming the backend, and parity records a skip with that reason instead of failing the file,
whose CPU checks stand on their own. A runtime that is not installed is a skip naming it;
one that refuses the file is a runner whose every check fails with its reason (never a skip).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import (
    DeviceUnusableError,
    InputError,
    InvalidSpecError,
    MissingDependencyError,
    RuntimeFailedError,
)
from ..spec import Backend, Device, Format
from . import devices as dev
from .names import Runtime
from .program import ExportedProgramRunner
from .runners import EagerRunner, OrtRunner, Runner, TorchScriptRunner
from .validation import Expected

ONNX_CPU, ONNX_CUDA = Backend.ONNXRUNTIME.on(Device.CPU), Backend.ONNXRUNTIME.on(Device.CUDA)
TS_CPU, TS_CUDA = Backend.TORCHSCRIPT.on(Device.CPU), Backend.TORCHSCRIPT.on(Device.CUDA)
EAGER_CPU, EAGER_CUDA = Backend.EAGER.on(Device.CPU), Backend.EAGER.on(Device.CUDA)
CUDA_BACKENDS = (ONNX_CUDA, TS_CUDA, EAGER_CUDA)
PT2_CPU = ExportedProgramRunner.NAME  # torch.export programs are checked on the CPU only
REFERENCE_CPU, OPENVINO_CPU = Runtime.REFERENCE.runner, Runtime.OPENVINO.runner
#: ``--runtimes`` left out: onnxruntime, plus onnx.reference where the inputs are small
DEFAULT_RUNTIMES = (Runtime.ONNXRUNTIME, Runtime.REFERENCE)
Runtimes = str | Iterable[Runtime | str] | None


def parse_runtimes(value: Runtimes) -> tuple[Runtime, ...] | None:
    """``"onnxruntime,reference"`` or a list as a tuple of :class:`Runtime`; ``None`` stays
    ``None`` (the default: :data:`DEFAULT_RUNTIMES`, the reference for small inputs only)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items if str(v).strip()]
    if not names:
        raise InvalidSpecError("runtimes must name at least one of "
                               + ", ".join(r.value for r in Runtime))
    return tuple(dict.fromkeys(Runtime.parse(n, "runtime") for n in names))  # type: ignore[misc]


def backends_for(fmt: Format, devices: str | Iterable[Device | str] | None = None,
                 runtimes: Runtimes = None) -> list[str]:
    """Runner names for ``fmt`` on ``devices`` (and, for ONNX, ``runtimes``), CPU first.

    ``None``: the CPU, plus CUDA where it is detected. An explicit list is taken as asked:
    CUDA backends are listed even where CUDA looks absent (their runners then say why), and a
    list without ``cuda`` never queries CUDA at all. onnx.reference and OpenVINO run on the CPU
    only; ``runtimes`` does not apply to TorchScript and ``.pt2`` files.
    """
    wanted = dev.parse_devices(devices)
    cpu = wanted is None or Device.CPU in wanted
    if fmt is Format.ONNX:
        rts = parse_runtimes(runtimes) or DEFAULT_RUNTIMES
        out: list[str] = []
        if Runtime.ONNXRUNTIME in rts:
            cuda = (dev.ort_cuda_available() if wanted is None else Device.CUDA in wanted)
            out += [ONNX_CPU] * cpu + [ONNX_CUDA] * cuda
        return out + [r.runner for r in rts if r is not Runtime.ONNXRUNTIME and cpu]
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


def make_runner(backend: str, data: bytes, expected: Expected | None = None, *,
                requested: bool = True) -> Runner:
    """Runner for an exported file's bytes on ``backend`` (one of :func:`backends_for`).
    ``requested=False``: onnx.reference as the default adds it, bounded to small inputs."""
    if backend == REFERENCE_CPU:
        from .onnx_reference import DEFAULT_MAX_ELEMENTS, ReferenceRunner

        return ReferenceRunner(data, expected, requested=requested,
                               max_elements=None if requested else DEFAULT_MAX_ELEMENTS)
    if backend == OPENVINO_CPU:
        from .openvino_cpu import OpenVINORunner

        return OpenVINORunner(data, expected, requested=requested)
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


class _Refused:
    """Stands in for a runtime that refused the file: every check it is given fails (within
    the same size bound the runtime itself would have had)."""

    def __init__(self, error: RuntimeFailedError, max_elements: int | None = None) -> None:
        self.name, self.error, self.max_elements = error.backend, error, max_elements

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
                devices: str | Iterable[Device | str] | None = None,
                runtimes: Runtimes = None) -> list[Runner]:
    """Every runner that checks a ``fmt`` file on ``devices`` (and ``runtimes``); ``net``
    serves eager-on-CUDA.

    CPU runners raise as usual (a file that does not load is the file's problem); CUDA runners
    are guarded, and the other runtimes skip or fail (see the module docstring).
    """
    requested = devices is not None
    asked = parse_runtimes(runtimes) is not None
    out: list[Runner] = []
    for b in backends_for(fmt, devices, runtimes):
        if b in (REFERENCE_CPU, OPENVINO_CPU):
            runner = _runtime(b, data, expected, asked)
            out += [runner] if runner is not None else []
            continue
        if b == EAGER_CUDA:
            def build(net: Any = net) -> Runner:
                return EagerRunner(copy.deepcopy(net), Device.CUDA, expected)
        else:
            def build(b: str = b) -> Runner:
                return make_runner(b, data, expected)
        out.append(_guard(b, build, requested) if b in CUDA_BACKENDS else build())
    return out


def _runtime(backend: str, data: bytes, expected: Expected, requested: bool) -> Runner | None:
    """A runtime beside onnxruntime: not installed -> a skip when asked for (the default's
    onnx.reference on a host without onnx is simply not run); refusing the file -> failures."""
    try:
        return make_runner(backend, data, expected, requested=requested)
    except DeviceUnusableError as e:  # RuntimeMissingError: not installed here
        return _Unusable(e) if requested else None
    except RuntimeFailedError as e:
        from .onnx_reference import DEFAULT_MAX_ELEMENTS

        bounded = backend == REFERENCE_CPU and not requested
        return _Refused(e, DEFAULT_MAX_ELEMENTS if bounded else None)


__all__ = ["CUDA_BACKENDS", "DEFAULT_RUNTIMES", "EAGER_CPU", "EAGER_CUDA", "ONNX_CPU", "ONNX_CUDA",
           "OPENVINO_CPU", "PT2_CPU", "REFERENCE_CPU", "TS_CPU", "TS_CUDA", "Runtimes",
           "backends_for", "make_runner", "parse_runtimes", "require_devices", "runners_for"]
